//! Reads of recent data: trace by ID across live traces, the head block and local complete
//! blocks, each span once; snapshots for search, newest first and filtered by time.

use std::time::Duration;

use bytes::Bytes;
use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::{PushBatch, TraceId, tempopb};
use prost::Message;

use super::support::{Fixture, block_count, corpus, eventually, span_ids, tenant};

/// A segment of `trace` holding only the spans at `positions` (in corpus order).
fn part(trace: &super::support::TestTrace, positions: std::ops::Range<usize>) -> TraceSegment {
    let mut decoded = tempopb::Trace::decode(trace.segment.trace.clone()).expect("decode");
    let mut index = 0usize;
    for resource in &mut decoded.resource_spans {
        for scope in &mut resource.scope_spans {
            scope.spans.retain(|_| {
                let keep = positions.contains(&index);
                index += 1;
                keep
            });
        }
    }
    TraceSegment::from_trace(trace.trace_id, &decoded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_by_id_merges_live_head_and_local_blocks_without_duplicate_spans() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let trace = corpus(10, 1)
        .into_iter()
        .find(|trace| trace.span_ids.len() >= 6)
        .unwrap_or_else(|| corpus(11, 1).remove(0));
    let spans = trace.span_ids.len();
    assert!(spans >= 6, "corpus trace with {spans} spans");
    let push = |segment: TraceSegment| PushBatch {
        segments: vec![segment],
        checked: true,
    };
    let ingester = &running.ingester;
    // Spans [0, 3) into a block on local disk (and the object store).
    ingester
        .push(&tenant(), push(part(&trace, 0..3)))
        .await
        .expect("push");
    ingester.request_flush();
    eventually("first block", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    // Spans [2, 5) into the head block: span 2 again, as a client retry would send it.
    ingester
        .push(&tenant(), push(part(&trace, 2..5)))
        .await
        .expect("push");
    fixture.clock.advance(Duration::from_secs(11));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Spans [4, all) live, span 4 again.
    ingester
        .push(&tenant(), push(part(&trace, 4..spans)))
        .await
        .expect("push");

    let found = ingester
        .find_trace_by_id(&tenant(), &trace.trace_id)
        .await
        .expect("find")
        .expect("held");
    let mut ids = span_ids(&found);
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no span twice");
    assert_eq!(ids, trace.span_ids.iter().copied().collect::<Vec<_>>());

    let absent = TraceId::from_array([7u8; 16]);
    assert!(
        ingester
            .find_trace_by_id(&tenant(), &absent)
            .await
            .expect("find")
            .is_none()
    );
    let other = contrail_proto::TenantId::new("other").expect("tenant");
    assert!(
        ingester
            .find_trace_by_id(&other, &trace.trace_id)
            .await
            .expect("find")
            .is_none()
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_snapshot_is_newest_first_filtered_by_time_and_decodes_on_demand() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let traces = corpus(12, 30);
    running
        .ingester
        .push(&tenant(), super::support::batch(&traces))
        .await
        .expect("push");
    let snapshot = running.ingester.recent(&tenant(), 0, 0);
    assert_eq!(snapshot.traces.len(), 30);
    assert!(snapshot.blocks.is_empty());
    assert!(
        snapshot
            .traces
            .windows(2)
            .all(|pair| pair[0].start_unix_nano >= pair[1].start_unix_nano),
        "newest first"
    );
    let newest = &snapshot.traces[0];
    let decoded = newest.decode().expect("decodes");
    assert_eq!(decoded.trace_id, newest.trace_id);
    assert_eq!(decoded.span_count() as u64, newest.span_count);
    // A window that ends before the newest trace starts leaves it out.
    let cut = newest.start_unix_nano - 1;
    let older = running.ingester.recent(&tenant(), 0, cut);
    assert!(
        older
            .traces
            .iter()
            .all(|trace| trace.start_unix_nano <= cut)
    );
    assert!(older.traces.len() < 30);

    running.ingester.request_flush();
    eventually("block", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    eventually("local complete block", || async {
        running.ingester.recent(&tenant(), 0, 0).blocks.len() == 1
    })
    .await;
    let after = running.ingester.recent(&tenant(), 0, 0);
    assert!(
        after.traces.is_empty(),
        "flushed traces are read from the local block"
    );
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_invalid_segments_are_dropped_at_flush_not_failing_the_block() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let traces = corpus(13, 5);
    let mut segments: Vec<TraceSegment> =
        traces.iter().map(|trace| trace.segment.clone()).collect();
    segments.push(TraceSegment {
        trace_id: Bytes::from(vec![9u8; 16]),
        trace: Bytes::from_static(b"\xff\xff\xff not protobuf"),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        span_count: 1,
    });
    running
        .ingester
        .push(
            &tenant(),
            PushBatch {
                segments,
                checked: false,
            },
        )
        .await
        .expect("push");
    let short_id = PushBatch {
        segments: vec![TraceSegment {
            trace_id: Bytes::from_static(b"short"),
            ..traces[0].segment.clone()
        }],
        checked: false,
    };
    let error = running
        .ingester
        .push(&tenant(), short_id)
        .await
        .expect_err("bad id");
    assert_eq!(error.code(), contrail_proto::ErrorCode::BadRequest);
    running.ingester.request_flush();
    eventually("block", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceql_search_over_recent_traces_finds_matching_traces() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let traces = corpus(17, 40);
    running
        .ingester
        .push(&tenant(), super::support::batch(&traces))
        .await
        .expect("push");
    let all = running
        .ingester
        .search_recent(
            &tenant(),
            &tempopb::SearchRequest {
                query: "{ }".to_owned(),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(all.traces.len(), 40);
    let errors = running
        .ingester
        .search_recent(
            &tenant(),
            &tempopb::SearchRequest {
                query: "{ status = error }".to_owned(),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    let expected_errors = traces
        .iter()
        .filter(|trace| {
            tempopb::Trace::decode(trace.segment.trace.clone())
                .expect("decode")
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .any(|span| span.status.as_ref().is_some_and(|status| status.code == 2))
        })
        .count();
    assert_eq!(errors.traces.len(), expected_errors);
    let none = running
        .ingester
        .search_recent(
            &tenant(),
            &tempopb::SearchRequest {
                query: "{ span.http.status_code = 418 }".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert!(none.traces.is_empty());
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_local_blocks_stay_readable_after_a_restart_and_unuploaded_ones_are_replayed() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let trace = corpus(3, 1).remove(0);
    running
        .ingester
        .push(
            &tenant(),
            PushBatch {
                segments: vec![trace.segment.clone()],
                checked: true,
            },
        )
        .await
        .expect("push");
    running.ingester.request_flush();
    eventually("block uploaded", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    running.stop().await.expect("stop");

    // A block cut but never uploaded (a crash between the two): only on local disk.
    let local = fixture.wal_dir.path().join("blocks");
    let orphan = local
        .join(tenant().as_str())
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&orphan).expect("orphan dir");
    let uploaded = std::fs::read_dir(local.join(tenant().as_str()))
        .expect("local tenant dir")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.join("meta.json").exists())
        .expect("the uploaded block is on local disk");
    for object in ["meta.json", "data.parquet", "bloom-0"] {
        std::fs::copy(uploaded.join(object), orphan.join(object)).expect("copy");
    }
    let meta = std::fs::read_to_string(orphan.join("meta.json")).expect("meta");
    let uploaded_id = uploaded
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let orphan_id = orphan
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    std::fs::write(
        orphan.join("meta.json"),
        meta.replace(&uploaded_id, &orphan_id),
    )
    .expect("rewrite meta");

    let running = fixture.start().await;
    let snapshot = running.ingester.recent(&tenant(), 0, u64::MAX);
    assert_eq!(snapshot.blocks.len(), 1, "the uploaded block only");
    assert_eq!(snapshot.blocks[0].meta().block_id.to_string(), uploaded_id);
    assert!(
        !orphan.exists(),
        "the block that was never uploaded is deleted"
    );
    let found = running
        .ingester
        .find_trace_by_id(&tenant(), &trace.trace_id)
        .await
        .expect("find")
        .expect("held");
    let mut ids = span_ids(&found);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, trace.span_ids.iter().copied().collect::<Vec<_>>());
    running.stop().await.expect("stop");
}
