//! Lease races that need an interleaving inside `acquire`: a compactor whose view of the
//! folder went stale while another took, used and released the lease.

use std::sync::Arc;
use std::time::Duration;

use contrail_proto::{ManualClock, TenantId};
use contrail_storage::block::Uuid;
use object_store::ObjectStore;
use object_store::memory::InMemory;

use super::{JobIntent, Leases};
use crate::error::Error;

const T0: u64 = 1_700_000_000_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

fn tenant() -> TenantId {
    TenantId::new("lease-tests").expect("tenant")
}

fn intent() -> JobIntent {
    JobIntent {
        output: Uuid::new_v4(),
        inputs: vec![Uuid::new_v4(), Uuid::new_v4()],
    }
}

fn pair() -> (Leases, Leases, ManualClock, Arc<dyn ObjectStore>) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = ManualClock::new(T0);
    let a = Leases::new(
        store.clone(),
        Arc::new(clock.clone()),
        "compactor-a".to_owned(),
        LEASE,
    );
    let b = Leases::new(
        store.clone(),
        Arc::new(clock.clone()),
        "compactor-b".to_owned(),
        LEASE,
    );
    (a, b, clock, store)
}

#[tokio::test]
async fn a_create_of_a_freed_generation_from_a_stale_view_takes_nothing() {
    let (a, b, _clock, _store) = pair();
    let folder = Leases::folder(&tenant(), 7);
    // B reads the folder (empty: the lease is free) ...
    let stale = b.observe(&folder).await.expect("observe");
    // ... then A takes generation 0, does its job and releases (generation 1; 0 is deleted).
    let (lease, _) = a.acquire(&tenant(), 7, intent()).await.expect("a takes");
    a.release(lease, true).await;
    // B's create of generation 0 succeeds (the name is free again) but must not be a lease.
    let taken = b.take(&tenant(), 7, folder.clone(), stale, intent()).await;
    assert!(
        matches!(taken, Err(Error::LeaseBusy { .. })),
        "a stale create took the lease: {taken:?}"
    );
    assert_eq!(
        b.generations(&folder).await.expect("list"),
        vec![1],
        "the stale generation is removed"
    );
    // A takes the lease again, and while it holds it B cannot.
    let (held, _) = a.acquire(&tenant(), 7, intent()).await.expect("a again");
    let busy = b.acquire(&tenant(), 7, intent()).await;
    assert!(matches!(busy, Err(Error::LeaseBusy { .. })), "{busy:?}");
    a.release(held, true).await;
    let (_lease, _) = b.acquire(&tenant(), 7, intent()).await.expect("b after a");
}

#[tokio::test]
async fn a_renewal_into_a_freed_generation_is_a_lost_lease() {
    let (a, b, clock, _store) = pair();
    let (lease, _) = a.acquire(&tenant(), 3, intent()).await.expect("a takes");
    // A's lease runs out; B takes the window (generation 1) and releases it (generation 2),
    // freeing the names 0 and 1.
    clock.set(T0 + LEASE.as_nanos() as u64 + 1);
    let (taken, _) = b.acquire(&tenant(), 3, intent()).await.expect("b takes");
    b.release(taken, true).await;
    // A's clock disagrees (skew): it believes its lease alive and renews into generation 1.
    clock.set(T0 + 1);
    let renewed = a.renew(&lease).await;
    assert!(
        matches!(renewed, Err(Error::LeaseLost { .. })),
        "a renewal over a newer generation succeeded: {renewed:?}"
    );
}
