//! Exemplars: a few real spans per series, so a user can jump from a point of the graph to a
//! trace. Each series keeps the `k` candidates with the smallest score (a hash of the trace ID,
//! ties by trace and span ID); that choice is deterministic and merges exactly, so exemplars do
//! not depend on the job split either. One candidate per trace and series is offered (its first
//! surviving span), as Tempo samples one span per trace.

use contrail_proto::{SpanId, TraceId};

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
}

impl Exemplar {
    fn order_key(&self) -> (u64, [u8; 16], [u8; 8]) {
        (
            self.score,
            self.trace_id.to_array(),
            self.span_id.to_array(),
        )
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
        if limit == 0 {
            return;
        }
        if self.items.len() < limit {
            if self
                .items
                .iter()
                .any(|item| item.trace_id == candidate.trace_id && item.span_id == candidate.span_id)
            {
                return;
            }
            self.items.push(candidate);
            if self.items.len() == limit {
                self.recompute_largest();
            }
            return;
        }
        if candidate.order_key() >= self.items[self.largest].order_key()
            || self
                .items
                .iter()
                .any(|item| item.trace_id == candidate.trace_id && item.span_id == candidate.span_id)
        {
            return;
        }
        self.items[self.largest] = candidate;
        self.recompute_largest();
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
