//! [`Member`] and [`MemberSource`]: "the current healthy members", however they are found.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::{PushBatch, PushError, PushOutcome, PushTarget, TenantId};

use crate::placement::member_hash;

/// One ingester the distributor can push to.
#[derive(Clone)]
pub struct Member {
    id: Arc<str>,
    id_hash: u64,
    target: Arc<dyn PushTarget>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// A member with a stable `id` (its address, e.g. `ingester-0.ingester:9095`) reached
    /// through `target`. Placement depends on the ID only.
    pub fn new(id: impl Into<Arc<str>>, target: Arc<dyn PushTarget>) -> Self {
        let id = id.into();
        Member {
            id_hash: member_hash(&id),
            id,
            target,
        }
    }

    /// A member known by its ID only, for placement without pushing (a querier computing which
    /// ingester owns a trace). Pushing to it fails with [`PushError::Unreachable`] naming it.
    pub fn id_only(id: impl Into<Arc<str>>) -> Self {
        let id = id.into();
        let target = Arc::new(NoPushTarget(Arc::clone(&id)));
        Member::new(id, target)
    }

    /// The member's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where pushes for this member go.
    pub fn target(&self) -> &Arc<dyn PushTarget> {
        &self.target
    }

    pub(crate) fn id_hash(&self) -> u64 {
        self.id_hash
    }
}

/// The target of an ID-only member: placement never pushes, so a push here is a wiring bug.
struct NoPushTarget(Arc<str>);

#[async_trait]
impl PushTarget for NoPushTarget {
    async fn push(&self, _: &TenantId, _: PushBatch) -> Result<PushOutcome, PushError> {
        Err(PushError::Unreachable(format!(
            "ring member {} is known by its ID only and has no push target",
            self.0
        )))
    }
}

/// The current healthy members. Implementations keep a snapshot that placement reads without
/// locking.
pub trait MemberSource: Send + Sync + 'static {
    /// The healthy members now, in any order.
    fn healthy_members(&self) -> Arc<[Member]>;
}

/// A fixed member list: the single binary (the in-process ingester) and tests.
#[derive(Debug, Clone)]
pub struct StaticMembers {
    members: Arc<[Member]>,
}

impl StaticMembers {
    /// The members, all considered healthy.
    pub fn new(members: Vec<Member>) -> Self {
        StaticMembers {
            members: members.into(),
        }
    }
}

impl MemberSource for StaticMembers {
    fn healthy_members(&self) -> Arc<[Member]> {
        Arc::clone(&self.members)
    }
}
