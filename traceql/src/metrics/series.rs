//! Final series: labels, one value per interval (NaN: no sample) and exemplars. The second
//! stage, arithmetic and the API output work on these.

use crate::metrics::labels::{Label, labels_text};

/// An exemplar of a final series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplar {
    /// Lowercase hex, leading zeros trimmed (how Tempo prints trace IDs).
    pub trace_id: String,
    /// 16 hex characters.
    pub span_id: String,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// One final series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<Label>,
    /// One per interval of the window; NaN where there is no sample.
    pub values: Vec<f64>,
    pub exemplars: Vec<SeriesExemplar>,
}

impl Series {
    /// A series without exemplars.
    pub fn new(labels: Vec<Label>, values: Vec<f64>) -> Self {
        Series {
            labels,
            values,
            exemplars: Vec::new(),
        }
    }

    /// The label set's text (`{a="x"}`), a stable identity.
    pub fn key(&self) -> String {
        labels_text(&self.labels)
    }

    /// `true` when every value is NaN.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(|value| value.is_nan())
    }
}

/// The series of a query result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesSet {
    pub series: Vec<Series>,
    /// Set when a series cap dropped data (the answer is then partial).
    pub truncated: bool,
}

impl SeriesSet {
    /// Sorts the series by their label text (the order of every answer) and drops series
    /// without samples.
    pub fn normalize(&mut self) {
        self.series.retain(|series| !series.is_empty());
        let mut keyed: Vec<(String, Series)> = self
            .series
            .drain(..)
            .map(|series| (series.key(), series))
            .collect();
        keyed.sort_by(|left, right| left.0.cmp(&right.0));
        self.series = keyed.into_iter().map(|(_, series)| series).collect();
    }

    /// The series whose label text is `key`.
    pub fn get(&self, key: &str) -> Option<&Series> {
        self.series.iter().find(|series| series.key() == key)
    }
}
