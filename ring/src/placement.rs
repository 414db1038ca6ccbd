//! Rendezvous (highest-random-weight) placement of (tenant, trace ID) on RF members.
//!
//! Every member gets a score `mix(key ^ hash(member ID))` for a trace's key; the RF highest
//! scores are the replica set. Adding a member moves only the traces it now wins (about
//! RF/(N+1) of them); removing one moves only the traces it held. No virtual nodes, no table.

use std::sync::Arc;

use contrail_proto::TenantId;
use twox_hash::XxHash3_64;

use crate::members::{Member, MemberSource};

/// The 64-bit placement key of a trace: a hash of the tenant and the trace ID.
pub fn placement_key(tenant: &TenantId, trace_id: &[u8]) -> u64 {
    let tenant_hash = XxHash3_64::oneshot(tenant.as_str().as_bytes());
    XxHash3_64::oneshot_with_seed(tenant_hash, trace_id)
}

pub(crate) fn member_hash(id: &str) -> u64 {
    XxHash3_64::oneshot(id.as_bytes())
}

/// MurmurHash3's 64-bit finalizer: a bijection with full avalanche, so the scores of one key
/// over different members are independent enough for rendezvous hashing.
fn mix(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

/// The members and the replication factor.
#[derive(Clone)]
pub struct Ring {
    source: Arc<dyn MemberSource>,
    replication_factor: usize,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("replication_factor", &self.replication_factor)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// A ring over `source` placing every trace on `replication_factor` members.
    pub fn new(source: Arc<dyn MemberSource>, replication_factor: usize) -> Self {
        Ring {
            source,
            replication_factor: replication_factor.max(1),
        }
    }

    /// The members now; one snapshot serves a whole request.
    pub fn snapshot(&self) -> RingSnapshot {
        RingSnapshot {
            members: self.source.healthy_members(),
            replication_factor: self.replication_factor,
        }
    }

    /// The configured replication factor.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// Successful replicas a push needs: `replication_factor / 2 + 1`.
    pub fn quorum(&self) -> usize {
        self.replication_factor / 2 + 1
    }
}

/// The healthy members at one moment.
#[derive(Debug, Clone)]
pub struct RingSnapshot {
    members: Arc<[Member]>,
    replication_factor: usize,
}

impl RingSnapshot {
    /// A snapshot of fixed members (tests and benchmarks).
    pub fn of(members: Vec<Member>, replication_factor: usize) -> Self {
        RingSnapshot {
            members: members.into(),
            replication_factor: replication_factor.max(1),
        }
    }

    /// A snapshot of members known by their IDs only ([`Member::id_only`]): the same placement
    /// as a snapshot of the same IDs with push targets, for readers that compute which member
    /// owns a trace (the ingesters counting recent metrics, the querier).
    pub fn of_ids<I, S>(ids: I, replication_factor: usize) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        RingSnapshot::of(
            ids.into_iter().map(Member::id_only).collect(),
            replication_factor,
        )
    }

    /// The replication factor placement uses.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// The member ranked first for `key` among those for which `eligible(index)` holds, or
    /// `None` when none is. When `key`'s replica set ([`RingSnapshot::replicas`]) has an
    /// eligible member, this is its best-ranked eligible replica (the replica set is the RF
    /// best-ranked members); otherwise the best-ranked eligible member outside it.
    pub fn first_ranked_where(
        &self,
        key: u64,
        mut eligible: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for (index, member) in self.members.iter().enumerate() {
            if !eligible(index) {
                continue;
            }
            let score = mix(key ^ member.id_hash());
            // Ties keep the earlier member, as `replicas` does.
            if best.is_none_or(|(top, _)| score > top) {
                best = Some((score, index));
            }
        }
        best.map(|(_, index)| index)
    }

    /// The members, indexed as [`RingSnapshot::replicas`] reports them.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Writes into `out` the indexes (into [`RingSnapshot::members`]) of the replica set for
    /// `key`: the `min(RF, members)` members with the highest scores, best first.
    pub fn replicas(&self, key: u64, out: &mut Vec<usize>) {
        out.clear();
        let wanted = self.replication_factor.min(self.members.len());
        if wanted == 0 {
            return;
        }
        // RF is small (1 or 3): keep the best `wanted` in a tiny sorted buffer.
        let mut best: Vec<(u64, usize)> = Vec::with_capacity(wanted + 1);
        for (index, member) in self.members.iter().enumerate() {
            let score = mix(key ^ member.id_hash());
            if best.len() == wanted && best[wanted - 1].0 >= score {
                continue;
            }
            let position = best
                .iter()
                .position(|(other, _)| *other < score)
                .unwrap_or(best.len());
            best.insert(position, (score, index));
            best.truncate(wanted);
        }
        out.extend(best.into_iter().map(|(_, index)| index));
    }
}

#[cfg(test)]
mod tests;
