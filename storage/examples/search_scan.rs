//! Measures the vc1 span source's first pass alone (no engine) over the blocks of a local
//! storage folder, for the W3 filter queries: spans scanned per second, spans returned, bytes
//! fetched and what the pruning did. One query at a time; the units (one row group each) run
//! `--concurrency` at a time on a decode pool of one slot per core.
//!
//! `cargo run --release -p contrail-storage --example search_scan -- DIR [--tenant T] [--runs N]`

use std::sync::Arc;
use std::time::Instant;

use contrail_proto::TenantId;
use contrail_storage::block::v1::search::{BlockSpanSource, block_units};
use contrail_storage::block::{BlockReader, list_blocks};
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Static, Status};
use contrail_traceql::fetch::{
    Combine, Condition, ConditionOp, FetchRequest, MemoryBudget, SpanSource,
};
use contrail_traceql::value::CompareOp;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

fn queries() -> Vec<(&'static str, Vec<Condition>)> {
    use AttributeScope::{Resource, Span};
    vec![
        (
            "Q1 { span.http.status_code = 418 }",
            vec![cmp(
                attr(Span, "http.status_code"),
                CompareOp::Eq,
                Static::Int(418),
            )],
        ),
        (
            "Q2 { span.http.status_code >= 500 }",
            vec![cmp(
                attr(Span, "http.status_code"),
                CompareOp::Ge,
                Static::Int(500),
            )],
        ),
        (
            "Q3 { resource.service.name = \"payment-service\" }",
            vec![cmp(
                attr(Resource, "service.name"),
                CompareOp::Eq,
                Static::String("payment-service".into()),
            )],
        ),
        (
            "Q4 { duration > 500ms && kind = server }",
            vec![
                cmp(
                    Attribute::Intrinsic(Intrinsic::Duration),
                    CompareOp::Gt,
                    Static::Duration(500_000_000),
                ),
                cmp(
                    Attribute::Intrinsic(Intrinsic::Kind),
                    CompareOp::Eq,
                    Static::Kind(SpanKind::Server),
                ),
            ],
        ),
        (
            "Q5 { status = error }",
            vec![cmp(
                Attribute::Intrinsic(Intrinsic::Status),
                CompareOp::Eq,
                Static::Status(Status::Error),
            )],
        ),
        (
            "Q6 { span.http.route =~ \"/api/v1/users/.*\" }",
            vec![Condition {
                attribute: attr(Span, "http.route"),
                op: Some(ConditionOp::Regex {
                    pattern: "/api/v1/users/.*".into(),
                    negated: false,
                }),
            }],
        ),
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: search_scan DIR [--tenant T] [--runs N]")?;
    let mut tenant = TenantId::SINGLE_TENANT.to_owned();
    let mut runs = 3usize;
    let mut concurrency = 4usize;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tenant" => tenant = value,
            "--runs" => runs = value.parse()?,
            "--concurrency" => concurrency = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir)?);
    let listing = list_blocks(store.clone(), &TenantId::new(tenant)?).await?;
    let mut units: Vec<BlockSpanSource> = Vec::new();
    let mut total_spans = 0u64;
    for meta in listing.live {
        total_spans += meta.total_spans;
        let reader = Arc::new(BlockReader::open(store.clone(), meta)?);
        units.extend(block_units(&reader, 1));
    }
    println!(
        "{} units, {total_spans} spans, {runs} runs, concurrency {concurrency}",
        units.len()
    );
    for (label, conditions) in queries() {
        let request = FetchRequest {
            conditions,
            combine: Combine::All,
            ..FetchRequest::all_spans(0, u64::MAX)
        };
        let mut best = f64::MAX;
        let mut returned = 0usize;
        let mut bytes = 0u64;
        for _ in 0..runs {
            let started = Instant::now();
            let outputs: Vec<_> = futures::stream::iter(units.iter().map(|unit| {
                let request = &request;
                async move { unit.fetch(request, &MemoryBudget::unlimited()).await }
            }))
            .buffer_unordered(concurrency)
            .collect()
            .await;
            let elapsed = started.elapsed().as_secs_f64();
            returned = 0;
            bytes = 0;
            for output in outputs {
                let output = output?;
                bytes += output.stats.inspected_bytes;
                returned += output.batches.iter().map(|b| b.span_rows()).sum::<usize>();
            }
            best = best.min(elapsed);
        }
        println!(
            "{label}: best {:.1} ms, {:.1}M spans/s, {returned} spans returned, {:.1} MB fetched",
            best * 1e3,
            total_spans as f64 / best / 1e6,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}
