//! Partial search results and how they merge. A unit's results for a trace merge with
//! another unit's into what one unit holding both portions would give: spans deduplicated by
//! span ID, spansets matched by their `by()` values, the earliest start, the latest end and
//! the root from the portion that has it.

use std::collections::BTreeSet;
use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};

use crate::eval::bind::{BatchView, Cursor, TraceValues};
use crate::eval::pipeline::{Spanset, group_key};
use crate::eval::program::Program;
use crate::fetch::{ServiceStats, TraceInfo};
use crate::value::Value;

/// Where a result span came from: a source (by index) and its row there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub source: usize,
    pub row_ref: u64,
}

/// One matched span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanResult {
    pub span_id: SpanId,
    pub start_unix_nano: u64,
    pub duration_nano: u64,
    /// Filled by the second pass.
    pub name: Option<Arc<str>>,
    /// (result key, value): the attributes the query's filters read, then `select()`'s.
    pub attributes: Vec<(Arc<str>, Value)>,
    pub origin: Origin,
}

/// One spanset of a trace: every matched span (sorted by start, then span ID).
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetResult {
    /// `by()` values, which identify the spanset across units.
    pub key: Vec<(String, Value)>,
    /// All spanset attributes (aggregates and `by()` values), in pipeline order.
    pub attributes: Vec<(String, Value)>,
    pub spans: Vec<SpanResult>,
}

/// A matched trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceResult {
    pub trace_id: TraceId,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub root_service_name: Option<Arc<str>>,
    pub root_span_name: Option<Arc<str>>,
    /// Sorted by key.
    pub spansets: Vec<SpansetResult>,
    /// Sources that hold a portion (asked for service statistics).
    pub sources: BTreeSet<usize>,
    /// Summed over the portions, filled by the second pass.
    pub service_stats: Vec<ServiceStats>,
}

/// Result order: most recent first, then by trace ID.
pub type OrderKey = (std::cmp::Reverse<u64>, TraceId);

impl TraceResult {
    pub fn order_key(&self) -> OrderKey {
        (std::cmp::Reverse(self.start_unix_nano), self.trace_id)
    }

    /// Approximate bytes held (memory budget).
    pub fn memory_size(&self) -> usize {
        let spans: usize = self
            .spansets
            .iter()
            .map(|set| {
                set.spans
                    .iter()
                    .map(|span| {
                        std::mem::size_of::<SpanResult>()
                            + span
                                .attributes
                                .iter()
                                .map(|(key, value)| key.len() + value.memory_size())
                                .sum::<usize>()
                    })
                    .sum::<usize>()
                    + 64
            })
            .sum();
        std::mem::size_of::<TraceResult>() + spans
    }

    /// Merges another portion's result for the same trace into this one.
    pub fn merge(&mut self, other: TraceResult) {
        self.start_unix_nano = self.start_unix_nano.min(other.start_unix_nano);
        self.end_unix_nano = self.end_unix_nano.max(other.end_unix_nano);
        if self.root_span_name.is_none() {
            self.root_span_name = other.root_span_name;
            self.root_service_name = other.root_service_name;
        }
        self.sources.extend(other.sources);
        for set in other.spansets {
            match self.spansets.iter_mut().find(|known| known.key == set.key) {
                Some(known) => {
                    if set.spans.len() > known.spans.len() {
                        known.attributes = set.attributes;
                    }
                    let mut spans = std::mem::take(&mut known.spans);
                    spans.extend(set.spans);
                    known.spans = sorted_unique(spans);
                }
                None => self.spansets.push(set),
            }
        }
        sort_spansets(&mut self.spansets);
    }
}

fn sorted_unique(mut spans: Vec<SpanResult>) -> Vec<SpanResult> {
    spans.sort_by_key(|span| (span.span_id, span.origin));
    spans.dedup_by(|later, earlier| later.span_id == earlier.span_id);
    spans.sort_by_key(|span| (span.start_unix_nano, span.span_id));
    spans
}

fn sort_spansets(spansets: &mut [SpansetResult]) {
    spansets.sort_by(|a, b| {
        let key = |set: &SpansetResult| {
            set.key
                .iter()
                .map(|(name, value)| (name.clone(), group_key(value)))
                .collect::<Vec<_>>()
        };
        key(a).cmp(&key(b))
    });
}

/// Materialises the spansets of trace `info` of a batch.
pub fn trace_result(
    program: &Program,
    view: &BatchView<'_>,
    info: &TraceInfo,
    spansets: Vec<Spanset>,
    source: usize,
) -> TraceResult {
    let batch = view.batch;
    let trace = TraceValues::new(info, false);
    let mut results: Vec<SpansetResult> = spansets
        .into_iter()
        .map(|set| {
            let spans = set
                .rows
                .iter()
                .map(|row| {
                    let row = *row as usize;
                    let attributes = program
                        .shown
                        .iter()
                        .filter_map(|(key, attr)| {
                            let value = view.value(*attr, row, &trace, Cursor::default());
                            (!value.is_nil()).then(|| (key.clone(), value.into_owned()))
                        })
                        .collect();
                    SpanResult {
                        span_id: batch.spans.span_id.get(row).copied().unwrap_or_default(),
                        start_unix_nano: batch.spans.start_unix_nano[row],
                        duration_nano: batch.spans.duration_nano[row],
                        name: None,
                        attributes,
                        origin: Origin {
                            source,
                            row_ref: batch.spans.row_ref.get(row).copied().unwrap_or(row as u64),
                        },
                    }
                })
                .collect();
            SpansetResult {
                key: set
                    .attributes
                    .iter()
                    .filter(|attribute| attribute.group_key)
                    .map(|attribute| (attribute.name.clone(), attribute.value.clone()))
                    .collect(),
                attributes: set
                    .attributes
                    .into_iter()
                    .map(|attribute| (attribute.name, attribute.value))
                    .collect(),
                spans: sorted_unique(spans),
            }
        })
        .collect();
    // Several spansets with equal keys (e.g. coalesce-free pipelines) stay distinct only by
    // key; merge equal ones so the result does not depend on evaluation order.
    let mut merged: Vec<SpansetResult> = Vec::with_capacity(results.len());
    for set in results.drain(..) {
        match merged.iter_mut().find(|known| known.key == set.key) {
            Some(known) => {
                let mut spans = std::mem::take(&mut known.spans);
                spans.extend(set.spans);
                known.spans = sorted_unique(spans);
            }
            None => merged.push(set),
        }
    }
    sort_spansets(&mut merged);
    TraceResult {
        trace_id: info.trace_id,
        start_unix_nano: info.start_unix_nano,
        end_unix_nano: info.end_unix_nano,
        root_service_name: info.root_service_name.clone(),
        root_span_name: info.root_span_name.clone(),
        spansets: merged,
        sources: BTreeSet::from([source]),
        service_stats: Vec::new(),
    }
}
