//! Exemplars: a few real spans per series, so a user can jump from a point of the graph to a
//! trace. A series keeps at most one span per trace, from the `k` traces with the smallest score
//! (a hash of the trace ID); a trace is represented by its span with the smallest span ID. Both
//! choices are minima, so they merge exactly and exemplars do not depend on the job split.

use contrail_proto::{SpanId, TraceId};

use crate::metrics::series_table::Bucket;

/// One exemplar candidate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub score: u64,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The span start in unix nanoseconds.
    pub start_unix_nano: u64,
    /// The span's value for the function (seconds for durations); NaN for counting functions,
    /// whose exemplars take the series value at their interval when finalized.
    pub value: f64,
    /// The histogram bucket of the span's value (histograms and quantiles).
    pub bucket: Option<Bucket>,
}

impl Exemplar {
    fn order_key(&self) -> (u64, [u8; 16]) {
        (self.score, self.trace_id.to_array())
    }
}

/// The exemplars of one series: at most `limit`, the smallest by score.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExemplarSet {
    items: Vec<Exemplar>,
    /// Index of the largest kept item (the one to replace), valid when full.
    largest: usize,
}

impl ExemplarSet {
    /// Offers a candidate.
    pub(crate) fn offer(&mut self, candidate: Exemplar, limit: usize) {
        if self.rejects(candidate.score, limit) {
            return;
        }
        if let Some(same_trace) = self
            .items
            .iter_mut()
            .find(|item| item.trace_id == candidate.trace_id)
        {
            if candidate.span_id < same_trace.span_id {
                *same_trace = candidate;
            }
            return;
        }
        if self.items.len() < limit {
            self.items.push(candidate);
            if self.items.len() == limit {
                self.recompute_largest();
            }
            return;
        }
        if candidate.order_key() < self.items[self.largest].order_key() {
            self.items[self.largest] = candidate;
            self.recompute_largest();
        }
    }

    /// `true` when a candidate with `score` would be rejected (cheap pre-check).
    #[inline]
    pub(crate) fn rejects(&self, score: u64, limit: usize) -> bool {
        limit == 0 || (self.items.len() >= limit && score > self.items[self.largest].score)
    }

    fn recompute_largest(&mut self) {
        self.largest = self
            .items
            .iter()
            .enumerate()
            .max_by_key(|(_, item)| item.order_key())
            .map_or(0, |(index, _)| index);
    }

    /// Merges another set.
    pub(crate) fn merge(&mut self, other: &ExemplarSet, limit: usize) {
        for item in &other.items {
            self.offer(item.clone(), limit);
        }
    }

    /// The kept exemplars in no particular order.
    pub(crate) fn items(&self) -> &[Exemplar] {
        &self.items
    }
}
