//! The series of a partial result: label sets (the `by()` values) and, for histograms and
//! quantiles, a power-of-two bucket per series. Assigns dense indexes (cells are laid out series
//! by series) and enforces the per-query series cap.

use std::collections::HashMap;

use crate::metrics::labels::GroupKey;
use crate::metrics::log2::BucketUnit;

/// A histogram bucket: what the value measured and the exponent of its upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Bucket {
    pub duration: bool,
    pub exponent: u8,
}

impl Bucket {
    /// The unit of the bucket's bound.
    pub(crate) fn unit(self) -> BucketUnit {
        if self.duration {
            BucketUnit::Duration
        } else {
            BucketUnit::Int
        }
    }

    /// The reported upper bound (seconds for durations).
    pub(crate) fn bound(self) -> f64 {
        self.unit().bound(self.exponent)
    }

    /// Slot in a label set's bucket table.
    fn slot(self) -> usize {
        usize::from(self.exponent) + if self.duration { BUCKET_EXPONENTS } else { 0 }
    }
}

const BUCKET_EXPONENTS: usize = 65;
const BUCKET_SLOTS: usize = 2 * BUCKET_EXPONENTS;
const NO_SERIES: u32 = u32::MAX;

/// How output series are counted against the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesCount {
    /// One output series per table series.
    PerSeries,
    /// `n` output series per label set (`quantile_over_time` with `n` quantiles).
    PerLabelSet(usize),
}

/// Label sets, their bucket series and the cap.
#[derive(Debug, Clone)]
pub(crate) struct SeriesTable {
    label_sets: Vec<GroupKey>,
    label_set_index: HashMap<GroupKey, u32>,
    /// `(label set, bucket)` of each series.
    series: Vec<(u32, Option<Bucket>)>,
    /// Bucketed tables: per label set, series index per bucket slot.
    bucket_slots: Vec<[u32; BUCKET_SLOTS]>,
    bucketed: bool,
    count: SeriesCount,
    max_series: usize,
    truncated: bool,
}

impl SeriesTable {
    /// An empty table; `bucketed` for histograms and quantiles.
    pub(crate) fn new(bucketed: bool, count: SeriesCount, max_series: usize) -> Self {
        SeriesTable {
            label_sets: Vec::new(),
            label_set_index: HashMap::new(),
            series: Vec::new(),
            bucket_slots: Vec::new(),
            bucketed,
            count,
            max_series,
            truncated: false,
        }
    }

    /// Number of series (cells are `len() × intervals`).
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// `true` once a series was refused because of the cap.
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    pub(crate) fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// `true` for histogram and quantile tables.
    pub(crate) fn is_bucketed(&self) -> bool {
        self.bucketed
    }

    /// The label set and bucket of series `index`.
    pub(crate) fn series(&self, index: usize) -> (&GroupKey, Option<Bucket>) {
        let (label_set, bucket) = self.series[index];
        (&self.label_sets[label_set as usize], bucket)
    }

    /// All label sets.
    pub(crate) fn label_sets(&self) -> &[GroupKey] {
        &self.label_sets
    }

    /// Label set index of series `index`.
    pub(crate) fn label_set_of(&self, index: usize) -> usize {
        self.series[index].0 as usize
    }

    fn output_series(&self, label_sets: usize, series: usize) -> usize {
        match self.count {
            SeriesCount::PerSeries => series,
            SeriesCount::PerLabelSet(per_set) => label_sets.saturating_mul(per_set),
        }
    }

    /// The label set index of `key`, adding it if the cap allows; `None` when refused.
    pub(crate) fn label_set(&mut self, key: &GroupKey) -> Option<u32> {
        if let Some(index) = self.label_set_index.get(key) {
            return Some(*index);
        }
        let added_series = usize::from(!self.bucketed);
        let output =
            self.output_series(self.label_sets.len() + 1, self.series.len() + added_series);
        if output > self.max_series {
            self.truncated = true;
            return None;
        }
        let index = self.label_sets.len() as u32;
        self.label_sets.push(key.clone());
        self.label_set_index.insert(key.clone(), index);
        if self.bucketed {
            self.bucket_slots.push([NO_SERIES; BUCKET_SLOTS]);
        } else {
            self.series.push((index, None));
        }
        Some(index)
    }

    /// The series of a label set without buckets (non-bucketed tables: the same index).
    #[inline]
    pub(crate) fn plain_series(&self, label_set: u32) -> u32 {
        label_set
    }

    /// The series of `(label set, bucket)`, adding it if the cap allows. The returned flag is
    /// `true` when the series is new (its cells must be allocated).
    #[inline]
    pub(crate) fn bucket_series(&mut self, label_set: u32, bucket: Bucket) -> Option<(u32, bool)> {
        let existing = self.bucket_slots[label_set as usize][bucket.slot()];
        if existing != NO_SERIES {
            return Some((existing, false));
        }
        if self.output_series(self.label_sets.len(), self.series.len() + 1) > self.max_series {
            self.truncated = true;
            return None;
        }
        let index = self.series.len() as u32;
        self.series.push((label_set, Some(bucket)));
        self.bucket_slots[label_set as usize][bucket.slot()] = index;
        Some((index, true))
    }
}
