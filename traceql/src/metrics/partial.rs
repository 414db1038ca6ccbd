//! Partial results: what one job (a block's row groups, an ingester's recent traces) computed,
//! in a form that merges exactly. Counts are integers (sampling multipliers are applied when the
//! query is finalized), min/max are `f64` (exact under any order), sums are [`ExactSum`]s, and
//! histogram buckets are power-of-two exponents. So any split of the input and any merge order
//! give the same partial, up to the order of its series.

use crate::error::{Error, Result};
use crate::metrics::compare::ComparePartial;
use crate::metrics::exact_sum::ExactSum;
use crate::metrics::exemplar::ExemplarSet;
use crate::metrics::labels::GroupKey;
use crate::metrics::series_table::{Bucket, SeriesCount, SeriesTable};
use crate::metrics::window::TimeWindow;

/// What the cells of a series hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// Span counts (`rate`, `count_over_time`, histogram and quantile buckets).
    Count,
    /// Smallest value (NaN: none yet).
    Min,
    /// Largest value (NaN: none yet).
    Max,
    /// Exact sum and count of values (`sum_over_time`, `avg_over_time`).
    Sum,
}

/// The partial result of one non-`compare()` leaf.
#[derive(Debug, Clone)]
pub struct SeriesPartial {
    pub(crate) kind: CellKind,
    pub(crate) window: TimeWindow,
    pub(crate) intervals: usize,
    pub(crate) table: SeriesTable,
    /// `series × intervals`; for `Count` and `Sum`.
    pub(crate) counts: Vec<u64>,
    /// `series × intervals`; for `Min` and `Max`.
    pub(crate) extremes: Vec<f64>,
    /// `series × intervals`; for `Sum`.
    pub(crate) sums: Vec<ExactSum>,
    /// Per label set, when exemplars are on (for histograms and quantiles, shared by the
    /// label set's bucket series).
    pub(crate) exemplars: Vec<ExemplarSet>,
    pub(crate) exemplar_limit: usize,
    pub(crate) inspected_spans: u64,
}

impl SeriesPartial {
    /// An empty partial.
    pub(crate) fn new(
        kind: CellKind,
        window: TimeWindow,
        bucketed: bool,
        count: SeriesCount,
        limits: (usize, usize),
    ) -> Self {
        let (max_series, exemplar_limit) = limits;
        SeriesPartial {
            kind,
            window,
            intervals: window.intervals(),
            table: SeriesTable::new(bucketed, count, max_series),
            counts: Vec::new(),
            extremes: Vec::new(),
            sums: Vec::new(),
            exemplars: Vec::new(),
            exemplar_limit,
            inspected_spans: 0,
        }
    }

    /// Allocates the cells of a new series.
    fn grow(&mut self) {
        let intervals = self.intervals;
        match self.kind {
            CellKind::Count => self.counts.resize(self.counts.len() + intervals, 0),
            CellKind::Min | CellKind::Max => self
                .extremes
                .resize(self.extremes.len() + intervals, f64::NAN),
            CellKind::Sum => {
                self.counts.resize(self.counts.len() + intervals, 0);
                self.sums
                    .resize_with(self.sums.len() + intervals, ExactSum::default);
            }
        }
    }

    /// The label set of `key`, created when missing and the cap allows (with its exemplar set
    /// and, without buckets, its series' cells).
    #[inline]
    pub(crate) fn label_set(&mut self, key: &GroupKey) -> Option<u32> {
        let before = self.table.label_sets().len();
        let label_set = self.table.label_set(key)?;
        if self.table.label_sets().len() > before {
            if self.exemplar_limit > 0 {
                self.exemplars.push(ExemplarSet::default());
            }
            if !self.table.is_bucketed() {
                self.grow();
            }
        }
        Some(label_set)
    }

    /// The bucket series of a label set, created (with cells) when missing and the cap allows.
    #[inline]
    pub(crate) fn bucket_series(&mut self, label_set: u32, bucket: Bucket) -> Option<usize> {
        let (series, new) = self.table.bucket_series(label_set, bucket)?;
        if new {
            self.grow();
        }
        Some(series as usize)
    }

    /// The time window.
    pub fn window(&self) -> &TimeWindow {
        &self.window
    }

    /// Number of series held.
    pub fn series_len(&self) -> usize {
        self.table.len()
    }

    /// `true` when the series cap refused some series.
    pub fn truncated(&self) -> bool {
        self.table.truncated()
    }

    /// Spans that reached the accumulator (after sampling).
    pub fn inspected_spans(&self) -> u64 {
        self.inspected_spans
    }

    /// Merges `other` into `self`. Both must come from the same leaf of the same query.
    pub fn merge(&mut self, other: &SeriesPartial) -> Result<()> {
        if self.kind != other.kind
            || self.window != other.window
            || self.table.is_bucketed() != other.table.is_bucketed()
        {
            return Err(Error::metrics_partial(
                "cannot merge partial results of different queries or time windows",
            ));
        }
        if other.table.truncated() {
            self.table.mark_truncated();
        }
        self.inspected_spans += other.inspected_spans;
        let intervals = self.intervals;
        for (other_set, key) in other.table.label_sets().iter().enumerate() {
            let Some(label_set) = self.label_set(key) else {
                continue;
            };
            if let (Some(into), Some(from)) = (
                self.exemplars.get_mut(label_set as usize),
                other.exemplars.get(other_set),
            ) {
                into.merge(from, self.exemplar_limit);
            }
        }
        for other_index in 0..other.table.len() {
            let (key, bucket) = other.table.series(other_index);
            let Some(target) = self.series_for(key, bucket) else {
                continue;
            };
            let (to, from) = (target * intervals, other_index * intervals);
            match self.kind {
                CellKind::Count => {
                    for cell in 0..intervals {
                        self.counts[to + cell] += other.counts[from + cell];
                    }
                }
                CellKind::Min | CellKind::Max => {
                    for cell in 0..intervals {
                        let value = other.extremes[from + cell];
                        merge_extreme(self.kind, &mut self.extremes[to + cell], value);
                    }
                }
                CellKind::Sum => {
                    for cell in 0..intervals {
                        self.counts[to + cell] += other.counts[from + cell];
                        self.sums[to + cell].merge(&other.sums[from + cell]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The series index of `(key, bucket)`, created (with cells) when missing and the cap
    /// allows.
    pub(crate) fn series_for(&mut self, key: &GroupKey, bucket: Option<Bucket>) -> Option<usize> {
        let label_set = self.label_set(key)?;
        match bucket {
            None => Some(self.table.plain_series(label_set) as usize),
            Some(bucket) => self.bucket_series(label_set, bucket),
        }
    }
}
/// Folds `value` into a min or max cell (NaN: no value).
#[inline]
pub(crate) fn merge_extreme(kind: CellKind, cell: &mut f64, value: f64) {
    if value.is_nan() {
        return;
    }
    if cell.is_nan()
        || (kind == CellKind::Min && value < *cell)
        || (kind == CellKind::Max && value > *cell)
    {
        *cell = value;
    }
}

/// The partial result of one leaf.
#[derive(Debug, Clone)]
pub enum Partial {
    Series(SeriesPartial),
    Compare(ComparePartial),
}

impl Partial {
    /// Merges another partial of the same leaf.
    pub fn merge(&mut self, other: &Partial) -> Result<()> {
        match (self, other) {
            (Partial::Series(into), Partial::Series(from)) => into.merge(from),
            (Partial::Compare(into), Partial::Compare(from)) => into.merge(from),
            _ => Err(Error::metrics_partial(
                "cannot merge a compare() partial with another function's",
            )),
        }
    }

    /// `true` when a series cap dropped data.
    pub fn truncated(&self) -> bool {
        match self {
            Partial::Series(partial) => partial.truncated(),
            Partial::Compare(partial) => partial.truncated(),
        }
    }

    /// Spans that reached the accumulator.
    pub fn inspected_spans(&self) -> u64 {
        match self {
            Partial::Series(partial) => partial.inspected_spans,
            Partial::Compare(partial) => partial.inspected_spans,
        }
    }
}

/// The partial result of a whole query: one [`Partial`] per leaf of its plan.
#[derive(Debug, Clone)]
pub struct QueryPartial {
    pub leaves: Vec<Partial>,
}

impl QueryPartial {
    /// Merges the partial of another job of the same query.
    pub fn merge(&mut self, other: &QueryPartial) -> Result<()> {
        if self.leaves.len() != other.leaves.len() {
            return Err(Error::metrics_partial(format!(
                "partial results have {} and {} leaves",
                self.leaves.len(),
                other.leaves.len()
            )));
        }
        for (into, from) in self.leaves.iter_mut().zip(&other.leaves) {
            into.merge(from)?;
        }
        Ok(())
    }

    /// `true` when a series cap dropped data in some leaf.
    pub fn truncated(&self) -> bool {
        self.leaves.iter().any(Partial::truncated)
    }

    /// Spans counted, over all leaves.
    pub fn inspected_spans(&self) -> u64 {
        self.leaves.iter().map(Partial::inspected_spans).sum()
    }
}
