//! Held pushes compressed as in the WAL (`packed`): memory counts the compressed records, and
//! every read (trace by ID, search), the flush and a replay give back every span.

use bytesize::ByteSize;
use contrail_proto::otlp::common::v1::any_value::Value;
use contrail_proto::tempopb;
use prost::Message;

use super::support::{
    Fixture, TestTrace, assert_every_span_found, block_count, corpus, eventually, push_in_batches,
    tenant,
};

/// Bytes of segments pushed.
fn raw_bytes(traces: &[TestTrace]) -> u64 {
    traces
        .iter()
        .map(|trace| trace.segment.trace.len() as u64)
        .sum()
}

/// A fixture that keeps nothing uncompressed: every read has to decompress.
fn compressed_only() -> Fixture {
    let mut fixture = Fixture::new();
    fixture.config.max_uncompressed_bytes_in_memory = Some(ByteSize::b(0));
    fixture
}

/// The first resource's `service.name`.
fn service_name(trace: &TestTrace) -> Option<String> {
    let decoded = tempopb::Trace::decode(trace.segment.trace.clone()).expect("decode");
    let resource = decoded.resource_spans.first()?.resource.clone()?;
    resource
        .attributes
        .into_iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value?.value? {
            Value::StringValue(name) => Some(name),
            _ => None,
        })
}

async fn search_count(ingester: &crate::Ingester, query: &str) -> usize {
    ingester
        .search_recent(
            &tenant(),
            &tempopb::SearchRequest {
                query: query.to_owned(),
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .expect("search")
        .traces
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_held_traces_are_read_searched_and_flushed_whole() {
    let fixture = compressed_only();
    let running = fixture.start().await;
    let traces = corpus(21, 300);
    push_in_batches(&running.ingester, &traces, 30).await;
    let held = running.ingester.bytes_in_memory();
    let pushed = raw_bytes(&traces);
    assert!(
        held > 0 && held * 3 < pushed,
        "held {held} bytes for {pushed} pushed: compressed records only"
    );
    assert_eq!(
        running.ingester.metrics().bytes_in_memory.get() as u64,
        held,
        "the gauge follows"
    );

    let sample: Vec<TestTrace> = traces.iter().step_by(7).cloned().collect();
    assert_every_span_found(&running.ingester, &sample).await;
    assert_eq!(search_count(&running.ingester, "{ }").await, traces.len());
    // A string equality goes through the needle check, which unpacks each trace.
    let name = service_name(&traces[5]).expect("service.name");
    let expected = traces
        .iter()
        .filter(|trace| service_name(trace).as_deref() == Some(name.as_str()))
        .count();
    assert!(expected > 0);
    assert_eq!(
        search_count(
            &running.ingester,
            &format!("{{ resource.service.name = \"{name}\" }}")
        )
        .await,
        expected
    );

    running.ingester.request_flush();
    eventually("the block uploaded", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    for trace in traces.iter().step_by(11) {
        let mut stored = fixture.stored_span_ids(&tenant(), &trace.trace_id).await;
        stored.sort_unstable();
        assert_eq!(stored, trace.span_ids.iter().copied().collect::<Vec<_>>());
    }
    eventually("memory released once the block is complete", || async {
        running.ingester.bytes_in_memory() == 0
    })
    .await;
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_records_are_held_compressed_and_every_span_is_found() {
    let mut fixture = compressed_only();
    fixture.config.flush_all_on_shutdown = false;
    let traces = corpus(22, 200);
    let running = fixture.start().await;
    push_in_batches(&running.ingester, &traces, 25).await;
    running.stop().await.expect("stop");
    assert_eq!(
        block_count(&fixture.store, &tenant()).await,
        0,
        "left in the wal"
    );

    let running = fixture.start().await;
    let held = running.ingester.bytes_in_memory();
    assert!(
        held > 0 && held * 3 < raw_bytes(&traces),
        "replay held {held} bytes"
    );
    assert_every_span_found(&running.ingester, &traces).await;
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_records_stay_uncompressed_within_the_budget() {
    let mut fixture = Fixture::new();
    let traces = corpus(23, 200);
    let pushed = raw_bytes(&traces);
    // Room for about half of the pushes uncompressed.
    fixture.config.max_uncompressed_bytes_in_memory = Some(ByteSize::b(pushed / 2));
    let running = fixture.start().await;
    push_in_batches(&running.ingester, &traces, 10).await;
    let held = running.ingester.bytes_in_memory();
    assert!(
        held > pushed / 3 && held < pushed,
        "held {held} of {pushed}: about half uncompressed plus every record compressed"
    );
    assert_eq!(search_count(&running.ingester, "{ }").await, traces.len());
    running.stop().await.expect("stop");
}
