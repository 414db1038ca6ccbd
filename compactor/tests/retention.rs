//! Retention with a manual clock: global and per-tenant `block_retention`, deletion after
//! `compacted_block_retention`, and clean-up of partial writes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{TestCompactor, list, memory, real_now_unix_nanos, traces_at, write_block};
use contrail_compactor::StaticOverrides;
use contrail_proto::{ManualClock, TenantId};
use contrail_storage::block::{DATA_OBJECT, Uuid, object_path};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);
const NANOS: u64 = 1_000_000_000;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("valid tenant")
}

async fn objects_under(store: &Arc<dyn ObjectStore>, tenant: &TenantId, block: &Uuid) -> usize {
    let prefix = contrail_storage::block::block_path(tenant, block);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
    objects.len()
}

fn retention_of(
    report: &contrail_compactor::CycleReport,
    tenant: &TenantId,
) -> contrail_compactor::RetentionReport {
    report
        .tenants
        .iter()
        .find(|t| t.tenant.as_ref() == Some(tenant))
        .and_then(|t| t.retention.clone())
        .expect("the tenant's retention ran")
}

#[tokio::test]
async fn blocks_expire_per_tenant_then_are_deleted_after_the_compacted_retention() {
    let store = memory();
    let now = real_now_unix_nanos();
    let short = tenant("short-retention");
    let long = tenant("long-retention");
    // One block per tenant, ending about 2 h before `now` (one block: nothing to compact).
    let short_block = write_block(&store, &short, traces_at(41, 10, now - 2 * 3600 * NANOS)).await;
    let long_block = write_block(&store, &long, traces_at(42, 10, now - 2 * 3600 * NANOS)).await;
    let ends = short_block.end_time.timestamp() as u64 * NANOS;

    let mut builder = TestCompactor::new("c1");
    builder.config.compaction.block_retention = Duration::from_secs(48 * 3600);
    builder.config.compaction.compacted_block_retention = Duration::from_secs(1800);
    builder.overrides = Arc::new(StaticOverrides {
        block_retention: HashMap::from([(short.clone(), Duration::from_secs(24 * 3600))]),
        ..StaticOverrides::default()
    });
    let clock = ManualClock::new(ends + 24 * 3600 * NANOS - NANOS);
    let compactor = builder.build(store.clone(), &clock);
    let shutdown = CancellationToken::new();

    // One second before the short retention: nothing happens.
    compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(list(&store, &short).await.live.len(), 1);

    // Past it: the short-retention tenant's block is marked compacted, the other is kept.
    clock.advance(Duration::from_secs(2));
    let report = compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(retention_of(&report, &short).expired, 1);
    let listed = list(&store, &short).await;
    assert!(listed.live.is_empty());
    assert_eq!(listed.compacted.len(), 1);
    assert_eq!(list(&store, &long).await.live.len(), 1);

    // Not yet deleted within compacted_block_retention ...
    clock.advance(Duration::from_secs(1799));
    compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(list(&store, &short).await.compacted.len(), 1);
    // ... and every object gone after it.
    clock.advance(Duration::from_secs(2));
    let report = compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(retention_of(&report, &short).deleted, 1);
    assert_eq!(
        objects_under(&store, &short, &short_block.block_id).await,
        0
    );

    // The global retention applies to the other tenant.
    clock.advance(24 * HOUR);
    compactor.run_cycle(&shutdown).await.expect("cycle");
    let listed = list(&store, &long).await;
    assert!(listed.live.is_empty());
    assert_eq!(listed.compacted[0].meta.block_id, long_block.block_id);

    // The tenant index follows the listing.
    let index = contrail_storage::block::read_tenant_index(store.as_ref(), &long)
        .await
        .expect("read index")
        .expect("index written");
    assert!(index.meta.is_empty());
    assert_eq!(index.compacted.len(), 1);
}

#[tokio::test]
async fn partial_writes_are_deleted_only_once_they_are_old() {
    let store = memory();
    let now = real_now_unix_nanos();
    let owner = tenant("tenant-a");
    let kept = write_block(&store, &owner, traces_at(43, 5, now - 3600 * NANOS)).await;
    // A writer that died before its meta: data only.
    let orphan = Uuid::new_v4();
    store
        .put(
            &object_path(&owner, &orphan, DATA_OBJECT),
            PutPayload::from_static(b"partial"),
        )
        .await
        .expect("put");
    let clock = ManualClock::new(now);
    let compactor = TestCompactor::new("c1").build(store.clone(), &clock);
    let shutdown = CancellationToken::new();
    let report = compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(
        report.tenants[0].retention.as_ref().expect("owner").orphans,
        0
    );
    assert_eq!(objects_under(&store, &owner, &orphan).await, 1);

    clock.advance(HOUR + Duration::from_secs(60));
    let report = compactor.run_cycle(&shutdown).await.expect("cycle");
    assert_eq!(
        report.tenants[0].retention.as_ref().expect("owner").orphans,
        1
    );
    assert_eq!(objects_under(&store, &owner, &orphan).await, 0);
    assert!(objects_under(&store, &owner, &kept.block_id).await > 0);
}

#[tokio::test]
async fn only_the_tenant_owner_applies_retention_and_writes_the_index() {
    let store = memory();
    let now = real_now_unix_nanos();
    let owner_tenant = tenant("tenant-a");
    write_block(&store, &owner_tenant, traces_at(44, 5, now - 3600 * NANOS)).await;
    let clock = ManualClock::new(now);
    let members = vec!["c1".to_owned(), "c2".to_owned()];
    let mut first = TestCompactor::new("c1");
    first.members = members.clone();
    let mut second = TestCompactor::new("c2");
    second.members = members;
    let shutdown = CancellationToken::new();
    let a = first
        .build(store.clone(), &clock)
        .run_cycle(&shutdown)
        .await
        .expect("cycle");
    let b = second
        .build(store.clone(), &clock)
        .run_cycle(&shutdown)
        .await
        .expect("cycle");
    let writers = [a, b]
        .iter()
        .filter(|report| report.tenants[0].index_written)
        .count();
    assert_eq!(writers, 1, "exactly one compactor writes the tenant index");
}

#[tokio::test]
async fn lease_folders_of_long_gone_windows_are_deleted() {
    let store = memory();
    let now = real_now_unix_nanos();
    let owner = tenant("tenant-a");
    write_block(&store, &owner, traces_at(45, 5, now - 3600 * NANOS)).await;
    let current_window = (now / NANOS / 3600) as i64;
    // Retention 14 days + compacted retention 1 h + two windows: a window 15 days old is gone.
    let gone_window = current_window - 15 * 24;
    let recent_window = current_window - 1;
    for window in [gone_window, recent_window] {
        let path = object_store::path::Path::from(format!(
            "tenant-a/{}/{window}/00000000000000000000.json",
            contrail_compactor::lease::LEASES_FOLDER
        ));
        store
            .put(&path, PutPayload::from_static(b"{}"))
            .await
            .expect("put");
    }
    let clock = ManualClock::new(now);
    let report = TestCompactor::new("c1")
        .build(store.clone(), &clock)
        .run_cycle(&CancellationToken::new())
        .await
        .expect("cycle");
    assert_eq!(
        report.tenants[0].retention.as_ref().expect("owner").leases,
        1
    );
    let left: Vec<_> = store
        .list(Some(&object_store::path::Path::from(
            "tenant-a/compactor-leases",
        )))
        .try_collect()
        .await
        .expect("list");
    assert_eq!(left.len(), 1);
    assert!(
        left[0]
            .location
            .as_ref()
            .contains(&recent_window.to_string())
    );
}
