//! The rows of one output row group of a merge, planned from the inputs' key columns: where
//! each output row comes from (input, row), and, for recomputed traces, the trace-level and
//! structural values written over the copied ones. The column pass (`columns`) then builds
//! every column of the row group from this plan, one column at a time; `fix_column` applies
//! the plan to one column (resource and scope references remapped into the output's tables,
//! recomputed values patched in).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BinaryBuilder, PrimitiveArray, StringArray,
    StringBuilder, UInt32Array,
};
use arrow::datatypes::{Int32Type, Int64Type, UInt64Type};
use contrail_proto::TraceId;

use crate::block::v1::convert::to_rows::TraceSummary;
use crate::block::v1::convert::{RowsError, downcast};
use crate::block::v1::schema as s;

use super::combine::{SpanFix, TraceFix};
use super::cursor::{SourceBatch, TraceRows};
use super::remap::RefRemap;

/// One planned output row group.
#[derive(Default)]
pub(super) struct RowGroupPlan {
    /// Per output row: the input and the row of that input (counted from its first row).
    pub(super) rows: Vec<(usize, u64)>,
    /// (output row, index into `trace_fixes`, new span values), by output row.
    span_fixes: Vec<(usize, usize, SpanFix)>,
    trace_fixes: Vec<TraceFix>,
    /// Each trace with its span count and time range, in row order.
    pub(super) traces: Vec<(TraceId, TraceSummary)>,
}

impl RowGroupPlan {
    /// Ranges of output rows of whole traces, each of about `max_rows` rows (a larger trace
    /// makes a larger range), covering every row in order.
    pub(super) fn chunks(&self, max_rows: usize) -> Vec<Range<usize>> {
        let max_rows = max_rows.max(1);
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut end = 0;
        for (_, summary) in &self.traces {
            if end > start && end - start + summary.spans > max_rows {
                chunks.push(start..end);
                start = end;
            }
            end += summary.spans;
        }
        if end > start {
            chunks.push(start..end);
        }
        chunks
    }

    /// Column `name` of output rows `rows`, as picked from the inputs (`array`), with the plan
    /// applied: references remapped, recomputed values written over the copied ones.
    pub(super) fn fix_column(
        &self,
        name: &str,
        array: ArrayRef,
        rows: Range<usize>,
        remap: &RefRemap,
    ) -> Result<ArrayRef, RowsError> {
        let inputs = || self.rows[rows.clone()].iter().map(|(input, _)| *input);
        match name {
            s::RESOURCE_REF => {
                return remap_refs(&array, inputs(), name, |i, r| remap.resource(i, r));
            }
            s::SCOPE_REF => return remap_refs(&array, inputs(), name, |i, r| remap.scope(i, r)),
            _ => {}
        }
        let first = self
            .span_fixes
            .partition_point(|(row, _, _)| *row < rows.start);
        let last = self
            .span_fixes
            .partition_point(|(row, _, _)| *row < rows.end);
        let fixes = Fixes {
            fixes: &self.span_fixes[first..last],
            offset: rows.start,
            traces: &self.trace_fixes,
        };
        if fixes.fixes.is_empty() {
            return Ok(array);
        }
        match name {
            s::TRACE_START => patch::<UInt64Type>(&array, name, &fixes, |t, _| t.trace_start),
            s::TRACE_DURATION => patch::<UInt64Type>(&array, name, &fixes, |t, _| t.trace_duration),
            s::PARENT_INDEX => patch::<Int32Type>(&array, name, &fixes, |_, f| f.parent_index),
            s::NESTED_SET_LEFT => {
                patch::<Int32Type>(&array, name, &fixes, |_, f| f.nested_set_left)
            }
            s::NESTED_SET_RIGHT => {
                patch::<Int32Type>(&array, name, &fixes, |_, f| f.nested_set_right)
            }
            s::START_OFFSET => patch::<Int64Type>(&array, name, &fixes, |_, f| f.start_offset),
            s::ROOT_SERVICE_NAME => patch_strings(&array, name, &fixes, |t| &t.root_service_name),
            s::ROOT_SPAN_NAME => patch_strings(&array, name, &fixes, |t| &t.root_span_name),
            s::PARENT_SPAN_ID => patch_parent_ids(&array, &fixes),
            _ => Ok(array),
        }
    }
}

/// Planned rows of the output row group being built.
pub(super) struct PlanBuilder {
    plan: RowGroupPlan,
    /// Per input: its stored bytes per row, what a row adds to the output's size estimate.
    bytes_per_row: Vec<f64>,
    bytes: f64,
}

impl PlanBuilder {
    pub(super) fn new(bytes_per_row: Vec<f64>) -> Self {
        PlanBuilder {
            plan: RowGroupPlan::default(),
            bytes_per_row,
            bytes: 0.0,
        }
    }

    /// Rows planned so far.
    pub(super) fn rows(&self) -> usize {
        self.plan.rows.len()
    }

    /// The stored size of the planned rows in their inputs: the output row group's size,
    /// roughly (before the output's own compression).
    pub(super) fn estimated_bytes(&self) -> f64 {
        self.bytes
    }

    fn push_row(&mut self, batch: &SourceBatch, row: usize) {
        self.bytes += self.bytes_per_row.get(batch.input).copied().unwrap_or(0.0);
        self.plan
            .rows
            .push((batch.input, batch.first_row + row as u64));
    }

    /// Adds one input's rows of a trace as they are.
    pub(super) fn push_copy(&mut self, trace: &TraceRows) {
        let mut start = u64::MAX;
        let mut end = 0u64;
        for (batch, rows) in &trace.runs {
            for row in rows.clone() {
                start = start.min(batch.columns.start(row));
                end = end.max(batch.columns.end(row));
                self.push_row(batch, row);
            }
        }
        let spans = trace.rows();
        self.plan.traces.push((
            trace.trace_id,
            TraceSummary {
                spans,
                start_unix_nano: if spans == 0 { 0 } else { start },
                end_unix_nano: end,
            },
        ));
    }

    /// Adds a recomputed trace: rows in their new order with their new values.
    pub(super) fn push_rebuilt(
        &mut self,
        trace_id: TraceId,
        rows: Vec<(Arc<SourceBatch>, usize, SpanFix)>,
        trace: TraceFix,
        summary: TraceSummary,
    ) {
        let trace_fix = self.plan.trace_fixes.len();
        self.plan.trace_fixes.push(trace);
        for (batch, row, fix) in rows {
            self.plan
                .span_fixes
                .push((self.plan.rows.len(), trace_fix, fix));
            self.push_row(&batch, row);
        }
        self.plan.traces.push((trace_id, summary));
    }

    /// The plan so far; the builder starts over.
    pub(super) fn take(&mut self) -> RowGroupPlan {
        self.bytes = 0.0;
        std::mem::take(&mut self.plan)
    }
}

/// The recomputed rows of one chunk of output rows.
struct Fixes<'a> {
    /// (output row, trace fix, span fix), rows from `offset` on.
    fixes: &'a [(usize, usize, SpanFix)],
    offset: usize,
    traces: &'a [TraceFix],
}

impl Fixes<'_> {
    /// (row within the chunk, trace fix, span fix).
    fn iter(&self) -> impl Iterator<Item = (usize, &TraceFix, &SpanFix)> {
        self.fixes
            .iter()
            .map(|(row, trace, fix)| (row - self.offset, &self.traces[*trace], fix))
    }

    /// Per row of a chunk of `rows` rows: its fixes, if it has any.
    fn by_row(&self, rows: usize) -> Vec<Option<(&TraceFix, &SpanFix)>> {
        let mut by_row = vec![None; rows];
        for (row, trace, fix) in self.iter() {
            if let Some(slot) = by_row.get_mut(row) {
                *slot = Some((trace, fix));
            }
        }
        by_row
    }
}

/// A copy of the non-null primitive column `array` with the fixed rows overwritten.
fn patch<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    name: &str,
    fixes: &Fixes<'_>,
    value: impl Fn(&TraceFix, &SpanFix) -> T::Native,
) -> Result<ArrayRef, RowsError> {
    let old: &PrimitiveArray<T> = downcast(array.as_ref(), name)?;
    let mut values: Vec<T::Native> = old.values().to_vec();
    for (row, trace, fix) in fixes.iter() {
        let slot = values
            .get_mut(row)
            .ok_or_else(|| RowsError::new(format!("{name}: fixed row {row} out of range")))?;
        *slot = value(trace, fix);
    }
    Ok(Arc::new(PrimitiveArray::<T>::new(
        values.into(),
        old.nulls().cloned(),
    )))
}

/// A copy of the string column `array` with the trace-level value of fixed rows written over.
fn patch_strings(
    array: &ArrayRef,
    name: &str,
    fixes: &Fixes<'_>,
    pick: fn(&TraceFix) -> &String,
) -> Result<ArrayRef, RowsError> {
    let old: &StringArray = downcast(array.as_ref(), name)?;
    let mut builder = StringBuilder::with_capacity(old.len(), old.value_data().len());
    for (row, fix) in fixes.by_row(old.len()).into_iter().enumerate() {
        match fix {
            Some((trace, _)) => builder.append_value(pick(trace)),
            None if old.is_valid(row) => builder.append_value(old.value(row)),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// A copy of the parent span IDs with those of fixed rows written over.
fn patch_parent_ids(array: &ArrayRef, fixes: &Fixes<'_>) -> Result<ArrayRef, RowsError> {
    let old: &BinaryArray = downcast(array.as_ref(), s::PARENT_SPAN_ID)?;
    let mut builder = BinaryBuilder::with_capacity(old.len(), old.value_data().len());
    for (row, fix) in fixes.by_row(old.len()).into_iter().enumerate() {
        match fix {
            Some((_, span)) => builder.append_option(span.parent_span_id.as_deref()),
            None if old.is_valid(row) => builder.append_value(old.value(row)),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

fn remap_refs(
    array: &ArrayRef,
    row_inputs: impl Iterator<Item = usize>,
    name: &str,
    map: impl Fn(usize, u32) -> Option<u32>,
) -> Result<ArrayRef, RowsError> {
    let old: &UInt32Array = downcast(array.as_ref(), name)?;
    let values = old
        .values()
        .iter()
        .zip(row_inputs)
        .map(|(reference, input)| {
            map(input, *reference).ok_or_else(|| {
                RowsError::new(format!(
                    "{name} {reference} of input {input} is not in its table"
                ))
            })
        })
        .collect::<Result<Vec<u32>, RowsError>>()?;
    if values.len() != old.len() {
        return Err(RowsError::new(format!("{name}: rows and inputs differ")));
    }
    Ok(Arc::new(UInt32Array::new(values.into(), None)))
}
