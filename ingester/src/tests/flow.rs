//! The life of a trace: live → idle → head block → cut → block in the object store → WAL
//! segments deleted (only once `meta.json` is there); limits and memory back-pressure;
//! shutdown flushes everything.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ErrorCode;
use contrail_proto::internal::v1::PushErrorReason;
use contrail_storage::block::{BlockReader, list_blocks};

use super::support::{
    Fixture, GatedStore, batch, block_count, corpus, eventually, span_ids, tenant,
};
use crate::StaticLimits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_traces_are_cut_into_a_block_and_wal_segments_go_only_after_meta_json() {
    let mut fixture = Fixture::new();
    let gated = Arc::new(GatedStore {
        inner: fixture.store.clone(),
        refuse_meta: true.into(),
    });
    fixture.store = gated.clone();
    fixture.wal.segment_size = ByteSize::kib(64);
    let running = fixture.start().await;
    let traces = corpus(5, 200);
    for chunk in traces.chunks(25) {
        running
            .ingester
            .push(&tenant(), batch(chunk))
            .await
            .expect("push");
    }
    let segments_before = fixture.wal_segments();
    assert!(segments_before.len() > 2, "rotated: {segments_before:?}");

    // Not idle yet: nothing moves.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(block_count(&fixture.store, &tenant()).await, 0);
    // Idle: to the head block; the block is due after max_block_duration.
    fixture.clock.advance(Duration::from_secs(11));
    tokio::time::sleep(Duration::from_millis(100)).await;
    fixture.clock.advance(Duration::from_secs(61));
    eventually("a flush attempt that fails at meta.json", || async {
        running.ingester.metrics().flush_failures.get() >= 1
    })
    .await;
    assert_eq!(
        block_count(&fixture.store, &tenant()).await,
        0,
        "no meta.json, no block"
    );
    assert_eq!(
        fixture.wal_segments(),
        segments_before,
        "segments kept until meta.json exists"
    );

    gated.refuse_meta.store(false, Ordering::SeqCst);
    eventually("the block uploaded", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    eventually("old segments deleted", || async {
        fixture.wal_segments().len() == 1
    })
    .await;
    assert_eq!(
        fixture.wal_segments().last(),
        segments_before.last(),
        "only the active segment is left"
    );

    let blocks = list_blocks(fixture.store.clone(), &tenant())
        .await
        .expect("list");
    let meta = blocks.live[0].clone();
    let expected_spans: usize = traces.iter().map(|trace| trace.span_ids.len()).sum();
    assert_eq!(meta.total_spans as usize, expected_spans);
    assert_eq!(meta.total_objects as usize, traces.len());
    let reader = BlockReader::open(fixture.store.clone(), meta).expect("open");
    for trace in traces.iter().step_by(17) {
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .expect("read")
            .expect("in block");
        let mut ids = span_ids(&found);
        ids.sort_unstable();
        assert_eq!(ids, trace.span_ids.iter().copied().collect::<Vec<_>>());
    }
    assert_eq!(
        running
            .ingester
            .metrics()
            .blocks_flushed
            .with_label_values(&["acme"])
            .get(),
        1
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_block_past_max_block_bytes_is_cut_without_waiting() {
    let mut fixture = Fixture::new();
    fixture.config.max_block_bytes = ByteSize::mib(1);
    fixture.config.max_bytes_in_memory = ByteSize::mib(64);
    let running = fixture.start().await;
    let traces = corpus(6, 400);
    for chunk in traces.chunks(50) {
        running
            .ingester
            .push(&tenant(), batch(chunk))
            .await
            .expect("push");
    }
    let pushed: usize = traces.iter().map(|trace| trace.segment.trace.len()).sum();
    let full_blocks = pushed / (1024 * 1024);
    assert!(full_blocks >= 2, "{pushed} bytes pushed");
    // Every trace goes idle in the same sweep: it cuts a block each time the head passes
    // max_block_bytes, not one block of everything.
    fixture.clock.advance(Duration::from_secs(11));
    eventually("blocks cut by size", || async {
        block_count(&fixture.store, &tenant()).await >= full_blocks
    })
    .await;
    running.stop().await.expect("stop");
    let blocks = block_count(&fixture.store, &tenant()).await;
    assert!(
        (full_blocks..=full_blocks + 1).contains(&blocks),
        "{blocks} blocks for {pushed} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_trace_and_trace_size_limits_refuse_segments_by_reason() {
    let mut fixture = Fixture::new();
    let traces = corpus(7, 4);
    let largest = traces
        .iter()
        .map(|trace| trace.segment.trace.len())
        .max()
        .expect("traces");
    fixture.limits = Arc::new(StaticLimits {
        max_live_traces: 2,
        max_bytes_per_trace: largest + 1,
    });
    let running = fixture.start().await;
    let outcome = running
        .ingester
        .push(&tenant(), batch(&traces[..3]))
        .await
        .expect("push");
    assert_eq!(
        outcome.errors_by_segment,
        vec![
            PushErrorReason::Unspecified,
            PushErrorReason::Unspecified,
            PushErrorReason::MaxLiveTraces
        ]
    );
    // A live trace may grow, within max_bytes_per_trace.
    let again = running
        .ingester
        .push(&tenant(), batch(&traces[..1]))
        .await
        .expect("push");
    assert_eq!(
        again.errors_by_segment,
        vec![PushErrorReason::TraceTooLarge]
    );
    let refused = &running.ingester.metrics().segments_refused;
    assert_eq!(
        refused
            .with_label_values(&["acme", "max_live_traces"])
            .get(),
        1
    );
    assert_eq!(
        refused
            .with_label_values(&["acme", "trace_too_large"])
            .get(),
        1
    );
    assert!(
        running
            .ingester
            .find_trace_by_id(&tenant(), &traces[2].trace_id)
            .await
            .expect("find")
            .is_none(),
        "a refused segment is not held"
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_back_pressure_refuses_pushes_before_the_limit_is_passed() {
    let mut fixture = Fixture::new();
    fixture.config.max_block_bytes = ByteSize::mib(1);
    fixture.config.max_bytes_in_memory = ByteSize::mib(2);
    // Everything kept uncompressed too, so that the corpus fills the limit.
    fixture.config.max_uncompressed_bytes_in_memory = Some(ByteSize::mib(2));
    let running = fixture.start().await;
    let traces = corpus(8, 800);
    let mut refused = None;
    for chunk in traces.chunks(20) {
        if let Err(error) = running.ingester.push(&tenant(), batch(chunk)).await {
            refused = Some(error);
            break;
        }
        assert!(running.ingester.bytes_in_memory() <= 2 * 1024 * 1024);
    }
    let error = refused.expect("memory limit reached");
    assert_eq!(error.code(), ErrorCode::RateLimited, "{error}");
    assert_eq!(error.code().grpc_code(), tonic::Code::ResourceExhausted);
    let held = running.ingester.bytes_in_memory();
    assert!(held <= 2 * 1024 * 1024);
    let refusals = || {
        running
            .ingester
            .metrics()
            .pushes_refused
            .with_label_values(&["memory_limit"])
            .get()
    };
    assert_eq!(refusals(), 1);
    // The check the distributor makes before decoding a request is the push's own: the bytes
    // still free are taken, one byte more is refused (and counted), nothing is reserved.
    let free = 2 * 1024 * 1024 - held;
    assert!(running.ingester.memory_refusal(free).is_none());
    let early = running
        .ingester
        .memory_refusal(free + 1)
        .expect("one byte over the limit");
    assert_eq!(early.code(), ErrorCode::RateLimited, "{early}");
    assert_eq!(early.to_string(), error.to_string());
    assert_eq!(refusals(), 2);
    assert_eq!(running.ingester.bytes_in_memory(), held);
    // Once the data is flushed, pushes are taken again.
    running.ingester.request_flush();
    eventually("memory released by the flush", || async {
        running.ingester.bytes_in_memory() == 0
    })
    .await;
    running
        .ingester
        .push(&tenant(), batch(&traces[790..]))
        .await
        .expect("accepted again");
    assert!(running.ingester.memory_refusal(1).is_none());
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_pushes_and_flushes_everything() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let traces = corpus(9, 60);
    running
        .ingester
        .push(&tenant(), batch(&traces))
        .await
        .expect("push");
    let ingester = running.ingester.clone();
    running.stop().await.expect("clean stop");
    assert_eq!(
        block_count(&fixture.store, &tenant()).await,
        1,
        "live traces flushed"
    );
    let error = ingester
        .push(&tenant(), batch(&traces[..1]))
        .await
        .expect_err("stopped");
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(!ingester.is_ready());
    assert_eq!(
        fixture.wal_segments().len(),
        1,
        "only the last, empty-of-references segment"
    );
}
