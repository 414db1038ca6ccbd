//! Routing: every segment goes to its replica set (rendezvous placement of (tenant, trace ID)),
//! one push per ingester carrying all its segments; the answer is ready as soon as every
//! segment has reached the write quorum or can no longer reach it. Pushes still in flight then
//! finish in the background (owned by the distributor's task tracker).

use std::sync::Arc;

use contrail_proto::internal::v1::{PushErrorReason, TraceSegment};
use contrail_proto::{ErrorCode, PushBatch, PushError, PushOutcome, TenantId};
use contrail_ring::{RingSnapshot, placement_key};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::metrics::DistributorMetrics;

/// The write quorum for a replication factor: `rf / 2 + 1`.
pub fn quorum_for(replication_factor: usize) -> usize {
    replication_factor / 2 + 1
}

/// What the replicas made of a request's segments.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RouteOutcome {
    /// Spans of segments that reached the quorum.
    pub(crate) accepted_spans: u64,
    /// Spans the ingesters refused for good, by reason.
    pub(crate) refused_spans: Vec<(PushErrorReason, u64)>,
}

/// What [`route`] needs.
pub(crate) struct RouteArgs<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) segments: Vec<TraceSegment>,
    /// The segments hold nothing the ingester's flush must check again ([`PushBatch::checked`]).
    pub(crate) checked: bool,
    pub(crate) snapshot: RingSnapshot,
    pub(crate) quorum: usize,
    pub(crate) tracker: &'a TaskTracker,
    pub(crate) metrics: &'a DistributorMetrics,
}

/// Per-segment tally of replica answers.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    replicas: u8,
    acks: u8,
    refusals: u8,
    failures: u8,
    refusal_reason: Option<PushErrorReason>,
    decided: bool,
}

impl Tally {
    fn answered(&self) -> u8 {
        self.acks + self.refusals + self.failures
    }
}

pub(crate) async fn route(
    RouteArgs {
        tenant,
        segments,
        checked,
        snapshot,
        quorum,
        tracker,
        metrics,
    }: RouteArgs<'_>,
) -> Result<RouteOutcome> {
    let members = snapshot.members();
    if segments.is_empty() {
        return Ok(RouteOutcome::default());
    }
    if members.len() < quorum {
        return Err(Error::NoQuorum {
            healthy: members.len(),
            quorum,
        });
    }
    let mut tallies = vec![Tally::default(); segments.len()];
    let mut segments_by_member: Vec<Vec<usize>> = vec![Vec::new(); members.len()];
    let mut replicas = Vec::with_capacity(quorum * 2);
    for (segment_index, segment) in segments.iter().enumerate() {
        snapshot.replicas(placement_key(tenant, &segment.trace_id), &mut replicas);
        tallies[segment_index].replicas = u8::try_from(replicas.len()).unwrap_or(u8::MAX);
        for member_index in &replicas {
            segments_by_member[*member_index].push(segment_index);
        }
    }
    let busy_members: Vec<usize> = (0..members.len())
        .filter(|index| !segments_by_member[*index].is_empty())
        .collect();
    let (result_tx, mut result_rx) = mpsc::channel(busy_members.len().max(1));
    for member_index in &busy_members {
        let member = &members[*member_index];
        let batch = PushBatch {
            segments: segments_by_member[*member_index]
                .iter()
                .map(|segment_index| segments[*segment_index].clone())
                .collect(),
            checked,
        };
        metrics
            .ingester_appends
            .with_label_values(&[member.id()])
            .inc();
        let target = Arc::clone(member.target());
        let tenant = tenant.clone();
        let result_tx = result_tx.clone();
        let member_index = *member_index;
        if busy_members.len() == 1 {
            // One replica (single binary): no task, no channel hop.
            let result = target.push(&tenant, batch).await;
            let _ = result_tx.send((member_index, result)).await;
        } else {
            tracker.spawn(async move {
                let result = target.push(&tenant, batch).await;
                // The request may already be answered; a late result is not needed.
                let _ = result_tx.send((member_index, result)).await;
            });
        }
    }
    drop(result_tx);
    let mut undecided = segments.len();
    let mut last_error_opt: Option<PushError> = None;
    let quorum_u8 = u8::try_from(quorum).unwrap_or(u8::MAX);
    while undecided > 0 {
        let Some((member_index, result)) = result_rx.recv().await else {
            break;
        };
        let member_segments = &segments_by_member[member_index];
        let result = result.and_then(|outcome| check_outcome(outcome, member_segments.len()));
        match result {
            Ok(outcome) => {
                for (position, segment_index) in member_segments.iter().enumerate() {
                    let tally = &mut tallies[*segment_index];
                    match outcome.errors_by_segment.get(position) {
                        None | Some(PushErrorReason::Unspecified) => tally.acks += 1,
                        Some(reason) => {
                            tally.refusals += 1;
                            tally.refusal_reason = Some(*reason);
                        }
                    }
                }
            }
            Err(error) => {
                metrics
                    .ingester_append_failures
                    .with_label_values(&[members[member_index].id()])
                    .inc();
                tracing::warn!(tenant = %tenant, ingester = members[member_index].id(), error = %error, "push to ingester failed");
                for segment_index in member_segments {
                    tallies[*segment_index].failures += 1;
                }
                let keep_previous = last_error_opt
                    .as_ref()
                    .is_some_and(|previous| previous.code() == ErrorCode::RateLimited);
                if !keep_previous {
                    last_error_opt = Some(error);
                }
            }
        }
        for segment_index in member_segments {
            let tally = &mut tallies[*segment_index];
            if tally.decided {
                continue;
            }
            let pending = tally.replicas - tally.answered();
            if tally.acks >= quorum_u8 || tally.acks + pending < quorum_u8 {
                tally.decided = true;
                undecided -= 1;
            }
        }
    }
    summarize(&segments, &tallies, quorum_u8, last_error_opt)
}

/// An outcome must list every segment or none.
fn check_outcome(outcome: PushOutcome, segments: usize) -> Result<PushOutcome, PushError> {
    if outcome.errors_by_segment.is_empty() || outcome.errors_by_segment.len() == segments {
        Ok(outcome)
    } else {
        Err(PushError::InvalidResponse(format!(
            "{} segment outcomes for {segments} segments",
            outcome.errors_by_segment.len()
        )))
    }
}

fn summarize(
    segments: &[TraceSegment],
    tallies: &[Tally],
    quorum: u8,
    last_error_opt: Option<PushError>,
) -> Result<RouteOutcome> {
    let mut outcome = RouteOutcome::default();
    let mut transient_failure = false;
    for (segment, tally) in segments.iter().zip(tallies) {
        let spans = u64::from(segment.span_count);
        if tally.acks >= quorum {
            outcome.accepted_spans += spans;
        } else if let Some(reason) = tally.refusal_reason {
            match outcome
                .refused_spans
                .iter_mut()
                .find(|(known, _)| *known == reason)
            {
                Some((_, count)) => *count += spans,
                None => outcome.refused_spans.push((reason, spans)),
            }
        } else {
            transient_failure = true;
        }
    }
    if transient_failure {
        return Err(Error::QuorumFailed(last_error_opt.unwrap_or_else(|| {
            PushError::Unreachable("no answer from the replicas".to_owned())
        })));
    }
    Ok(outcome)
}

/// The `contrail_discarded_spans_total` reason of an ingester refusal.
pub(crate) fn refusal_label(reason: PushErrorReason) -> &'static str {
    match reason {
        PushErrorReason::MaxLiveTraces => "live_traces_exceeded",
        PushErrorReason::TraceTooLarge => "trace_too_large",
        PushErrorReason::Unknown | PushErrorReason::Unspecified => "unknown_error",
    }
}

#[cfg(test)]
mod tests;
