//! Which traces this ingester counts in a recent-data metrics job when traces have replicas on
//! several ingesters (RF > 1, ADR 013). The querier sends the ring it used (member IDs and the
//! replication factor), the ingesters it asks, and which of them receives the request; a trace
//! is this ingester's to count when, by the distributor's placement
//! (`contrail_ring::placement_key`, `RingSnapshot`), the receiver ranks first for it among the
//! asked ingesters: its first replica that is asked. So among the ingesters asked exactly one
//! counts each trace, and with every replica answering a trace is counted once.

use std::collections::HashSet;
use std::sync::Arc;

use contrail_proto::internal::v1::RecentOwnership;
use contrail_proto::{TenantId, TraceId};
use contrail_ring::{RingSnapshot, placement_key};
use contrail_traceql::fetch::KeepTrace;

use crate::error::{Error, Result};

/// A validated [`RecentOwnership`].
#[derive(Debug)]
pub(crate) struct Ownership {
    snapshot: RingSnapshot,
    asked: Vec<bool>,
    receiver: usize,
}

fn invalid(message: String) -> Error {
    Error::BadRequest {
        message: format!("recent metrics ownership: {message}"),
    }
}

impl Ownership {
    /// The rule `wire` describes, or `None` when it keeps every trace (no ownership sent, a
    /// replication factor of 1: each trace is on one ingester; or a single ingester asked).
    pub(crate) fn from_proto(wire: Option<&RecentOwnership>) -> Result<Option<Ownership>> {
        let Some(wire) = wire else {
            return Ok(None);
        };
        let members = wire.members.len();
        if members == 0 {
            return Err(invalid("the ring has no members".to_owned()));
        }
        let mut seen = HashSet::with_capacity(members);
        if let Some(duplicate) = wire.members.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(invalid(format!("member {duplicate} is listed twice")));
        }
        let receiver = wire.receiver as usize;
        if receiver >= members {
            return Err(invalid(format!(
                "receiver {receiver} is not a member index (the ring has {members} members)"
            )));
        }
        let mut asked = vec![false; members];
        for index in &wire.asked {
            let index = *index as usize;
            let Some(slot) = asked.get_mut(index) else {
                return Err(invalid(format!(
                    "asked member {index} is not a member index (the ring has {members} members)"
                )));
            };
            *slot = true;
        }
        if !asked[receiver] {
            return Err(invalid(format!(
                "the receiver (member {receiver}) is not among the asked members"
            )));
        }
        let asked_count = asked.iter().filter(|asked| **asked).count();
        if wire.replication_factor <= 1 || asked_count == 1 {
            return Ok(None);
        }
        let snapshot = RingSnapshot::of_ids(
            wire.members.iter().map(String::as_str),
            wire.replication_factor as usize,
        );
        Ok(Some(Ownership {
            snapshot,
            asked,
            receiver,
        }))
    }

    /// Whether `trace_id` of `tenant` is the receiver's to count.
    pub(crate) fn owns(&self, tenant: &TenantId, trace_id: &TraceId) -> bool {
        let key = placement_key(tenant, trace_id.as_bytes());
        self.snapshot
            .first_ranked_where(key, |index| self.asked[index])
            == Some(self.receiver)
    }

    /// [`Ownership::owns`] for `tenant`, as a trace filter.
    pub(crate) fn keep(self: &Arc<Self>, tenant: &TenantId) -> KeepTrace {
        let ownership = Arc::clone(self);
        let tenant = tenant.clone();
        Arc::new(move |trace_id: &TraceId| ownership.owns(&tenant, trace_id))
    }
}
