//! The outside check: for simple filter queries, the spans the vc1 span source selects equal
//! the spans DuckDB (PyPI `duckdb`, installed by scripts/test.sh) selects with the same predicate
//! in SQL over the same data.parquet files. DuckDB reads the files with its own Parquet reader;
//! the SQL predicates read the columns directly (resource attributes through the dedicated
//! columns copied onto every span, span attributes through the dedicated column or the generic
//! list), so they share no code with the source.
//!
//! When python3 or duckdb is missing the test fails, saying so in one line.

mod block_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use block_common::{corpus_traces, small_config, write_block};
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::block_units;
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Static, Status};
use contrail_traceql::fetch::{
    Combine, Condition, ConditionOp, FetchRequest, MemoryBudget, SpanSource,
};
use contrail_traceql::value::CompareOp;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

const MS: i64 = 1_000_000;

fn attr(scope: AttributeScope, name: &str) -> Attribute {
    Attribute::Custom {
        scope,
        name: name.to_owned(),
    }
}

fn cmp(attribute: Attribute, op: CompareOp, value: Static) -> Condition {
    Condition {
        attribute,
        op: Some(ConditionOp::Compare { op, value }),
    }
}

/// A span attribute test in SQL: its dedicated column or any generic attribute with the key.
fn span_sql(column: &str, key: &str, dedicated: &str, generic: &str) -> String {
    format!(
        "(({column} {dedicated}) OR len(list_filter(attrs, lambda a: a.key = '{key}' AND ({generic}))) > 0)"
    )
}

/// The W3 filter queries and a few more, as (conditions, SQL predicate).
fn queries() -> Vec<(Vec<Condition>, String)> {
    use AttributeScope::{Resource, Span};
    vec![
        (
            vec![cmp(
                attr(Span, "http.status_code"),
                CompareOp::Eq,
                Static::Int(418),
            )],
            span_sql(
                "http_status_code",
                "http.status_code",
                "= 418",
                "a.int = 418 OR a.double = 418",
            ),
        ),
        (
            vec![cmp(
                attr(Span, "http.response.status_code"),
                CompareOp::Ge,
                Static::Int(500),
            )],
            span_sql(
                "http_response_status_code",
                "http.response.status_code",
                ">= 500",
                "a.int >= 500 OR a.double >= 500",
            ),
        ),
        (
            vec![cmp(
                attr(Resource, "service.name"),
                CompareOp::Eq,
                Static::String("payment-service".into()),
            )],
            "service_name = 'payment-service'".to_owned(),
        ),
        (
            vec![
                cmp(
                    Attribute::Intrinsic(Intrinsic::Duration),
                    CompareOp::Gt,
                    Static::Duration(500 * MS),
                ),
                cmp(
                    Attribute::Intrinsic(Intrinsic::Kind),
                    CompareOp::Eq,
                    Static::Kind(SpanKind::Server),
                ),
            ],
            "duration_nano > 500000000 AND kind = 2".to_owned(),
        ),
        (
            vec![cmp(
                Attribute::Intrinsic(Intrinsic::Status),
                CompareOp::Eq,
                Static::Status(Status::Error),
            )],
            "status_code = 2".to_owned(),
        ),
        (
            vec![Condition {
                attribute: attr(Span, "http.route"),
                op: Some(ConditionOp::Regex {
                    pattern: "/api/v1/users/.*".to_owned(),
                    negated: false,
                }),
            }],
            span_sql(
                "http_route",
                "http.route",
                "IS NOT NULL AND regexp_full_match(http_route, '/api/v1/users/.*')",
                "regexp_full_match(a.str, '/api/v1/users/.*')",
            ),
        ),
        (
            vec![
                cmp(
                    attr(Span, "db.system"),
                    CompareOp::Eq,
                    Static::String("postgresql".into()),
                ),
                cmp(
                    Attribute::Intrinsic(Intrinsic::Duration),
                    CompareOp::Gt,
                    Static::Duration(100 * MS),
                ),
            ],
            format!(
                "{} AND duration_nano > 100000000",
                span_sql(
                    "db_system",
                    "db.system",
                    "= 'postgresql'",
                    "a.str = 'postgresql'"
                )
            ),
        ),
        (
            vec![cmp(
                Attribute::Intrinsic(Intrinsic::Name),
                CompareOp::Eq,
                Static::String("GET /api/v1/search".into()),
            )],
            "name = 'GET /api/v1/search'".to_owned(),
        ),
    ]
}

fn duckdb_span_ids(predicate: &str, files: &[PathBuf]) -> BTreeSet<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb/span_ids.py");
    let output = match Command::new("python3")
        .arg(&script)
        .arg(predicate)
        .args(files)
        .output()
    {
        Ok(output) => output,
        Err(error) => panic!(
            "python3 cannot run ({error}); scripts/test.sh needs python3 and installs duckdb"
        ),
    };
    assert!(
        output.status.success(),
        "duckdb check failed: {}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap_or("no output")
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn matched_span_ids_equal_duckdb_over_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let mut files = Vec::new();
    let mut units = Vec::new();
    // two blocks, many row groups each
    for seed in [31, 32] {
        let written = write_block(store.clone(), small_config(), corpus_traces(seed, 200)).await;
        let meta = written.meta;
        files.push(
            dir.path()
                .join(meta.tenant_id.as_str())
                .join(meta.block_id.to_string())
                .join("data.parquet"),
        );
        let reader = Arc::new(BlockReader::open(store.clone(), meta).unwrap());
        units.extend(block_units(&reader, 4));
    }
    let mut nonempty = 0;
    for (conditions, predicate) in queries() {
        let request = FetchRequest {
            conditions: conditions.clone(),
            combine: Combine::All,
            ..FetchRequest::all_spans(0, u64::MAX)
        };
        let mut ours = BTreeSet::new();
        for unit in &units {
            let output = unit
                .fetch(&request, &MemoryBudget::unlimited())
                .await
                .unwrap();
            for batch in output.batches {
                ours.extend(
                    batch
                        .spans
                        .span_id
                        .iter()
                        .map(|id| hex::encode(id.as_bytes())),
                );
            }
        }
        let theirs = duckdb_span_ids(&predicate, &files);
        assert_eq!(ours.len(), theirs.len(), "{predicate}");
        assert_eq!(ours, theirs, "{predicate}");
        nonempty += usize::from(!theirs.is_empty());
    }
    assert!(nonempty >= 6, "only {nonempty} queries matched anything");
}
