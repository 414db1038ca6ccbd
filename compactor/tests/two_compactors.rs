//! Two compactors running at once on one S3 store, each believing it is the only member (the
//! worst disagreement of membership views): no block is compacted twice, every span is stored
//! once in the end.

mod common;
#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{
    TestCompactor, assert_exactly_once, list, real_now_unix_nanos, tenant, trace_spans, traces_at,
    write_block,
};
use contrail_proto::ManualClock;
use contrail_storage::block::Uuid;
use contrail_storage::build_object_store;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

const HOUR_NANOS: u64 = 3600 * 1_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_compactors_with_disagreeing_views_never_compact_a_block_twice() {
    let s3 = support::TestS3::start().await;
    let store: Arc<dyn ObjectStore> =
        build_object_store(&s3.config(), &prometheus::Registry::new()).expect("s3 store");
    let now = real_now_unix_nanos();
    // Four windows of four blocks each, the last two blocks of a window replicas of each other.
    let mut all = Vec::new();
    for window in 0..4u64 {
        let start = now - (10 - 2 * window) * HOUR_NANOS;
        for block in 0..3u64 {
            let traces = traces_at(100 + window * 10 + block, 15, start);
            write_block(&store, &tenant(), traces.clone()).await;
            if block == 2 {
                write_block(&store, &tenant(), traces.clone()).await;
            }
            all.extend(traces);
        }
    }
    let expected = trace_spans(&all);
    let clock = ManualClock::new(now);
    let mut first = TestCompactor::new("compactor-a");
    first.config.compaction.max_input_blocks = 2;
    let mut second = TestCompactor::new("compactor-b");
    second.config.compaction.max_input_blocks = 2;
    let first = first.build(store.clone(), &clock);
    let second = second.build(store.clone(), &clock);

    let mut statuses: HashMap<&'static str, usize> = HashMap::new();
    let mut jobs_done = [0usize; 2];
    for _round in 0..12 {
        let shutdown = CancellationToken::new();
        let (a, b) = tokio::join!(first.run_cycle(&shutdown), second.run_cycle(&shutdown));
        for (index, report) in [a, b].into_iter().enumerate() {
            for tenant_report in report.expect("cycle").tenants {
                jobs_done[index] += tenant_report.jobs.len();
                for failed in tenant_report.failed {
                    *statuses.entry(failed.status).or_default() += 1;
                }
            }
        }
        clock.advance(Duration::from_secs(1));
        let listed = list(&store, &tenant()).await;
        let planned = contrail_compactor::plan(
            &tenant(),
            &listed.live,
            &first_planner(),
            chrono::DateTime::from_timestamp_nanos(now as i64),
        );
        if planned.is_empty() {
            break;
        }
    }
    assert!(
        jobs_done.iter().sum::<usize>() >= 4,
        "jobs done: {jobs_done:?}"
    );
    // Both tried the same windows, so one of them met the other's lease or its finished work.
    let contended = statuses.get("lease_busy").copied().unwrap_or(0)
        + statuses.get("input_gone").copied().unwrap_or(0);
    assert!(contended > 0, "no contention seen: {statuses:?}");
    let unexpected: Vec<_> = statuses
        .keys()
        .filter(|status| !["lease_busy", "input_gone"].contains(status))
        .collect();
    assert!(unexpected.is_empty(), "unexpected failures: {statuses:?}");

    // No block is the input of two outputs.
    let listed = list(&store, &tenant()).await;
    let mut consumed: HashMap<Uuid, Uuid> = HashMap::new();
    let outputs = listed
        .live
        .iter()
        .chain(listed.compacted.iter().map(|compacted| &compacted.meta));
    for output in outputs {
        for input in &output.compacted_from {
            if let Some(previous) = consumed.insert(*input, output.block_id) {
                panic!(
                    "block {input} compacted into {previous} and {}",
                    output.block_id
                );
            }
        }
    }
    assert_exactly_once(&store, &listed.live, &expected, "after both").await;
}

fn first_planner() -> contrail_compactor::PlannerConfig {
    let mut config = common::test_config("compactor-a");
    config.compaction.max_input_blocks = 2;
    config.planner()
}
