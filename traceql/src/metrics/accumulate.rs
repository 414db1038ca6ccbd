//! The first-stage accumulator of every function but `compare()`: reads surviving rows of a
//! batch (span start, `by()` values, the function's attribute), applies sampling and the time
//! window, and adds each span to its series' interval cell. The loop allocates nothing per span:
//! per-batch tables map dictionary keys (or other batch-local ids) to series.

use crate::ast::Attribute;
use crate::fetch::{SpanBatch, ValueColumn};
use crate::metrics::exemplar::Exemplar;
use crate::metrics::group::BatchGroups;
use crate::metrics::hints::{Sampling, keeps, mix64, trace_hash};
use crate::metrics::input::{Column, Number, SpanRows, resolve, row_traces, trace_values};
use crate::metrics::log2::bucket_exponent;
use crate::metrics::partial::{CellKind, SeriesPartial, merge_extreme};
use crate::metrics::plan::{FirstStage, Function};
use crate::metrics::series_table::{Bucket, SeriesCount};
use crate::metrics::window::{SpanStarts, TimeWindow};
use crate::value::Value;

/// Limits and options every accumulator of a query shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccumulatorOptions {
    pub window: TimeWindow,
    /// Cap on output series per leaf; further series are dropped and the result is partial.
    pub max_series: usize,
    /// Exemplars per series (0: none; needs span IDs in the batches).
    pub max_exemplars: usize,
    pub sampling: Sampling,
    /// The span starts the job counts.
    pub span_starts: SpanStarts,
}

/// Per-row numeric values of the function's attribute in one batch.
enum Numbers<'a> {
    Missing,
    Duration(&'a [u64]),
    Dict {
        keys: &'a [u32],
        numbers: Vec<Option<Number>>,
    },
    Plain(&'a [Value]),
    FirstOf(Vec<&'a ValueColumn>),
    Trace(Vec<Option<Number>>),
}

impl<'a> Numbers<'a> {
    fn new(batch: &'a SpanBatch, attribute: &Attribute) -> Numbers<'a> {
        match resolve(batch, attribute) {
            Column::Missing => Numbers::Missing,
            Column::SpanDuration => Numbers::Duration(&batch.spans.duration_nano),
            Column::Values(ValueColumn::Dict { keys, values }) => Numbers::Dict {
                keys,
                numbers: values.iter().map(Number::of).collect(),
            },
            Column::Values(ValueColumn::Plain(values)) => Numbers::Plain(values),
            Column::FirstOf(columns) => Numbers::FirstOf(columns),
            Column::Trace(field) => {
                Numbers::Trace(trace_values(batch, field).iter().map(Number::of).collect())
            }
        }
    }

    #[inline]
    fn get(&self, row: usize, trace: u32) -> Option<Number> {
        match self {
            Numbers::Missing => None,
            Numbers::Duration(durations) => durations
                .get(row)
                .map(|nanos| Number::Duration(*nanos as i64)),
            Numbers::Dict { keys, numbers } => keys
                .get(row)
                .and_then(|key| numbers.get(*key as usize).copied().flatten()),
            Numbers::Plain(values) => values.get(row).and_then(Number::of),
            Numbers::FirstOf(columns) => columns
                .iter()
                .map(|column| column.get(row))
                .find(|value| !value.is_nil())
                .and_then(Number::of),
            Numbers::Trace(numbers) => numbers.get(trace as usize).copied().flatten(),
        }
    }

    fn is_trace_level(&self) -> bool {
        matches!(self, Numbers::Trace(_))
    }
}

/// The bucket of a value: ints and durations ≥ 2 (floats are not bucketed).
#[inline]
fn bucket_of(number: Number) -> Option<Bucket> {
    match number {
        Number::Int(value) if value >= 2 => bucket_exponent(value as u64).map(|exponent| Bucket {
            duration: false,
            exponent,
        }),
        Number::Duration(nanos) if nanos >= 2 => {
            bucket_exponent(nanos as u64).map(|exponent| Bucket {
                duration: true,
                exponent,
            })
        }
        _ => None,
    }
}

/// Accumulates one leaf (any function but `compare()`).
#[derive(Debug)]
pub struct SeriesAccumulator {
    by: Vec<Attribute>,
    value: Option<Attribute>,
    bucketed: bool,
    sampling: Sampling,
    span_starts: SpanStarts,
    partial: SeriesPartial,
    row_traces: Vec<u32>,
    /// Whether the counting fast path may run (tests compare it with the general loop).
    fast_path: bool,
}

impl SeriesAccumulator {
    /// An accumulator for `leaf` (`None` for `compare()`, see
    /// [`CompareAccumulator`](crate::metrics::compare::CompareAccumulator)).
    pub fn new(leaf: &FirstStage, options: &AccumulatorOptions) -> Option<SeriesAccumulator> {
        let (kind, bucketed, count) = match &leaf.function {
            Function::Rate | Function::CountOverTime => {
                (CellKind::Count, false, SeriesCount::PerSeries)
            }
            Function::MinOverTime(_) => (CellKind::Min, false, SeriesCount::PerSeries),
            Function::MaxOverTime(_) => (CellKind::Max, false, SeriesCount::PerSeries),
            Function::SumOverTime(_) | Function::AvgOverTime(_) => {
                (CellKind::Sum, false, SeriesCount::PerSeries)
            }
            Function::HistogramOverTime(_) => (CellKind::Count, true, SeriesCount::PerSeries),
            Function::QuantileOverTime { quantiles, .. } => (
                CellKind::Count,
                true,
                SeriesCount::PerLabelSet(quantiles.len().max(1)),
            ),
            Function::Compare { .. } => return None,
        };
        Some(SeriesAccumulator {
            by: leaf
                .by
                .iter()
                .map(|group| group.attribute.clone())
                .collect(),
            value: leaf.function.value_attribute().cloned(),
            bucketed,
            sampling: options.sampling,
            span_starts: options.span_starts,
            partial: SeriesPartial::new(
                kind,
                options.window,
                bucketed,
                count,
                (options.max_series, options.max_exemplars),
            ),
            row_traces: Vec::new(),
            fast_path: true,
        })
    }

    /// The same accumulator without the counting fast path (for tests: both must agree).
    #[cfg(test)]
    pub(crate) fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// Adds the surviving spans of one batch.
    pub fn observe(&mut self, input: &SpanRows<'_>) {
        let batch = input.batch;
        let mut groups = BatchGroups::new(batch, &self.by);
        if self.fast_path
            && self.partial.kind == CellKind::Count
            && !self.bucketed
            && self.sampling.is_exact()
            && let Some(keys) = groups.dictionary_keys()
        {
            self.count_dictionary(input, keys, &mut groups);
            return;
        }
        let numbers = self
            .value
            .as_ref()
            .map(|attribute| Numbers::new(batch, attribute));
        let exemplars = self.partial.exemplar_limit > 0 && !batch.spans.span_id.is_empty();
        let needs_traces = groups.needs_traces()
            || numbers.as_ref().is_some_and(Numbers::is_trace_level)
            || !self.sampling.is_exact()
            || exemplars;
        let mut row_traces = std::mem::take(&mut self.row_traces);
        if needs_traces {
            row_traces_into(batch, &mut row_traces);
        }
        let trace_hashes: Vec<u64> = if !self.sampling.is_exact() || exemplars {
            batch
                .traces
                .iter()
                .map(|trace| trace_hash(trace.trace_id.as_bytes()))
                .collect()
        } else {
            Vec::new()
        };
        let window = self.partial.window.mapper_within(self.span_starts);
        let intervals = self.partial.intervals;
        let kind = self.partial.kind;
        let bucketed = self.bucketed;
        let sampling = self.sampling;
        let starts = &batch.spans.start_unix_nano;
        let mut inspected = 0u64;
        input.for_each(|row| {
            let trace = if needs_traces { row_traces[row] } else { 0 };
            let Some(start) = starts.get(row).copied() else {
                return;
            };
            if !sampling.is_exact() && !sampled(&sampling, &trace_hashes, trace, start, batch, row)
            {
                return;
            }
            let Some(interval) = window.interval_of(start) else {
                return;
            };
            inspected += 1;
            let Some(label_set) = groups.label_set(row, trace, &mut self.partial) else {
                return;
            };
            let number = numbers.as_ref().and_then(|numbers| numbers.get(row, trace));
            let mut bucket = None;
            let series = if bucketed {
                bucket = number.and_then(bucket_of);
                let Some(bucket) = bucket else {
                    return;
                };
                match self.partial.bucket_series(label_set, bucket) {
                    Some(series) => series,
                    None => return,
                }
            } else {
                label_set as usize
            };
            let cell = series * intervals + interval;
            match kind {
                CellKind::Count => self.partial.counts[cell] += 1,
                CellKind::Min | CellKind::Max => {
                    if let Some(number) = number {
                        merge_extreme(kind, &mut self.partial.extremes[cell], number.as_f64());
                    }
                }
                CellKind::Sum => {
                    if let Some(number) = number {
                        self.partial.counts[cell] += 1;
                        let sum = &mut self.partial.sums[cell];
                        match number {
                            Number::Int(value) => sum.add_int(value),
                            Number::Float(value) => sum.add_float(value),
                            Number::Duration(nanos) => sum.add_duration_nanos(nanos),
                        }
                    }
                }
            }
            // a value function's exemplar is a span that has the value
            if exemplars && (numbers.is_none() || number.is_some()) {
                offer_exemplar(
                    &mut self.partial,
                    batch,
                    Candidate {
                        label_set,
                        trace: trace as usize,
                        row,
                        score: trace_hashes.get(trace as usize).copied().unwrap_or(0),
                        start_unix_nano: start,
                        value: number.map_or(f64::NAN, Number::as_f64),
                        bucket,
                    },
                );
            }
        });
        self.partial.inspected_spans += inspected;
        self.row_traces = row_traces;
    }

    /// The counting fast path (`rate`, `count_over_time` without sampling, grouped by at most
    /// one dictionary column: M1's shape): a tight loop over keys and start times, trace by
    /// trace, with the exemplar pre-check once per trace and series.
    fn count_dictionary(
        &mut self,
        input: &SpanRows<'_>,
        keys: Option<(&[u32], u32)>,
        groups: &mut BatchGroups<'_>,
    ) {
        let batch = input.batch;
        let starts = &batch.spans.start_unix_nano;
        let window = self.partial.window.mapper_within(self.span_starts);
        let intervals = self.partial.intervals;
        let exemplars = self.partial.exemplar_limit > 0 && !batch.spans.span_id.is_empty();
        let mut inspected = 0u64;
        let mut count = |row: usize, trace: usize, score: u64| {
            let Some(start) = starts.get(row).copied() else {
                return;
            };
            let Some(interval) = window.interval_of(start) else {
                return;
            };
            inspected += 1;
            let local = match keys {
                None => 0,
                Some((keys, values)) => keys.get(row).map_or(values, |key| (*key).min(values)),
            };
            let Some(label_set) = groups.label_set_of_local(local, &mut self.partial) else {
                return;
            };
            self.partial.counts[label_set as usize * intervals + interval] += 1;
            if exemplars {
                offer_exemplar(
                    &mut self.partial,
                    batch,
                    Candidate {
                        label_set,
                        trace,
                        row,
                        score,
                        start_unix_nano: start,
                        value: f64::NAN,
                        bucket: None,
                    },
                );
            }
        };
        // Rows ascend: walk the traces alongside (a trace's score once per trace).
        let traces = &batch.traces;
        let mut trace = 0;
        let mut score = None;
        let mut visit = |row: usize| {
            while traces.get(trace).is_some_and(|info| info.rows.end <= row) {
                trace += 1;
                score = None;
            }
            match traces.get(trace) {
                Some(info) if info.rows.contains(&row) => {
                    let score = *score.get_or_insert_with(|| {
                        if exemplars {
                            trace_hash(info.trace_id.as_bytes())
                        } else {
                            0
                        }
                    });
                    count(row, trace, score);
                }
                // a row outside every trace is counted, without an exemplar
                _ => count(row, usize::MAX, 0),
            }
        };
        match input.rows {
            Some(rows) => rows.iter().for_each(|row| visit(*row as usize)),
            None => (0..starts.len()).for_each(&mut visit),
        }
        self.partial.inspected_spans += inspected;
    }

    /// The partial result so far.
    pub fn partial(&self) -> &SeriesPartial {
        &self.partial
    }

    /// The partial result.
    pub fn finish(self) -> SeriesPartial {
        self.partial
    }
}

/// A span offered as an exemplar of label set `label_set`: row `row` of trace `trace` of the
/// batch, with its trace's score.
struct Candidate {
    label_set: u32,
    trace: usize,
    row: usize,
    score: u64,
    start_unix_nano: u64,
    value: f64,
    bucket: Option<Bucket>,
}

/// Offers `candidate` to its series' exemplars (the cheap score check first).
#[inline]
fn offer_exemplar(partial: &mut SeriesPartial, batch: &SpanBatch, candidate: Candidate) {
    let limit = partial.exemplar_limit;
    if let Some(set) = partial.exemplars.get_mut(candidate.label_set as usize)
        && !set.rejects(candidate.score, limit)
        && let (Some(trace_info), Some(span_id)) = (
            batch.traces.get(candidate.trace),
            batch.spans.span_id.get(candidate.row),
        )
    {
        set.offer(
            Exemplar {
                score: candidate.score,
                trace_id: trace_info.trace_id,
                span_id: *span_id,
                start_unix_nano: candidate.start_unix_nano,
                value: candidate.value,
                bucket: candidate.bucket,
            },
            limit,
        );
    }
}

fn row_traces_into(batch: &SpanBatch, out: &mut Vec<u32>) {
    row_traces(batch, out);
}

/// Deterministic sampling: traces by the hash of their ID, spans by a hash of the trace, the
/// start time and the duration, so every partial keeps the same spans.
#[inline]
fn sampled(
    sampling: &Sampling,
    trace_hashes: &[u64],
    trace: u32,
    start: u64,
    batch: &SpanBatch,
    row: usize,
) -> bool {
    let hash = trace_hashes.get(trace as usize).copied().unwrap_or(0);
    if let Some(rate) = sampling.trace_rate
        && !keeps(hash, rate)
    {
        return false;
    }
    if let Some(rate) = sampling.span_rate {
        let duration = batch.spans.duration_nano.get(row).copied().unwrap_or(0);
        let span_hash = mix64(hash ^ mix64(start ^ mix64(duration)));
        if !keeps(span_hash, rate) {
            return false;
        }
    }
    true
}
