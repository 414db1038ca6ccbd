//! Whole cycles: RF3 copies merged to one stored copy per span, windows kept apart, levels,
//! metrics, the tenant index, the service loop and its shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    TestCompactor, assert_exactly_once, list, memory, real_now_unix_nanos, tenant, trace_spans,
    traces_at, write_block,
};
use contrail_compactor::StaticOverrides;
use contrail_proto::{Clock, ManualClock};
use contrail_storage::block::read_tenant_index;
use tokio_util::sync::CancellationToken;

const HOUR_NANOS: u64 = 3600 * 1_000_000_000;

fn metric(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .filter(|metric| {
            labels.iter().all(|(key, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == *key && label.value() == *value)
            })
        })
        .map(|metric| metric.get_counter().get_value() + metric.get_gauge().get_value())
        .sum()
}

#[tokio::test]
async fn rf3_replicas_in_two_windows_become_one_block_per_window() {
    let store = memory();
    let now = real_now_unix_nanos();
    let mut expected = Vec::new();
    let mut stored_spans = 0u64;
    for window in 0..2u64 {
        let traces = traces_at(60 + window, 50, now - (5 - 2 * window) * HOUR_NANOS);
        for _replica in 0..3 {
            stored_spans += write_block(&store, &tenant(), traces.clone())
                .await
                .total_spans;
        }
        expected.extend(traces);
    }
    let unique = trace_spans(&expected).len() as u64;
    assert_eq!(stored_spans, 3 * unique);
    let clock = ManualClock::new(now);
    let builder = TestCompactor::new("c1");
    let compactor = builder.build(store.clone(), &clock);
    let report = compactor
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    let tenant_report = &report.tenants[0];
    assert_eq!(tenant_report.jobs.len(), 2, "{tenant_report:?}");
    assert!(tenant_report.failed.is_empty());
    assert_eq!(tenant_report.outstanding_blocks, 0);
    let listed = list(&store, &tenant()).await;
    assert_eq!(listed.live.len(), 2, "one block per window");
    assert_eq!(listed.compacted.len(), 6);
    assert!(listed.live.iter().all(|meta| meta.compaction_level == 1));
    let after: u64 = listed.live.iter().map(|meta| meta.total_spans).sum();
    assert_eq!(after, unique, "effective replication 1.0");
    assert_exactly_once(&store, &listed.live, &trace_spans(&expected), "after").await;

    let registry = &builder.registry;
    assert_eq!(
        metric(
            registry,
            "contrail_compactor_jobs_total",
            &[("status", "ok")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            registry,
            "contrail_compactor_duplicate_spans_total",
            &[("tenant", "tenant-a")]
        ),
        (2 * unique) as f64
    );
    assert_eq!(
        metric(
            registry,
            "contrail_compactor_merged_spans_total",
            &[("tenant", "tenant-a")]
        ),
        (3 * unique) as f64
    );
    assert!(metric(registry, "contrail_compactor_merged_bytes_total", &[]) > 0.0);
    assert_eq!(
        metric(
            registry,
            "contrail_compactor_outstanding_blocks",
            &[("tenant", "tenant-a")]
        ),
        0.0
    );
    assert_eq!(
        metric(
            registry,
            "contrail_compactor_tenant_index_writes_total",
            &[("status", "ok")]
        ),
        1.0
    );
    let index = read_tenant_index(store.as_ref(), &tenant())
        .await
        .expect("read")
        .expect("written");
    assert_eq!(index.meta, listed.live);
    assert_eq!(index.compacted.len(), 6);

    // The next cycle has nothing to do (one block per window).
    let report = compactor
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].planned_jobs, 0);
}

/// A clock that moves one second forward every time it is read.
#[derive(Debug)]
struct SteppingClock(ManualClock);

impl Clock for SteppingClock {
    fn now_unix_nanos(&self) -> u64 {
        self.0.advance(Duration::from_secs(1));
        self.0.now_unix_nanos()
    }
}

#[tokio::test]
async fn outstanding_blocks_count_what_the_time_budget_left_undone() {
    let store = memory();
    let now = real_now_unix_nanos();
    for window in 0..3u64 {
        for block in 0..2u64 {
            let traces = traces_at(
                70 + window * 2 + block,
                5,
                now - (8 - 2 * window) * HOUR_NANOS,
            );
            write_block(&store, &tenant(), traces).await;
        }
    }
    let mut builder = TestCompactor::new("c1");
    // A job reads the clock several times, so after the first job the budget is spent.
    builder.config.compaction.max_time_per_tenant = Duration::from_secs(3);
    let compactor = builder.build_with(
        store.clone(),
        Arc::new(SteppingClock(ManualClock::new(now))),
    );
    let report = compactor
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].planned_jobs, 3);
    assert_eq!(report.tenants[0].jobs.len(), 1, "{:?}", report.tenants[0]);
    assert_eq!(report.tenants[0].outstanding_blocks, 4);
    assert_eq!(
        metric(
            &builder.registry,
            "contrail_compactor_outstanding_blocks",
            &[("tenant", "tenant-a")]
        ),
        4.0
    );
    // The next cycle goes on where this one stopped.
    let report = compactor
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].jobs.len(), 1);
    assert_eq!(report.tenants[0].outstanding_blocks, 2);
}

#[tokio::test]
async fn a_tenant_with_compaction_disabled_keeps_its_blocks() {
    let store = memory();
    let now = real_now_unix_nanos();
    let traces = traces_at(80, 10, now - HOUR_NANOS);
    write_block(&store, &tenant(), traces.clone()).await;
    write_block(&store, &tenant(), traces).await;
    let clock = ManualClock::new(now);
    let mut builder = TestCompactor::new("c1");
    builder.overrides = Arc::new(StaticOverrides {
        compaction_disabled: vec![tenant()],
        ..StaticOverrides::default()
    });
    let report = builder
        .build(store.clone(), &clock)
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].planned_jobs, 0);
    assert!(report.tenants[0].index_written);
    assert_eq!(list(&store, &tenant()).await.live.len(), 2);
}

#[tokio::test]
async fn run_compacts_until_shutdown_and_a_disabled_compactor_does_nothing() {
    let store = memory();
    let now = real_now_unix_nanos();
    let traces = traces_at(81, 10, now - HOUR_NANOS);
    write_block(&store, &tenant(), traces.clone()).await;
    write_block(&store, &tenant(), traces).await;
    let clock = ManualClock::new(now);

    let mut disabled = TestCompactor::new("off");
    disabled.config.disabled = true;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(disabled.build(store.clone(), &clock).run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.expect("joins").expect("runs");
    assert_eq!(list(&store, &tenant()).await.live.len(), 2);

    let mut enabled = TestCompactor::new("on");
    enabled.config.compaction.compaction_cycle = Duration::from_millis(50);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(enabled.build(store.clone(), &clock).run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while list(&store, &tenant()).await.live.len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "no compaction");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.expect("joins").expect("runs");
}

#[tokio::test]
async fn building_twice_needs_two_registries() {
    let clock = ManualClock::new(real_now_unix_nanos());
    let builder = TestCompactor::new("c1");
    builder.build(memory(), &clock);
    let second = contrail_compactor::Compactor::new(contrail_compactor::CompactorArgs {
        config: builder.config.clone(),
        block: common::test_block_config(),
        store: memory(),
        members: Arc::new(contrail_compactor::StaticMembers::new("c1", Vec::new())),
        overrides: Arc::new(contrail_compactor::NoOverrides),
        clock: Arc::new(clock.clone()),
        registry: &builder.registry,
    });
    let error = second.expect_err("same registry twice");
    assert!(error.to_string().contains("metrics"), "{error}");
    // A fresh registry works.
    TestCompactor::new("c2").build(memory(), &clock);
}
