//! Object-store errors in the middle of jobs (the faulty S3 server of the storage tests, with
//! retries off so every injected fault reaches the compactor): each failing job ends cleanly,
//! readers never see a partial block or a span twice, and retried cycles finish the work.

mod common;
#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use common::{
    TestCompactor, assert_before_or_after, assert_exactly_once, block_spans, list,
    real_now_unix_nanos, span_counts, tenant, trace_spans, traces_at, write_block,
};
use contrail_proto::ManualClock;
use contrail_storage::build_object_store;
use object_store::{ObjectStore, ObjectStoreExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

const HOUR_NANOS: u64 = 3600 * 1_000_000_000;
/// Every 50th request fails (requests 49, 99, 149, ... counting from 0).
const FAULT_EVERY: u64 = 50;

/// Sends harmless requests until the next fault is `position` requests away.
async fn shift_faults(s3: &support::TestS3, setup: &Arc<dyn ObjectStore>, position: u64) {
    let requests = s3.requests();
    let next_fault = (requests / FAULT_EVERY + 1) * FAULT_EVERY - 1;
    let mut target = next_fault.saturating_sub(position);
    if target < requests {
        target += FAULT_EVERY;
    }
    let probe = object_store::path::Path::from("fault-phase");
    while s3.requests() < target {
        // Not found, or retried by the setup store when it is itself the faulty one.
        let _ = setup.head(&probe).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_end_jobs_cleanly_and_retries_finish_the_work() {
    let plan = support::FaultPlan {
        error_fraction: 1.0 / FAULT_EVERY as f64,
        ..support::FaultPlan::default()
    };
    let s3 = support::TestS3::start_faulty(plan).await;
    let mut config = s3.config();
    config.requests.max_attempts = 1;
    config.requests.http_max_retries = 0;
    let store: Arc<dyn ObjectStore> =
        build_object_store(&config, &prometheus::Registry::new()).expect("s3 store");
    // The blocks are written through a store that retries, so the setup itself is reliable.
    let mut setup_config = s3.config();
    setup_config.requests.max_attempts = 10;
    let setup: Arc<dyn ObjectStore> =
        build_object_store(&setup_config, &prometheus::Registry::new()).expect("s3 store");
    let now = real_now_unix_nanos();
    let traces = traces_at(51, 30, now - 2 * HOUR_NANOS);
    let others = traces_at(52, 30, now - 2 * HOUR_NANOS);
    for block in [&traces, &traces, &others] {
        write_block(&setup, &tenant(), block.clone()).await;
    }
    let mut all = traces.clone();
    all.extend(others);
    let expected = trace_spans(&all);

    let before = span_counts(&setup, &list(&setup, &tenant()).await.live).await;
    let clock = ManualClock::new(now);
    let compactor = TestCompactor::new("c1").build(store.clone(), &clock);
    let mut rng = StdRng::seed_from_u64(5);
    let mut failures: Vec<String> = Vec::new();
    let mut done = false;
    for cycle in 0..60 {
        // Place the next fault `position` requests into the cycle: early in the job for the
        // first cycle, anywhere afterwards.
        let position = if cycle == 0 {
            6
        } else {
            rng.random_range(0..FAULT_EVERY)
        };
        shift_faults(&s3, &setup, position).await;
        let report = compactor.run_cycle(&CancellationToken::new()).await;
        match &report {
            Ok(report) => {
                for tenant_report in &report.tenants {
                    failures.extend(tenant_report.failed.iter().map(|job| job.status.to_owned()));
                    // A job whose output is visible but whose inputs were not all marked
                    // compacted (a fault during the swap) has done its merge; a later cycle
                    // marks the rest, which the checks below see.
                    done |= tenant_report
                        .failed
                        .iter()
                        .any(|job| job.status == "swap_incomplete");
                    failures.extend(tenant_report.error.clone());
                    done |= !tenant_report.jobs.is_empty();
                }
            }
            Err(error) => failures.push(error.to_string()),
        }
        // After every cycle, failed or not: no partial block is visible, and a reader that
        // honours compactedFrom sees the inputs or the output, never both.
        let listed = list(&setup, &tenant()).await;
        for meta in &listed.live {
            block_spans(&setup, meta).await;
        }
        assert_before_or_after(&setup, &listed, &before, &expected, "after a cycle").await;
        // Leases of failed jobs are released, or expire.
        clock.advance(std::time::Duration::from_secs(61));
        if done && listed.live.len() == 1 {
            break;
        }
    }
    assert!(
        !failures.is_empty(),
        "no job or cycle met an injected fault"
    );
    // `swap_incomplete`: a fault while the inputs were being marked compacted (the output was
    // visible; the next cycle marks the rest).
    let not_store: Vec<&String> = failures
        .iter()
        .filter(|status| {
            !status.starts_with("store_")
                && status.as_str() != "swap_incomplete"
                && !status.contains("failed")
        })
        .collect();
    assert!(
        not_store.is_empty(),
        "failures other than store errors: {failures:?}"
    );
    assert!(s3.faults().errors > 0, "faults were injected");
    assert!(done, "a job finished despite the faults");
    let listed = list(&setup, &tenant()).await;
    assert_eq!(listed.live.len(), 1);
    assert_exactly_once(&setup, &listed.live, &expected, "at the end").await;
}
