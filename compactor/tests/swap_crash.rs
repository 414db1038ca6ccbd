//! The swap under crashes: a compactor killed before any of its writes leaves no visible partial
//! block and loses nothing; after a restart every span is stored exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    CrashStore, TestCompactor, assert_before_or_after, assert_exactly_once, block_spans, list,
    memory, real_now_unix_nanos, span_counts, tenant, trace_spans, traces_at, write_block,
};
use contrail_proto::ManualClock;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);

async fn copy_store(source: &Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    let target = memory();
    let objects: Vec<_> = source.list(None).try_collect().await.expect("list");
    for object in objects {
        let bytes = source
            .get(&object.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        target
            .put(&object.location, bytes.into())
            .await
            .expect("put");
    }
    target
}

/// Three level-0 blocks of one window: two replicas of the same traces and a block of others.
async fn three_blocks(
    start_unix_nanos: u64,
) -> (Arc<dyn ObjectStore>, Vec<contrail_storage::convert::Trace>) {
    let store = memory();
    let replicated = traces_at(31, 40, start_unix_nanos);
    let other = traces_at(32, 40, start_unix_nanos);
    write_block(&store, &tenant(), replicated.clone()).await;
    write_block(&store, &tenant(), replicated.clone()).await;
    write_block(&store, &tenant(), other.clone()).await;
    let mut all = replicated;
    all.extend(other);
    (store, all)
}

/// Folders under the tenant that hold objects but no meta (invisible leftovers).
async fn folders_without_meta(store: &Arc<dyn ObjectStore>) -> usize {
    let listing = store
        .list_with_delimiter(Some(&object_store::path::Path::from(tenant().as_str())))
        .await
        .expect("list");
    let listed = list(store, &tenant()).await;
    let known = listed.live.len() + listed.compacted.len() + listed.corrupt.len();
    let block_folders = listing
        .common_prefixes
        .iter()
        .filter(|prefix| {
            prefix
                .filename()
                .is_some_and(|name| contrail_storage::block::Uuid::parse_str(name).is_ok())
        })
        .count();
    block_folders - known
}

#[tokio::test]
async fn a_compactor_killed_before_any_write_loses_nothing_and_the_retry_stores_each_span_once() {
    let now = real_now_unix_nanos();
    let (base, traces) = three_blocks(now - 2 * HOUR.as_secs() * 1_000_000_000).await;
    let expected = trace_spans(&traces);
    let before = span_counts(&base, &list(&base, &tenant()).await.live).await;

    // How many writes a clean cycle makes.
    let counting = CrashStore::new(copy_store(&base).await, u64::MAX);
    let clock = ManualClock::new(now);
    let report = TestCompactor::new("c1")
        .build(Arc::new(counting.clone()), &clock)
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].jobs.len(), 1, "{report:?}");
    let writes = counting.writes();
    assert!(
        writes >= 10,
        "a cycle writes data, bloom, metas, marks, lease, index: {writes}"
    );

    for kill_before in 0..writes {
        let store = copy_store(&base).await;
        let clock = ManualClock::new(now);
        let crash = CrashStore::new(store.clone(), kill_before);
        let _ = TestCompactor::new("c1")
            .build(Arc::new(crash.clone()), &clock)
            .run_cycle(&CancellationToken::new())
            .await;
        assert!(crash.died(), "killed before write {kill_before}");

        // Right after the kill: every listed block reads completely, and a reader honouring
        // compactedFrom sees the inputs or the output, never both.
        let listed = list(&store, &tenant()).await;
        for meta in &listed.live {
            block_spans(&store, meta).await;
        }
        let context = format!("killed before write {kill_before}");
        assert_before_or_after(&store, &listed, &before, &expected, &context).await;

        // The restarted compactor, once the dead one's lease expired and its leftovers aged.
        clock.advance(2 * HOUR);
        let restarted = TestCompactor::new("c1").build(store.clone(), &clock);
        let retry = restarted
            .run_cycle(&CancellationToken::new())
            .await
            .expect("retry cycle");
        assert!(
            retry.tenants[0].failed.is_empty(),
            "{context}: retry failed: {:?}",
            retry.tenants[0].failed
        );
        let listed = list(&store, &tenant()).await;
        assert_eq!(listed.live.len(), 1, "{context}: one block after the retry");
        assert_exactly_once(&store, &listed.live, &expected, &context).await;
        assert_eq!(listed.live[0].compaction_level, 1);
        // A later cycle removes whatever the dead compactor left without a meta.
        clock.advance(2 * HOUR);
        restarted
            .run_cycle(&CancellationToken::new())
            .await
            .expect("clean-up cycle");
        assert_eq!(
            folders_without_meta(&store).await,
            0,
            "{context}: orphans left"
        );
    }
}

#[tokio::test]
async fn a_dead_compactors_lease_holds_its_window_until_it_expires() {
    let now = real_now_unix_nanos();
    let (store, traces) = three_blocks(now - 2 * HOUR.as_secs() * 1_000_000_000).await;
    let clock = ManualClock::new(now);
    // Die right after the lease is taken (the first write of the job).
    let crash = CrashStore::new(store.clone(), 1);
    let _ = TestCompactor::new("dead")
        .build(Arc::new(crash.clone()), &clock)
        .run_cycle(&CancellationToken::new())
        .await;
    assert!(crash.died());

    let other = TestCompactor::new("dead").build(store.clone(), &clock);
    let report = other
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].jobs.len(), 0);
    assert_eq!(
        report.tenants[0].failed[0].status, "lease_busy",
        "{report:?}"
    );

    clock.advance(Duration::from_secs(61));
    let report = other
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(report.tenants[0].jobs.len(), 1, "{report:?}");
    let listed = list(&store, &tenant()).await;
    assert_exactly_once(&store, &listed.live, &trace_spans(&traces), "after expiry").await;
}
