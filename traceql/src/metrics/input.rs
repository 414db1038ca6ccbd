//! How surviving spans reach the accumulators: a [`SpanBatch`] and the rows of it that passed
//! the span pipeline, plus (for `compare()`) which of them match the comparison filter. Columns
//! are resolved once per batch ([`resolve`]) and read by row without allocating: dictionary
//! columns by key, span start and duration straight from [`SpanColumns`](crate::fetch::SpanColumns),
//! trace-level intrinsics from the batch's [`TraceInfo`](crate::fetch::TraceInfo).

use std::sync::Arc;

use crate::ast::{Attribute, AttributeScope, Intrinsic};
use crate::fetch::{SpanBatch, ValueColumn};
use crate::value::Value;

/// The spans of a batch that survived a leaf's span pipeline.
#[derive(Debug, Clone, Copy)]
pub struct SpanRows<'a> {
    pub batch: &'a SpanBatch,
    /// Surviving rows, ascending without duplicates; `None`: every row.
    pub rows: Option<&'a [u32]>,
}

impl<'a> SpanRows<'a> {
    /// Every row of `batch`.
    pub fn all(batch: &'a SpanBatch) -> Self {
        SpanRows { batch, rows: None }
    }

    /// Rows `rows` of `batch`.
    pub fn selected(batch: &'a SpanBatch, rows: &'a [u32]) -> Self {
        SpanRows {
            batch,
            rows: Some(rows),
        }
    }

    /// Calls `visit` with every surviving row, in order.
    #[inline]
    pub fn for_each(&self, mut visit: impl FnMut(usize)) {
        match self.rows {
            Some(rows) => rows.iter().for_each(|row| visit(*row as usize)),
            None => (0..self.batch.span_rows()).for_each(visit),
        }
    }

    /// Number of surviving rows.
    pub fn len(&self) -> usize {
        self.rows.map_or(self.batch.span_rows(), <[u32]>::len)
    }

    /// `true` when no row survived.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A trace-level intrinsic, read from [`TraceInfo`](crate::fetch::TraceInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceField {
    RootServiceName,
    RootSpanName,
    Duration,
    TraceId,
}

/// Where an attribute's per-row values come from in one batch.
#[derive(Debug, Clone)]
pub enum Column<'a> {
    /// Nil for every row.
    Missing,
    /// A span-level column.
    Values(&'a ValueColumn),
    /// The first non-nil of several columns (unscoped `.x`: span, then resource).
    FirstOf(Vec<&'a ValueColumn>),
    /// The span duration column (nanoseconds).
    SpanDuration,
    /// One value per trace (needs each row's trace).
    Trace(TraceField),
}

/// Resolves `attribute` against `batch` (spec §10.3 lookups: unscoped `.x` is the span value,
/// else the resource value, as Tempo's `by()` does).
pub fn resolve<'a>(batch: &'a SpanBatch, attribute: &Attribute) -> Column<'a> {
    match attribute {
        Attribute::Intrinsic(Intrinsic::Duration) => Column::SpanDuration,
        Attribute::Intrinsic(Intrinsic::TraceRootService) => {
            Column::Trace(TraceField::RootServiceName)
        }
        Attribute::Intrinsic(Intrinsic::TraceRootName) => Column::Trace(TraceField::RootSpanName),
        Attribute::Intrinsic(Intrinsic::TraceDuration) => Column::Trace(TraceField::Duration),
        Attribute::Intrinsic(Intrinsic::TraceId) => Column::Trace(TraceField::TraceId),
        Attribute::Custom {
            scope: AttributeScope::Unscoped,
            name,
        } => {
            let columns: Vec<&ValueColumn> = [AttributeScope::Span, AttributeScope::Resource]
                .into_iter()
                .filter_map(|scope| {
                    batch.span_column(&Attribute::Custom {
                        scope,
                        name: name.clone(),
                    })
                })
                .collect();
            match columns.len() {
                0 => Column::Missing,
                1 => Column::Values(columns[0]),
                _ => Column::FirstOf(columns),
            }
        }
        other => batch
            .span_column(other)
            .map_or(Column::Missing, Column::Values),
    }
}

impl Column<'_> {
    /// `true` when values depend on the row's trace.
    pub fn is_trace_level(&self) -> bool {
        matches!(self, Column::Trace(_))
    }
}

/// The per-trace values of a trace-level field for one batch.
pub(crate) fn trace_values(batch: &SpanBatch, field: TraceField) -> Vec<Value> {
    let text = |text: &Option<Arc<str>>| {
        text.as_ref()
            .map_or(Value::Nil, |t| Value::String(t.clone()))
    };
    batch
        .traces
        .iter()
        .map(|trace| match field {
            TraceField::RootServiceName => text(&trace.root_service_name),
            TraceField::RootSpanName => text(&trace.root_span_name),
            TraceField::Duration => {
                Value::Duration(trace.end_unix_nano.saturating_sub(trace.start_unix_nano) as i64)
            }
            TraceField::TraceId => Value::String(Arc::from(trace.trace_id.to_hex_trimmed())),
        })
        .collect()
}

/// The trace index of every row of `batch` (`u32::MAX` for a row outside every trace), written
/// into a reused buffer.
pub(crate) fn row_traces(batch: &SpanBatch, out: &mut Vec<u32>) {
    out.clear();
    out.resize(batch.span_rows(), u32::MAX);
    for (index, trace) in batch.traces.iter().enumerate() {
        let end = trace.rows.end.min(out.len());
        if trace.rows.start < end {
            out[trace.rows.start..end].fill(index as u32);
        }
    }
}

/// A numeric span value as the metrics functions read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
}

impl Number {
    /// From a run-time value (`None` for non-numeric values and nil).
    #[inline]
    pub fn of(value: &Value) -> Option<Number> {
        match value {
            Value::Int(number) => Some(Number::Int(*number)),
            Value::Float(number) if !number.is_nan() => Some(Number::Float(*number)),
            Value::Duration(nanos) => Some(Number::Duration(*nanos)),
            _ => None,
        }
    }

    /// As reported: durations in seconds.
    #[inline]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(number) => number as f64,
            Number::Float(number) => number,
            Number::Duration(nanos) => nanos as f64 / 1e9,
        }
    }
}
