//! The vc1 span source on a block of the realistic corpus with small row groups and pages:
//! - results equal a reference evaluation over the OTLP the block was written from (the
//!   engine's value rules applied span by span), for the W3 filter queries and more;
//! - pruning does what it claims: statistics rule out all-null chunks without decoding,
//!   dictionaries rule out chunks whose values miss the literal, the page index leaves pages
//!   unread; counted with the source's scan statistics;
//! - the golden block answers searches too.

mod block_common;

use std::collections::BTreeSet;
use std::sync::Arc;

use block_common::{corpus_traces, small_config, write_block};
use contrail_proto::otlp::trace::v1::Span;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::{BlockSpanSource, ScanStats, block_units};
use contrail_storage::convert::Trace;
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Static, Status};
use contrail_traceql::fetch::{
    Combine, Condition, ConditionOp, FetchRequest, MemoryBudget, SpanSource,
};
use contrail_traceql::memory::otlp::lookup as attribute_value;
use contrail_traceql::value::{CompareOp, Value, compare, compile_regex, matches_regex};
use object_store::ObjectStore;
use object_store::memory::InMemory;

const MS: i64 = 1_000_000;

fn span_attr(name: &str) -> Attribute {
    Attribute::Custom {
        scope: AttributeScope::Span,
        name: name.to_owned(),
    }
}

fn resource_attr(name: &str) -> Attribute {
    Attribute::Custom {
        scope: AttributeScope::Resource,
        name: name.to_owned(),
    }
}

fn cmp(attribute: Attribute, op: CompareOp, value: Static) -> Condition {
    Condition {
        attribute,
        op: Some(ConditionOp::Compare { op, value }),
    }
}

fn regex(attribute: Attribute, pattern: &str) -> Condition {
    Condition {
        attribute,
        op: Some(ConditionOp::Regex {
            pattern: pattern.to_owned(),
            negated: false,
        }),
    }
}

/// The value the engine sees for `attribute` on `span` (the attributes used here only).
fn reference_value(
    resource: &ResourceSpans,
    _scope: &ScopeSpans,
    span: &Span,
    attribute: &Attribute,
) -> Value {
    match attribute {
        Attribute::Intrinsic(Intrinsic::Duration) => Value::Duration(
            span.end_time_unix_nano
                .wrapping_sub(span.start_time_unix_nano) as i64,
        ),
        Attribute::Intrinsic(Intrinsic::Name) => Value::string(&span.name),
        Attribute::Intrinsic(Intrinsic::Kind) => Value::Kind(match span.kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }),
        Attribute::Intrinsic(Intrinsic::Status) => {
            Value::Status(match span.status.as_ref().map(|s| s.code) {
                Some(1) => Status::Ok,
                Some(2) => Status::Error,
                _ => Status::Unset,
            })
        }
        Attribute::Custom {
            scope: AttributeScope::Span,
            name,
        } => attribute_value(&span.attributes, name),
        Attribute::Custom {
            scope: AttributeScope::Resource,
            name,
        } => attribute_value(
            resource
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default(),
            name,
        ),
        other => panic!("reference does not evaluate {other:?}"),
    }
}

fn reference_holds(condition: &Condition, value: &Value) -> bool {
    match condition.op.as_ref().unwrap() {
        ConditionOp::Compare { op, value: literal } => {
            compare(*op, value, &Value::from_static(literal)).unwrap()
        }
        ConditionOp::Regex { pattern, negated } => {
            matches_regex(value, &compile_regex(pattern).unwrap(), *negated)
        }
        ConditionOp::Exists => !value.is_nil(),
        ConditionOp::Missing => value.is_nil(),
    }
}

/// Span IDs the engine would select with `Combine::All`.
fn reference(traces: &[Trace], conditions: &[Condition]) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    for trace in traces {
        for resource in &trace.resource_spans {
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    if conditions.iter().all(|condition| {
                        reference_holds(
                            condition,
                            &reference_value(resource, scope, span, &condition.attribute),
                        )
                    }) {
                        out.insert(span.span_id.clone());
                    }
                }
            }
        }
    }
    out
}

struct Corpus {
    traces: Vec<Trace>,
    units: Vec<BlockSpanSource>,
    row_groups: usize,
}

async fn corpus() -> Corpus {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let traces = corpus_traces(5, 400);
    let written = write_block(store.clone(), small_config(), traces.clone()).await;
    let row_groups = written.meta.row_groups.len();
    assert!(row_groups >= 8, "{row_groups} row groups");
    let reader = Arc::new(BlockReader::open(store, written.meta).unwrap());
    Corpus {
        traces,
        units: block_units(&reader, 3),
        row_groups,
    }
}

async fn run(
    units: &[BlockSpanSource],
    conditions: &[Condition],
) -> (BTreeSet<Vec<u8>>, ScanStats) {
    let request = FetchRequest {
        conditions: conditions.to_vec(),
        combine: Combine::All,
        ..FetchRequest::all_spans(0, u64::MAX)
    };
    let mut found = BTreeSet::new();
    let before: Vec<ScanStats> = units.iter().map(BlockSpanSource::scan_stats).collect();
    for unit in units {
        let output = unit
            .fetch(&request, &MemoryBudget::unlimited())
            .await
            .unwrap();
        for batch in output.batches {
            found.extend(batch.spans.span_id.iter().map(|id| id.as_bytes().to_vec()));
        }
    }
    let mut stats = ScanStats::default();
    for (unit, before) in units.iter().zip(before) {
        let after = unit.scan_stats();
        stats.row_groups += after.row_groups - before.row_groups;
        stats.row_groups_pruned_by_stats +=
            after.row_groups_pruned_by_stats - before.row_groups_pruned_by_stats;
        stats.row_groups_pruned_by_dictionary +=
            after.row_groups_pruned_by_dictionary - before.row_groups_pruned_by_dictionary;
        stats.row_groups_pruned_by_page_index +=
            after.row_groups_pruned_by_page_index - before.row_groups_pruned_by_page_index;
        stats.dictionaries_read += after.dictionaries_read - before.dictionaries_read;
        stats.rows_decoded += after.rows_decoded - before.rows_decoded;
        stats.rows_returned += after.rows_returned - before.rows_returned;
        stats.bytes_fetched += after.bytes_fetched - before.bytes_fetched;
    }
    (found, stats)
}

#[tokio::test]
async fn filter_queries_select_exactly_what_the_engine_would() {
    let corpus = corpus().await;
    let queries: Vec<Vec<Condition>> = vec![
        vec![cmp(
            span_attr("http.status_code"),
            CompareOp::Eq,
            Static::Int(418),
        )],
        vec![cmp(
            span_attr("http.response.status_code"),
            CompareOp::Ge,
            Static::Int(500),
        )],
        vec![cmp(
            resource_attr("service.name"),
            CompareOp::Eq,
            Static::String("payment-service".into()),
        )],
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
        vec![cmp(
            Attribute::Intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Static::Status(Status::Error),
        )],
        vec![regex(span_attr("http.route"), "/api/v1/users/.*")],
        vec![
            cmp(
                span_attr("db.system"),
                CompareOp::Eq,
                Static::String("postgresql".into()),
            ),
            cmp(
                Attribute::Intrinsic(Intrinsic::Duration),
                CompareOp::Gt,
                Static::Duration(100 * MS),
            ),
        ],
        vec![cmp(
            span_attr("server.port"),
            CompareOp::Eq,
            Static::Float(8080.0),
        )],
        vec![cmp(
            span_attr("http.request.body.size"),
            CompareOp::Lt,
            Static::Int(100),
        )],
        vec![regex(Attribute::Intrinsic(Intrinsic::Name), "GET .*")],
    ];
    let mut nonempty = 0;
    for conditions in &queries {
        let (found, _) = run(&corpus.units, conditions).await;
        let want = reference(&corpus.traces, conditions);
        assert_eq!(found.len(), want.len(), "{conditions:?}");
        assert_eq!(found, want, "{conditions:?}");
        nonempty += usize::from(!want.is_empty());
    }
    assert!(
        nonempty >= 7,
        "the queries must select something: {nonempty}"
    );
}

#[tokio::test]
async fn statistics_rule_out_all_null_chunks_without_decoding() {
    let corpus = corpus().await;
    // the corpus has no `http.status_code` (it uses http.response.status_code): the dedicated
    // column is all null in every row group, and no generic attribute has the key
    let (found, stats) = run(
        &corpus.units,
        &[cmp(
            span_attr("http.status_code"),
            CompareOp::Eq,
            Static::Int(418),
        )],
    )
    .await;
    assert!(found.is_empty());
    assert_eq!(stats.row_groups, corpus.row_groups as u64);
    assert_eq!(
        stats.row_groups_pruned_by_stats + stats.row_groups_pruned_by_dictionary,
        corpus.row_groups as u64,
        "{stats:?}"
    );
    assert_eq!(stats.rows_decoded, 0, "{stats:?}");
}

#[tokio::test]
async fn dictionaries_rule_out_chunks_whose_values_miss_the_literal() {
    let corpus = corpus().await;
    // between the smallest and the largest route, so min/max cannot rule it out
    let (found, stats) = run(
        &corpus.units,
        &[cmp(
            span_attr("http.route"),
            CompareOp::Eq,
            Static::String("/api/v1/carts".into()),
        )],
    )
    .await;
    assert!(found.is_empty());
    assert!(stats.dictionaries_read > 0, "{stats:?}");
    assert_eq!(
        stats.row_groups_pruned_by_dictionary, corpus.row_groups as u64,
        "{stats:?}"
    );
    assert_eq!(stats.rows_decoded, 0, "{stats:?}");

    // resource conditions become resource_ref sets, checked against each chunk's dictionary
    let (found, stats) = run(
        &corpus.units,
        &[cmp(
            resource_attr("service.name"),
            CompareOp::Eq,
            Static::String("no-such-service".into()),
        )],
    )
    .await;
    assert!(found.is_empty());
    assert_eq!(
        stats.row_groups_pruned_by_stats + stats.row_groups_pruned_by_dictionary,
        corpus.row_groups as u64
    );
    assert_eq!(stats.rows_decoded, 0);
}

#[tokio::test]
async fn the_page_index_leaves_pages_of_non_matching_rows_unread() {
    let corpus = corpus().await;
    let total: u64 = corpus.traces.iter().map(|t| t.span_count() as u64).sum();
    let long = [cmp(
        Attribute::Intrinsic(Intrinsic::Duration),
        CompareOp::Gt,
        Static::Duration(900 * MS),
    )];
    let (found, stats) = run(&corpus.units, &long).await;
    assert_eq!(found, reference(&corpus.traces, &long));
    assert!(
        stats.rows_decoded < total / 2,
        "decoded {} of {total} rows: {stats:?}",
        stats.rows_decoded
    );
    // the second pass columns are read for the matched rows only
    assert_eq!(stats.rows_returned, found.len() as u64);

    let everything = [cmp(
        Attribute::Intrinsic(Intrinsic::Duration),
        CompareOp::Ge,
        Static::Duration(0),
    )];
    let (found, stats) = run(&corpus.units, &everything).await;
    assert_eq!(found.len() as u64, total);
    assert_eq!(stats.rows_decoded, total);
}

#[tokio::test]
async fn the_golden_block_answers_searches() {
    let store: Arc<dyn ObjectStore> = Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        )
        .unwrap(),
    );
    let tenant = contrail_proto::TenantId::new("golden").unwrap();
    let listing = contrail_storage::block::list_blocks(store.clone(), &tenant)
        .await
        .unwrap();
    let reader = Arc::new(BlockReader::open(store, listing.live[0].clone()).unwrap());
    let units = block_units(&reader, 1);
    let compressed = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/traces.pb.zst"),
    )
    .unwrap();
    let raw = zstd::bulk::decompress(&compressed, 64 << 20).unwrap();
    let data =
        <contrail_proto::otlp::trace::v1::TracesData as prost::Message>::decode(raw.as_slice())
            .unwrap();
    let traces: Vec<Trace> = contrail_storage::convert::split_by_trace(data.resource_spans)
        .unwrap()
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect();
    for conditions in [
        vec![cmp(
            Attribute::Intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Static::Status(Status::Error),
        )],
        vec![cmp(
            resource_attr("service.name"),
            CompareOp::Eq,
            Static::String("cart-service".into()),
        )],
        vec![cmp(
            Attribute::Intrinsic(Intrinsic::Duration),
            CompareOp::Gt,
            Static::Duration(50 * MS),
        )],
    ] {
        let (found, _) = run(&units, &conditions).await;
        assert_eq!(found, reference(&traces, &conditions), "{conditions:?}");
    }
}
