//! `keep_most_recent` over vc1 blocks: a row group returns the spans of its most recent
//! selected traces only (and counts the others) when it evaluates the conditions exactly,
//! and the search answer stays the exact one, also when a trace left out of one block is
//! part of an answer trace held from another block.

use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::{BlockReader, BlockWriter, BlockWriterConfig};
use contrail_storage::convert::Trace;
use contrail_traceql::InlineRunner;
use contrail_traceql::fetch::{FetchRequest, MemoryBudget, SpanSource};
use contrail_traceql::{SearchOptions, parse, plan_search, search};
use object_store::ObjectStore;
use object_store::memory::InMemory;

const T: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const ERROR: i32 = 2;
const OK: i32 = 1;

fn trace_id(byte: u8) -> [u8; 16] {
    [byte; 16]
}

/// A root span of trace `trace` starting at `T + start_ms`.
fn root(trace: [u8; 16], span: u8, start_ms: u64, status: i32) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![span; 8],
        name: format!("span {span}"),
        kind: 2,
        start_time_unix_nano: T + start_ms * MS,
        end_time_unix_nano: T + start_ms * MS + MS,
        status: Some(Status {
            code: status,
            message: String::new(),
        }),
        ..Span::default()
    }
}

fn trace(spans: Vec<Span>) -> Trace {
    let id = TraceId::from_bytes(&spans[0].trace_id).unwrap();
    Trace {
        trace_id: id,
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("checkout".to_owned())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// One block of `traces` (one row group), as one unit.
async fn block(store: &Arc<dyn ObjectStore>, mut traces: Vec<Trace>) -> Arc<BlockSpanSource> {
    traces.sort_by_key(|trace| trace.trace_id);
    let config = BlockWriterConfig::new(TenantId::new("recent").unwrap());
    let mut writer = BlockWriter::new(store.clone(), config).unwrap();
    for trace in traces {
        writer.push_trace(trace).await.unwrap();
    }
    let meta = writer.finish().await.unwrap().meta;
    let row_groups = meta.row_groups.len();
    let reader = Arc::new(BlockReader::open(store.clone(), meta).unwrap());
    Arc::new(BlockSpanSource::new(reader, 0..row_groups))
}

fn request(query: &str, limit: usize) -> FetchRequest {
    let options = SearchOptions {
        limit,
        ..SearchOptions::default()
    };
    plan_search(&parse(query).unwrap(), options)
        .unwrap()
        .fetch
        .unwrap()
}

async fn answer(sources: &[Arc<dyn SpanSource>], query: &str, limit: usize) -> Vec<String> {
    let options = SearchOptions {
        limit,
        ..SearchOptions::default()
    };
    let plan = Arc::new(plan_search(&parse(query).unwrap(), options).unwrap());
    let outcome = search(&plan, sources, &InlineRunner, &MemoryBudget::unlimited())
        .await
        .unwrap();
    outcome
        .response
        .traces
        .iter()
        .map(|trace| trace.trace_id.clone())
        .collect()
}

fn hex(byte: u8) -> String {
    TraceId::from_array(trace_id(byte)).to_hex_trimmed()
}

/// Traces 1..=5 with an error root starting 10, 50, 30, 50, 20 ms after T, trace 6 ok at 60.
fn five_errors() -> Vec<Trace> {
    let starts = [(1, 10), (2, 50), (3, 30), (4, 50), (5, 20)];
    let mut traces: Vec<Trace> = starts
        .iter()
        .map(|(id, start)| trace(vec![root(trace_id(*id), *id, *start, ERROR)]))
        .collect();
    traces.push(trace(vec![root(trace_id(6), 6, 60, OK)]));
    traces
}

#[tokio::test]
async fn a_row_group_returns_only_the_traces_that_can_rank() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let unit = block(&store, five_errors()).await;
    let budget = MemoryBudget::unlimited();
    let ids = |batches: &[contrail_traceql::fetch::SpanBatch]| -> Vec<u8> {
        batches
            .iter()
            .flat_map(|batch| batch.traces.iter().map(|info| info.trace_id.as_bytes()[0]))
            .collect()
    };

    // the planner asks for the 1 most recent; 2 and 4 tie at the greatest start: both stay
    let keep_one = request("{ status = error }", 1);
    assert_eq!(keep_one.keep_most_recent, Some(1));
    let output = unit.fetch(&keep_one, &budget).await.unwrap();
    assert_eq!(ids(&output.batches), vec![2, 4]);
    assert_eq!(output.batches[0].omitted_traces, 3);
    assert_eq!(output.batches[0].span_rows(), 2);

    let keep_three = request("{ status = error }", 3);
    let output = unit.fetch(&keep_three, &budget).await.unwrap();
    assert_eq!(ids(&output.batches), vec![2, 3, 4]);
    assert_eq!(output.batches[0].omitted_traces, 2);

    // without the hint every selected trace comes back
    let all = FetchRequest {
        keep_most_recent: None,
        ..keep_one.clone()
    };
    let output = unit.fetch(&all, &budget).await.unwrap();
    assert_eq!(ids(&output.batches), vec![1, 2, 3, 4, 5]);
    assert_eq!(output.batches[0].omitted_traces, 0);

    // a condition the block cannot decide exactly (a regex) returns every selected trace
    let regex = request("{ name =~ \"span.*\" }", 1);
    assert_eq!(regex.keep_most_recent, Some(1));
    let output = unit.fetch(&regex, &budget).await.unwrap();
    assert_eq!(ids(&output.batches), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(output.batches[0].omitted_traces, 0);

    // the answers: most recent first, ties by trace ID
    let sources: Vec<Arc<dyn SpanSource>> = vec![unit];
    assert_eq!(
        answer(&sources, "{ status = error }", 1).await,
        vec![hex(2)]
    );
    assert_eq!(
        answer(&sources, "{ status = error }", 3).await,
        vec![hex(2), hex(4), hex(3)]
    );
    assert_eq!(
        answer(&sources, "{ status = error && kind = server }", 10).await,
        vec![hex(2), hex(4), hex(3), hex(5), hex(1)]
    );
}

#[tokio::test]
async fn an_answer_trace_left_out_of_another_block_makes_the_search_exact() {
    // Trace 9 has a root in block A at +100ms and a second root (no orphans either) in block
    // B at +5ms; B also holds traces 1 (+90ms) and 2 (+80ms). With limit 2, B keeps 1 and 2
    // and leaves trace 9's portion out; trace 9 truly starts at +5ms, so the answer is 1, 2.
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let nine = trace_id(9);
    let a = block(&store, vec![trace(vec![root(nine, 1, 100, ERROR)])]).await;
    let b = block(
        &store,
        vec![
            trace(vec![root(trace_id(1), 2, 90, ERROR)]),
            trace(vec![root(trace_id(2), 3, 80, ERROR)]),
            trace(vec![root(nine, 4, 5, ERROR)]),
        ],
    )
    .await;
    let keep_two = request("{ status = error }", 2);
    let output = b
        .fetch(&keep_two, &MemoryBudget::unlimited())
        .await
        .unwrap();
    assert_eq!(output.batches[0].omitted_traces, 1);

    let sources: Vec<Arc<dyn SpanSource>> = vec![a.clone(), b.clone()];
    assert_eq!(
        answer(&sources, "{ status = error }", 2).await,
        vec![hex(1), hex(2)]
    );
    // in the other unit order too
    let sources: Vec<Arc<dyn SpanSource>> = vec![b, a];
    assert_eq!(
        answer(&sources, "{ status = error }", 2).await,
        vec![hex(1), hex(2)]
    );
    // with room for all three, trace 9 ranks last at its true start
    let sources: Vec<Arc<dyn SpanSource>> = sources.clone();
    assert_eq!(
        answer(&sources, "{ status = error }", 3).await,
        vec![hex(1), hex(2), hex(9)]
    );
}
