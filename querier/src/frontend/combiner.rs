//! Merging the job results of one search: traces by ID, newest first (start time descending,
//! then trace ID), at most `limit` in the answer, every held trace reserved in the query's
//! memory budget.
//!
//! Early stop: jobs run newest first, so once `limit` traces are held and a job's latest span
//! end is before the start of the limit-th newest trace, nothing in it (or in the jobs after
//! it) can enter the answer: [`SearchCombiner::can_skip`] says so and the driver stops there.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use contrail_proto::tempopb::{SearchMetrics, SearchResponse, TraceSearchMetadata};
use contrail_traceql::fetch::MemoryBudget;
use prost::Message;

use crate::error::Result;
use crate::merge::merge_trace_metadata;

/// Per-trace bookkeeping bytes on top of the encoded size.
const TRACE_OVERHEAD_BYTES: usize = 256;

struct Held {
    trace: TraceSearchMetadata,
    reserved_bytes: usize,
}

fn newest_first(a: &TraceSearchMetadata, b: &TraceSearchMetadata) -> Ordering {
    b.start_time_unix_nano
        .cmp(&a.start_time_unix_nano)
        .then_with(|| a.trace_id.cmp(&b.trace_id))
}

fn weight(trace: &TraceSearchMetadata) -> usize {
    // Decoded messages hold about twice their encoding (strings, vectors, map nodes).
    trace.encoded_len() * 2 + TRACE_OVERHEAD_BYTES
}

/// The merged result of a search so far; see the module docs.
pub struct SearchCombiner {
    limit: usize,
    spans_per_span_set: usize,
    held: HashMap<String, Held>,
    budget: Arc<MemoryBudget>,
    metrics: SearchMetrics,
}

impl std::fmt::Debug for SearchCombiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchCombiner")
            .field("limit", &self.limit)
            .field("held", &self.held.len())
            .finish()
    }
}

impl SearchCombiner {
    /// An empty result for a search with `limit` and `spans_per_span_set`.
    pub fn new(limit: u32, spans_per_span_set: u32, budget: Arc<MemoryBudget>) -> Self {
        SearchCombiner {
            limit: limit as usize,
            spans_per_span_set: spans_per_span_set as usize,
            held: HashMap::new(),
            budget,
            metrics: SearchMetrics::default(),
        }
    }

    /// The cumulative metrics.
    pub fn metrics_mut(&mut self) -> &mut SearchMetrics {
        &mut self.metrics
    }

    /// Merges one job's answer; returns the diff (the traces it added or changed, with the
    /// cumulative metrics). Fails when the held traces would pass the memory budget.
    pub fn add(&mut self, response: SearchResponse) -> Result<SearchResponse> {
        if let Some(metrics) = response.metrics {
            self.metrics.inspected_traces = self
                .metrics
                .inspected_traces
                .saturating_add(metrics.inspected_traces);
            self.metrics.inspected_bytes = self
                .metrics
                .inspected_bytes
                .saturating_add(metrics.inspected_bytes);
            self.metrics.inspected_spans = self
                .metrics
                .inspected_spans
                .saturating_add(metrics.inspected_spans);
        }
        let mut changed: Vec<String> = Vec::with_capacity(response.traces.len());
        for trace in response.traces {
            let trace_id = trace.trace_id.clone();
            match self.held.get_mut(&trace_id) {
                Some(held) => {
                    merge_trace_metadata(&mut held.trace, trace, self.spans_per_span_set);
                    let new_weight = weight(&held.trace);
                    if new_weight > held.reserved_bytes {
                        self.budget.reserve(new_weight - held.reserved_bytes)?;
                        held.reserved_bytes = new_weight;
                    }
                }
                None => {
                    let mut trace = trace;
                    if trace.span_set.is_none() && !trace.span_sets.is_empty() {
                        let span_sets = std::mem::take(&mut trace.span_sets);
                        trace.set_span_sets(span_sets);
                    }
                    let reserved_bytes = weight(&trace);
                    self.budget.reserve(reserved_bytes)?;
                    self.held.insert(
                        trace_id.clone(),
                        Held {
                            trace,
                            reserved_bytes,
                        },
                    );
                }
            }
            changed.push(trace_id);
        }
        self.prune();
        changed.sort();
        changed.dedup();
        let traces = changed
            .iter()
            .filter_map(|trace_id| self.held.get(trace_id))
            .map(|held| held.trace.clone())
            .collect();
        Ok(SearchResponse {
            traces,
            metrics: Some(self.metrics.clone()),
        })
    }

    /// Drops traces that can no longer be in the answer once twice the limit are held (keeps
    /// memory proportional to the limit, not to the matches).
    fn prune(&mut self) {
        if self.held.len() <= self.limit.saturating_mul(2).max(64) {
            return;
        }
        let mut order: Vec<(u64, String)> = self
            .held
            .values()
            .map(|held| (held.trace.start_time_unix_nano, held.trace.trace_id.clone()))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, trace_id) in order.into_iter().skip(self.limit) {
            if let Some(held) = self.held.remove(&trace_id) {
                self.budget.release(held.reserved_bytes);
            }
        }
    }

    /// The start time of the limit-th newest trace, once `limit` are held.
    fn limit_start(&self) -> Option<u64> {
        if self.limit == 0 || self.held.len() < self.limit {
            return None;
        }
        let mut starts: Vec<u64> = self
            .held
            .values()
            .map(|held| held.trace.start_time_unix_nano)
            .collect();
        starts.sort_unstable_by(|a, b| b.cmp(a));
        starts.get(self.limit - 1).copied()
    }

    /// Whether a job whose spans all end by `job_end_unix_nano` (and every job after it, jobs
    /// being newest first) cannot change the answer.
    pub fn can_skip(&self, job_end_unix_nano: u64) -> bool {
        self.limit_start()
            .is_some_and(|limit_start| job_end_unix_nano < limit_start)
    }

    /// Number of traces held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no trace is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The answer: the `limit` newest traces, newest first, and the metrics.
    pub fn finish(mut self) -> SearchResponse {
        let mut traces: Vec<TraceSearchMetadata> = self
            .held
            .drain()
            .map(|(_, held)| {
                self.budget.release(held.reserved_bytes);
                held.trace
            })
            .collect();
        traces.sort_by(newest_first);
        traces.truncate(self.limit);
        SearchResponse {
            traces,
            metrics: Some(self.metrics),
        }
    }
}
