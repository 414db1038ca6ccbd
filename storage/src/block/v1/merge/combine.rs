//! Combining the copies of one trace from several inputs.
//!
//! Spans with the same span ID and kind are kept once, the first copy in input order. When the
//! survivors are exactly one input's rows, those rows are copied as they are. Otherwise the
//! trace-level columns, the depth-first order, parent indexes and nested-set numbers are
//! recomputed from the surviving spans with the block writer's own rules
//! (`contrail_traceql::structure::nested_set`), so the trace is stored as if it had been written in one piece.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::Array;

use crate::block::v1::convert::RowsError;
use crate::block::v1::convert::to_rows::TraceSummary;
use contrail_traceql::structure::{SpanKey, nested_set};

use super::cursor::{SourceBatch, TraceRows};

/// New trace-level values shared by every row of a recomputed trace.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TraceFix {
    pub(super) trace_start: u64,
    pub(super) trace_duration: u64,
    pub(super) root_service_name: String,
    pub(super) root_span_name: String,
}

/// New per-span values of a row of a recomputed trace.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SpanFix {
    pub(super) parent_index: i32,
    /// Kept only when the parent is not in the trace (as the writer does).
    pub(super) parent_span_id: Option<Vec<u8>>,
    pub(super) nested_set_left: i32,
    pub(super) nested_set_right: i32,
    pub(super) start_offset: i64,
}

/// What to write for one trace ID.
pub(super) enum Combined<'a> {
    /// One input's rows, unchanged.
    Copy(&'a TraceRows),
    /// Rows in their new order, each with its new span values.
    Rebuilt {
        rows: Vec<(Arc<SourceBatch>, usize, SpanFix)>,
        trace: TraceFix,
        summary: TraceSummary,
    },
}

/// One span of the trace with what ordering needs, borrowed from its batch.
struct SpanFacts<'a> {
    batch: &'a Arc<SourceBatch>,
    row: usize,
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    start: u64,
    end: u64,
}

/// Whether one input's rows of a trace hold a span twice.
pub(super) fn has_duplicates(trace: &TraceRows) -> bool {
    let mut keys: Vec<(u64, i32)> = trace
        .positions()
        .map(|(batch, row)| batch.columns.span_key(row))
        .collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

/// Combines `copies` (one per input holding the trace, in input order); also returns how many
/// span rows were dropped as duplicates. An error names the input whose rows are inconsistent.
pub(super) fn combine(copies: &[TraceRows]) -> Result<(Combined<'_>, u64), (usize, RowsError)> {
    let total: usize = copies.iter().map(TraceRows::rows).sum();
    let mut seen: HashSet<(u64, i32)> = HashSet::with_capacity(total);
    let mut spans: Vec<SpanFacts<'_>> = Vec::with_capacity(total);
    let mut kept_per_copy = Vec::with_capacity(copies.len());
    for copy in copies {
        let positions: Vec<(&Arc<SourceBatch>, usize)> = copy.positions().collect();
        let mut kept = 0usize;
        for &(batch, row) in &positions {
            if !seen.insert(batch.columns.span_key(row)) {
                continue;
            }
            kept += 1;
            spans.push(SpanFacts {
                batch,
                row,
                span_id: batch.columns.span_id.value(row),
                parent_span_id: parent_span_id(&positions, batch, row)
                    .map_err(|error| (copy.input, error))?,
                start: batch.columns.start(row),
                end: batch.columns.end(row),
            });
        }
        kept_per_copy.push((kept, positions.len()));
    }
    let duplicates = (total - spans.len()) as u64;
    // Only one copy contributed, and all of it: its stored rows are already right.
    let contributing: Vec<usize> = kept_per_copy
        .iter()
        .enumerate()
        .filter(|(_, (kept, _))| *kept > 0)
        .map(|(index, _)| index)
        .collect();
    if let [only] = contributing.as_slice()
        && kept_per_copy[*only].0 == kept_per_copy[*only].1
    {
        return Ok((Combined::Copy(&copies[*only]), duplicates));
    }
    Ok((rebuild(&spans), duplicates))
}

/// The parent span ID of a row as the reader rebuilds it: the span at `parent_index` within the
/// same copy of the trace, else the stored raw parent ID, else none.
fn parent_span_id<'a>(
    positions: &[(&'a Arc<SourceBatch>, usize)],
    batch: &'a Arc<SourceBatch>,
    row: usize,
) -> Result<&'a [u8], RowsError> {
    let parent_index = batch.columns.parent_index.value(row);
    if parent_index >= 0 {
        let &(parent_batch, parent_row) =
            positions.get(parent_index as usize).ok_or_else(|| {
                RowsError::new(format!(
                    "parent index {parent_index} outside its trace of {} spans",
                    positions.len()
                ))
            })?;
        return Ok(parent_batch.columns.span_id.value(parent_row));
    }
    let raw = &batch.columns.parent_span_id;
    Ok(if raw.is_valid(row) {
        raw.value(row)
    } else {
        &[]
    })
}

fn rebuild<'a>(spans: &[SpanFacts<'a>]) -> Combined<'a> {
    let keys: Vec<SpanKey<'_>> = spans
        .iter()
        .map(|span| SpanKey {
            span_id: span.span_id,
            parent_span_id: span.parent_span_id,
            start_time_unix_nano: span.start,
        })
        .collect();
    let set = nested_set(&keys);
    let start = spans.iter().map(|span| span.start).min().unwrap_or(0);
    let end = spans.iter().map(|span| span.end).max().unwrap_or(0);
    let root = set.order.iter().enumerate().find_map(|(position, input)| {
        (set.parent_index[position] < 0 && spans[*input].parent_span_id.is_empty())
            .then_some(&spans[*input])
    });
    let (root_service_name, root_span_name) = match root {
        Some(root) => {
            let columns = &root.batch.columns;
            let service = if columns.service_name.is_valid(root.row) {
                columns.service_name.value(root.row).to_owned()
            } else {
                String::new()
            };
            (service, columns.name.value(root.row).to_owned())
        }
        None => (String::new(), String::new()),
    };
    let rows = set
        .order
        .iter()
        .enumerate()
        .map(|(position, input)| {
            let span = &spans[*input];
            let parent_index = set.parent_index[position];
            let parent_span_id = (parent_index < 0 && !span.parent_span_id.is_empty())
                .then(|| span.parent_span_id.to_vec());
            let fix = SpanFix {
                parent_index,
                parent_span_id,
                nested_set_left: set.left[position],
                nested_set_right: set.right[position],
                start_offset: span.start.wrapping_sub(start) as i64,
            };
            (span.batch.clone(), span.row, fix)
        })
        .collect();
    Combined::Rebuilt {
        rows,
        trace: TraceFix {
            trace_start: start,
            trace_duration: end.saturating_sub(start),
            root_service_name,
            root_span_name,
        },
        summary: TraceSummary {
            spans: spans.len(),
            start_unix_nano: start,
            end_unix_nano: end,
        },
    }
}
