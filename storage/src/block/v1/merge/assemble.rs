//! Output batches of a merge: rows picked from the inputs' decoded batches (`interleave`), with
//! resource and scope references remapped into the output's tables and, for recomputed traces,
//! their new trace-level and structural values written over the copied ones.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BinaryBuilder, PrimitiveArray, RecordBatch,
    StringArray, StringBuilder, UInt32Array,
};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{Int32Type, Int64Type, SchemaRef, UInt64Type};
use contrail_proto::TraceId;

use crate::block::v1::convert::to_rows::TraceSummary;
use crate::block::v1::convert::{RowsError, downcast};
use crate::block::v1::schema as s;
use crate::block::v1::writer::RowBatch;

use super::combine::{SpanFix, TraceFix};
use super::cursor::{SourceBatch, TraceRows};
use super::remap::RefRemap;

/// Rows picked for the next output batch.
pub(super) struct OutputBuilder {
    schema: SchemaRef,
    sources: Vec<Arc<SourceBatch>>,
    slots: HashMap<u64, usize>,
    indices: Vec<(usize, usize)>,
    /// (output row, index into `trace_fixes`, new span values) for rows of recomputed traces.
    span_fixes: Vec<(usize, usize, SpanFix)>,
    trace_fixes: Vec<TraceFix>,
    traces: Vec<(TraceId, TraceSummary)>,
}

impl OutputBuilder {
    pub(super) fn new(schema: SchemaRef) -> Self {
        OutputBuilder {
            schema,
            sources: Vec::new(),
            slots: HashMap::new(),
            indices: Vec::new(),
            span_fixes: Vec::new(),
            trace_fixes: Vec::new(),
            traces: Vec::new(),
        }
    }

    /// Rows picked so far.
    pub(super) fn rows(&self) -> usize {
        self.indices.len()
    }

    fn slot(&mut self, batch: &Arc<SourceBatch>) -> usize {
        if let Some(slot) = self.slots.get(&batch.id) {
            return *slot;
        }
        let slot = self.sources.len();
        self.sources.push(batch.clone());
        self.slots.insert(batch.id, slot);
        slot
    }

    /// Adds one input's rows of a trace as they are.
    pub(super) fn push_copy(&mut self, trace: &TraceRows) {
        let mut start = u64::MAX;
        let mut end = 0u64;
        for (batch, rows) in &trace.runs {
            let slot = self.slot(batch);
            for row in rows.clone() {
                start = start.min(batch.columns.start(row));
                end = end.max(batch.columns.end(row));
                self.indices.push((slot, row));
            }
        }
        let spans = trace.rows();
        self.traces.push((
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
        let trace_fix = self.trace_fixes.len();
        self.trace_fixes.push(trace);
        for (batch, row, fix) in rows {
            let slot = self.slot(&batch);
            self.span_fixes.push((self.indices.len(), trace_fix, fix));
            self.indices.push((slot, row));
        }
        self.traces.push((trace_id, summary));
    }

    /// The picked rows as one batch of the output; the builder starts over.
    pub(super) fn finish(&mut self, remap: &RefRemap) -> Result<RowBatch, RowsError> {
        let sources: Vec<&RecordBatch> = self.sources.iter().map(|source| &source.batch).collect();
        let picked = interleave_record_batch(&sources, &self.indices)?;
        let mut columns: Vec<ArrayRef> = picked.columns().to_vec();
        let row_inputs: Vec<usize> = self
            .indices
            .iter()
            .map(|(slot, _)| self.sources[*slot].input)
            .collect();
        let index_of = |name: &str| {
            self.schema
                .index_of(name)
                .map_err(|_| RowsError::new(format!("column {name} is missing")))
        };
        let resource = index_of(s::RESOURCE_REF)?;
        columns[resource] =
            remap_refs(&columns[resource], &row_inputs, s::RESOURCE_REF, |i, r| {
                remap.resource(i, r)
            })?;
        let scope = index_of(s::SCOPE_REF)?;
        columns[scope] = remap_refs(&columns[scope], &row_inputs, s::SCOPE_REF, |i, r| {
            remap.scope(i, r)
        })?;
        if !self.span_fixes.is_empty() {
            self.apply_fixes(&mut columns, &index_of)?;
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.sources.clear();
        self.slots.clear();
        self.indices.clear();
        self.span_fixes.clear();
        self.trace_fixes.clear();
        Ok(RowBatch {
            batch,
            traces: std::mem::take(&mut self.traces),
        })
    }

    fn apply_fixes(
        &self,
        columns: &mut [ArrayRef],
        index_of: &dyn Fn(&str) -> Result<usize, RowsError>,
    ) -> Result<(), RowsError> {
        let fixes = &self.span_fixes;
        let traces = &self.trace_fixes;
        let index = index_of(s::TRACE_START)?;
        columns[index] = patch::<UInt64Type>(&columns[index], s::TRACE_START, fixes, |t, _| {
            traces[t].trace_start
        })?;
        let index = index_of(s::TRACE_DURATION)?;
        columns[index] = patch::<UInt64Type>(&columns[index], s::TRACE_DURATION, fixes, |t, _| {
            traces[t].trace_duration
        })?;
        let index = index_of(s::PARENT_INDEX)?;
        columns[index] = patch::<Int32Type>(&columns[index], s::PARENT_INDEX, fixes, |_, span| {
            span.parent_index
        })?;
        let index = index_of(s::NESTED_SET_LEFT)?;
        columns[index] =
            patch::<Int32Type>(&columns[index], s::NESTED_SET_LEFT, fixes, |_, span| {
                span.nested_set_left
            })?;
        let index = index_of(s::NESTED_SET_RIGHT)?;
        columns[index] =
            patch::<Int32Type>(&columns[index], s::NESTED_SET_RIGHT, fixes, |_, span| {
                span.nested_set_right
            })?;
        let index = index_of(s::START_OFFSET)?;
        columns[index] = patch::<Int64Type>(&columns[index], s::START_OFFSET, fixes, |_, span| {
            span.start_offset
        })?;

        let rows = self.indices.len();
        let mut fix_of_row: Vec<Option<(usize, &SpanFix)>> = vec![None; rows];
        for (row, trace, fix) in fixes {
            fix_of_row[*row] = Some((*trace, fix));
        }
        for (name, pick) in [
            (
                s::ROOT_SERVICE_NAME,
                (|trace: &TraceFix| trace.root_service_name.as_str()) as fn(&TraceFix) -> &str,
            ),
            (s::ROOT_SPAN_NAME, |trace: &TraceFix| {
                trace.root_span_name.as_str()
            }),
        ] {
            let index = index_of(name)?;
            let old: &StringArray = downcast(columns[index].as_ref(), name)?;
            let mut builder = StringBuilder::with_capacity(rows, old.value_data().len());
            for (row, fix) in fix_of_row.iter().enumerate() {
                match fix {
                    Some((trace, _)) => builder.append_value(pick(&traces[*trace])),
                    None if old.is_valid(row) => builder.append_value(old.value(row)),
                    None => builder.append_null(),
                }
            }
            columns[index] = Arc::new(builder.finish());
        }
        let index = index_of(s::PARENT_SPAN_ID)?;
        let old: &BinaryArray = downcast(columns[index].as_ref(), s::PARENT_SPAN_ID)?;
        let mut builder = BinaryBuilder::with_capacity(rows, old.value_data().len());
        for (row, fix) in fix_of_row.iter().enumerate() {
            match fix {
                Some((_, span)) => builder.append_option(span.parent_span_id.as_deref()),
                None if old.is_valid(row) => builder.append_value(old.value(row)),
                None => builder.append_null(),
            }
        }
        columns[index] = Arc::new(builder.finish());
        Ok(())
    }
}

/// A copy of the non-null primitive column `array` with the fixed rows overwritten.
fn patch<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    name: &str,
    fixes: &[(usize, usize, SpanFix)],
    value: impl Fn(usize, &SpanFix) -> T::Native,
) -> Result<ArrayRef, RowsError> {
    let old: &PrimitiveArray<T> = downcast(array.as_ref(), name)?;
    let mut values: Vec<T::Native> = old.values().to_vec();
    for (row, trace, fix) in fixes {
        values[*row] = value(*trace, fix);
    }
    Ok(Arc::new(PrimitiveArray::<T>::new(
        values.into(),
        old.nulls().cloned(),
    )))
}

fn remap_refs(
    array: &ArrayRef,
    row_inputs: &[usize],
    name: &str,
    map: impl Fn(usize, u32) -> Option<u32>,
) -> Result<ArrayRef, RowsError> {
    let old: &UInt32Array = downcast(array.as_ref(), name)?;
    let values = old
        .values()
        .iter()
        .zip(row_inputs)
        .map(|(reference, input)| {
            map(*input, *reference).ok_or_else(|| {
                RowsError::new(format!(
                    "{name} {reference} of input {input} is not in its table"
                ))
            })
        })
        .collect::<Result<Vec<u32>, RowsError>>()?;
    Ok(Arc::new(UInt32Array::new(values.into(), None)))
}
