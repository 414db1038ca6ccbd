//! `compare({ filter }, topN, start, end)` (spec §10.5): splits surviving spans into a
//! selection (matching the filter, inside the optional `[start, end)` window) and a baseline (the
//! rest) and counts, per side, every value of every attribute of the spans per interval, plus a
//! per-attribute total. The final answer keeps the top-N values per attribute by frequency and
//! flags attributes with more values (`__meta_error="__too_many_values__"`).
//!
//! Partials keep every value of an attribute (up to [`VALUES_PER_ATTRIBUTE`] per side, beyond
//! which the attribute is flagged and new values are no longer counted), so the top-N choice is
//! made once, on the merged counts, and does not depend on the job split.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::{Attribute, Intrinsic};
use crate::error::{Error, Result};
use crate::fetch::ValueColumn;
use crate::metrics::input::{SpanRows, TraceField, row_traces, trace_values};
use crate::metrics::labels::{
    Label, META_ERROR_LABEL, META_TYPE_LABEL, ValueKey, label_name, labels_text,
};
use crate::metrics::series::{Series, SeriesSet};
use crate::metrics::window::{SpanStarts, TimeWindow};
use crate::value::Value;

/// Distinct values per attribute and side a partial keeps.
pub const VALUES_PER_ATTRIBUTE: usize = 1000;
const TOO_MANY_VALUES: &str = "__too_many_values__";

/// The counts of one attribute on one side.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttributeCounts {
    pub(crate) values: Vec<Value>,
    index: HashMap<ValueKey, usize>,
    /// `values × intervals`.
    pub(crate) counts: Vec<u64>,
    /// Spans with the attribute, per interval.
    pub(crate) totals: Vec<u64>,
    /// Values were dropped because of [`VALUES_PER_ATTRIBUTE`].
    pub(crate) overflow: bool,
}

impl AttributeCounts {
    fn with_intervals(intervals: usize) -> Self {
        AttributeCounts {
            totals: vec![0; intervals],
            ..Default::default()
        }
    }

    /// Counts read from the wire (validated lengths).
    pub(crate) fn decoded(
        values: Vec<Value>,
        counts: Vec<u64>,
        totals: Vec<u64>,
        overflow: bool,
    ) -> Self {
        let index = values
            .iter()
            .enumerate()
            .map(|(slot, value)| (ValueKey(value.clone()), slot))
            .collect();
        AttributeCounts {
            values,
            index,
            counts,
            totals,
            overflow,
        }
    }

    /// Adds `amount` spans with `value` at `interval`.
    fn add(&mut self, value: &Value, interval: usize, amount: u64, intervals: usize) {
        self.totals[interval] += amount;
        let slot = match self.index.get(&ValueKey(value.clone())) {
            Some(slot) => *slot,
            None => {
                if self.values.len() >= VALUES_PER_ATTRIBUTE {
                    self.overflow = true;
                    return;
                }
                self.values.push(value.clone());
                self.counts.resize(self.counts.len() + intervals, 0);
                self.index
                    .insert(ValueKey(value.clone()), self.values.len() - 1);
                self.values.len() - 1
            }
        };
        self.counts[slot * intervals + interval] += amount;
    }
}

/// One side (selection or baseline).
#[derive(Debug, Clone, Default)]
pub(crate) struct CompareSide {
    pub(crate) attributes: Vec<(Arc<str>, AttributeCounts)>,
    index: HashMap<Arc<str>, usize>,
}

impl CompareSide {
    /// Adds an attribute read from the wire.
    pub(crate) fn push_decoded(&mut self, label: Arc<str>, counts: AttributeCounts) {
        self.index.insert(label.clone(), self.attributes.len());
        self.attributes.push((label, counts));
    }

    fn attribute(&mut self, label: &Arc<str>, intervals: usize) -> &mut AttributeCounts {
        let slot = match self.index.get(label) {
            Some(slot) => *slot,
            None => {
                self.attributes
                    .push((label.clone(), AttributeCounts::with_intervals(intervals)));
                self.index.insert(label.clone(), self.attributes.len() - 1);
                self.attributes.len() - 1
            }
        };
        &mut self.attributes[slot].1
    }
}

/// The partial result of a `compare()` leaf.
#[derive(Debug, Clone)]
pub struct ComparePartial {
    pub(crate) window: TimeWindow,
    pub(crate) intervals: usize,
    pub(crate) selection: CompareSide,
    pub(crate) baseline: CompareSide,
    pub(crate) inspected_spans: u64,
}

impl ComparePartial {
    /// An empty partial.
    pub fn new(window: TimeWindow) -> Self {
        ComparePartial {
            window,
            intervals: window.intervals(),
            selection: CompareSide::default(),
            baseline: CompareSide::default(),
            inspected_spans: 0,
        }
    }

    /// `true` when some attribute had more values than a partial keeps.
    pub fn truncated(&self) -> bool {
        self.selection
            .attributes
            .iter()
            .chain(&self.baseline.attributes)
            .any(|(_, counts)| counts.overflow)
    }

    /// Merges another partial of the same leaf.
    pub fn merge(&mut self, other: &ComparePartial) -> Result<()> {
        if self.window != other.window {
            return Err(Error::metrics_partial(
                "cannot merge compare() partials of different time windows",
            ));
        }
        let intervals = self.intervals;
        self.inspected_spans += other.inspected_spans;
        for (into, from) in [
            (&mut self.selection, &other.selection),
            (&mut self.baseline, &other.baseline),
        ] {
            for (label, counts) in &from.attributes {
                let target = into.attribute(label, intervals);
                target.overflow |= counts.overflow;
                for (interval, total) in counts.totals.iter().enumerate() {
                    target.totals[interval] += total;
                }
                for (slot, value) in counts.values.iter().enumerate() {
                    for interval in 0..intervals {
                        let amount = counts.counts[slot * intervals + interval];
                        if amount > 0 {
                            add_value_only(target, value, interval, amount, intervals);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Adds to a value's cell without touching the totals (merging: totals are merged apart).
fn add_value_only(
    target: &mut AttributeCounts,
    value: &Value,
    interval: usize,
    amount: u64,
    intervals: usize,
) {
    let before = target.totals[interval];
    target.add(value, interval, amount, intervals);
    target.totals[interval] = before;
}

/// `true` for attributes compare() never groups by: IDs, durations, structure, start times.
fn skipped(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::Duration
                | Intrinsic::TraceDuration
                | Intrinsic::TraceId
                | Intrinsic::SpanId
                | Intrinsic::SpanParentId
                | Intrinsic::NestedSetLeft
                | Intrinsic::NestedSetRight
                | Intrinsic::NestedSetParent
                | Intrinsic::Parent
        )
    )
}

/// Accumulates one `compare()` leaf.
#[derive(Debug)]
pub struct CompareAccumulator {
    window: Option<(u64, u64)>,
    span_starts: SpanStarts,
    partial: ComparePartial,
    row_traces: Vec<u32>,
}

impl CompareAccumulator {
    /// An accumulator for `compare()` with the selection window `[start, end)` (unix ns).
    pub fn new(window: TimeWindow, selection_window: Option<(u64, u64)>) -> Self {
        CompareAccumulator {
            window: selection_window,
            span_starts: SpanStarts::ALL,
            partial: ComparePartial::new(window),
            row_traces: Vec::new(),
        }
    }

    /// The same accumulator counting only the spans of `span_starts` (a job's share).
    pub fn within(mut self, span_starts: SpanStarts) -> Self {
        self.span_starts = span_starts;
        self
    }

    /// Adds the surviving spans of a batch; `matches_filter[row]` tells whether a row matches
    /// the comparison filter (evaluated by the engine over the batch's rows).
    pub fn observe(&mut self, input: &SpanRows<'_>, matches_filter: &[bool]) {
        let batch = input.batch;
        let columns: Vec<(Arc<str>, &ValueColumn)> = batch
            .span_values
            .iter()
            .filter(|(attribute, _)| !skipped(attribute))
            .map(|(attribute, column)| (label_name(attribute), column))
            .collect();
        let root_service = trace_values(batch, TraceField::RootServiceName);
        let root_name = trace_values(batch, TraceField::RootSpanName);
        let trace_labels = [
            (
                label_name(&Attribute::Intrinsic(Intrinsic::TraceRootService)),
                &root_service,
            ),
            (
                label_name(&Attribute::Intrinsic(Intrinsic::TraceRootName)),
                &root_name,
            ),
        ];
        let mut row_trace = std::mem::take(&mut self.row_traces);
        row_traces(batch, &mut row_trace);
        let window = self.partial.window.mapper_within(self.span_starts);
        let intervals = self.partial.intervals;
        let mut inspected = 0;
        input.for_each(|row| {
            let Some(start) = batch.spans.start_unix_nano.get(row).copied() else {
                return;
            };
            let Some(interval) = window.interval_of(start) else {
                return;
            };
            inspected += 1;
            let in_window = self
                .window
                .is_none_or(|(from, to)| start >= from && start < to);
            let selected = in_window && matches_filter.get(row).copied().unwrap_or(false);
            let side = if selected {
                &mut self.partial.selection
            } else {
                &mut self.partial.baseline
            };
            for (label, column) in &columns {
                let value = column.get(row);
                if value.is_nil() || matches!(value, Value::Duration(_)) {
                    continue;
                }
                side.attribute(label, intervals)
                    .add(value, interval, 1, intervals);
            }
            let trace = row_trace[row] as usize;
            for (label, values) in &trace_labels {
                if let Some(value) = values.get(trace).filter(|value| !value.is_nil()) {
                    side.attribute(label, intervals)
                        .add(value, interval, 1, intervals);
                }
            }
        });
        self.partial.inspected_spans += inspected;
        self.row_traces = row_trace;
    }

    /// The partial result.
    pub fn finish(self) -> ComparePartial {
        self.partial
    }
}

/// The final series of a merged `compare()` partial (sampling `multiplier` applied).
pub(crate) fn finalize_compare(
    partial: &ComparePartial,
    top_n: usize,
    multiplier: f64,
) -> SeriesSet {
    let mut set = SeriesSet::default();
    let mut errored: Vec<Arc<str>> = Vec::new();
    let scale = |counts: &[u64]| -> Vec<f64> {
        counts
            .iter()
            .map(|count| *count as f64 * multiplier)
            .collect()
    };
    let intervals = partial.intervals;
    for (side, name, total_name) in [
        (&partial.baseline, "baseline", "baseline_total"),
        (&partial.selection, "selection", "selection_total"),
    ] {
        for (label, counts) in &side.attributes {
            let mut order: Vec<(u64, String, usize)> = counts
                .values
                .iter()
                .enumerate()
                .map(|(slot, value)| {
                    let total = counts.counts[slot * intervals..(slot + 1) * intervals]
                        .iter()
                        .sum();
                    let text = labels_text(&[Label::new(label.clone(), value.clone())]);
                    (total, text, slot)
                })
                .collect();
            order.sort_by(|left, right| right.0.cmp(&left.0).then_with(|| left.1.cmp(&right.1)));
            for (_, _, slot) in order.iter().take(top_n) {
                set.series.push(Series::new(
                    vec![
                        Label::new(META_TYPE_LABEL, Value::string(name)),
                        Label::new(label.clone(), counts.values[*slot].clone()),
                    ],
                    scale(&counts.counts[slot * intervals..(slot + 1) * intervals]),
                ));
            }
            if (counts.values.len() > top_n || counts.overflow) && !errored.contains(label) {
                errored.push(label.clone());
            }
            set.series.push(Series::new(
                vec![
                    Label::new(META_TYPE_LABEL, Value::string(total_name)),
                    Label::new(label.clone(), Value::Nil),
                ],
                scale(&counts.totals),
            ));
        }
    }
    for label in errored {
        set.series.push(Series::new(
            vec![
                Label::new(META_ERROR_LABEL, Value::string(TOO_MANY_VALUES)),
                Label::new(label, Value::Nil),
            ],
            vec![0.0; intervals],
        ));
    }
    set
}
