//! The running answer of a search: the best `limit` settled traces (most recent first, then
//! by trace ID) and the deferred traces (a portion had orphans, so the trace may be split
//! across units and is evaluated once over all its portions at the end).
//!
//! Memory is bounded by `limit` settled traces (their matched spans) plus one entry per
//! deferred trace; the driver charges both to the query's memory budget. A settled trace that
//! turns out to be split (a later unit reports an orphaned portion) is *demoted* to deferred;
//! if one of those then fails to match after traces were evicted, the evicted ones may have
//! belonged in the answer, and the driver runs the search again without evicting.

use std::collections::{BTreeMap, HashMap, HashSet};

use contrail_proto::TraceId;

use crate::search::result::{OrderKey, TraceResult};

#[derive(Debug)]
pub struct Collector {
    limit: usize,
    unbounded: bool,
    settled: BTreeMap<OrderKey, TraceResult>,
    keys: HashMap<TraceId, OrderKey>,
    /// Deferred trace → earliest start seen.
    pub deferred: HashMap<TraceId, u64>,
    /// Traces that were settled, then deferred.
    pub demoted: HashSet<TraceId>,
    /// Some trace was dropped (or skipped) because `limit` better ones were held.
    pub evicted: bool,
}

impl Collector {
    /// `unbounded`: keep every settled trace (the exact re-run).
    pub fn new(limit: usize, unbounded: bool) -> Self {
        Collector {
            limit: limit.max(1),
            unbounded,
            settled: BTreeMap::new(),
            keys: HashMap::new(),
            deferred: HashMap::new(),
            demoted: HashSet::new(),
            evicted: false,
        }
    }

    /// The worst key held when `limit` traces are held: nothing worse can be in the answer.
    pub fn worst(&self) -> Option<OrderKey> {
        if self.unbounded || self.settled.len() < self.limit {
            return None;
        }
        self.settled.keys().next_back().copied()
    }

    /// Whether `trace_id` is deferred.
    pub fn is_deferred(&self, trace_id: &TraceId) -> bool {
        self.deferred.contains_key(trace_id)
    }

    /// Adds a settled result (merging with an earlier portion of the same trace).
    pub fn add_settled(&mut self, result: TraceResult) {
        if self.deferred.contains_key(&result.trace_id) {
            return;
        }
        let result = match self.keys.remove(&result.trace_id) {
            Some(key) => match self.settled.remove(&key) {
                Some(mut known) => {
                    known.merge(result);
                    known
                }
                None => result,
            },
            None => result,
        };
        let key = result.order_key();
        if self.worst().is_some_and(|worst| key > worst) {
            self.evicted = true;
            return;
        }
        self.keys.insert(result.trace_id, key);
        self.settled.insert(key, result);
        while !self.unbounded && self.settled.len() > self.limit {
            if let Some((_, dropped)) = self.settled.pop_last() {
                self.keys.remove(&dropped.trace_id);
                self.evicted = true;
            }
        }
    }

    /// Defers a trace seen with orphans in a portion starting at `start_unix_nano`.
    pub fn add_deferred(&mut self, trace_id: TraceId, start_unix_nano: u64) {
        let entry = self.deferred.entry(trace_id).or_insert(start_unix_nano);
        *entry = (*entry).min(start_unix_nano);
        if let Some(key) = self.keys.remove(&trace_id) {
            self.settled.remove(&key);
            self.demoted.insert(trace_id);
        }
    }

    /// Adds the result of a deferred trace evaluated over all its portions.
    pub fn add_final(&mut self, result: TraceResult) {
        self.deferred.remove(&result.trace_id);
        self.add_settled(result);
    }

    /// Approximate bytes held.
    pub fn memory_size(&self) -> usize {
        self.settled
            .values()
            .map(TraceResult::memory_size)
            .sum::<usize>()
            + self.deferred.len() * 48
    }

    /// The answer: the best `limit` traces, most recent first.
    pub fn into_results(self, limit: usize) -> Vec<TraceResult> {
        self.settled.into_values().take(limit).collect()
    }
}
