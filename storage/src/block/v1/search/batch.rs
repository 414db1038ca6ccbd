//! One `SpanBatch` from the decoded result columns of the returned rows of a row group:
//! trace info per trace, span columns, span-level values and the event / link tables.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, DictionaryArray, FixedSizeBinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow::datatypes::Int32Type;
use contrail_proto::{SpanId, TraceId};
use contrail_traceql::fetch::{SpanBatch, SpanColumns, TraceInfo};

use super::output::{RowContext, nested_values, span_values};
use super::plan::Outputs;
use super::structure::Structure;
use crate::block::v1::convert::RefTables;
use crate::block::v1::schema;

/// The trace-level filters of a request, for portions reported without spans.
#[derive(Debug, Clone)]
pub(crate) struct TraceFilters {
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) trace_ids: Option<Vec<[u8; 16]>>,
}

/// Inputs of [`build_batch`].
pub(crate) struct BuildArgs<'a> {
    pub(crate) row_group: usize,
    /// Returned rows (row-group rows, ascending).
    pub(crate) rows: &'a [u32],
    /// First rows of portions with orphans to report without spans (ascending).
    pub(crate) orphaned: &'a [u32],
    pub(crate) filters: &'a TraceFilters,
    /// Rows of `decoded` (a superset of `rows`, ascending).
    pub(crate) batch_rows: &'a [u32],
    pub(crate) decoded: &'a RecordBatch,
    pub(crate) structure: &'a Structure,
    pub(crate) outputs: &'a Outputs,
    pub(crate) tables: &'a RefTables,
    pub(crate) need_span_ids: bool,
    pub(crate) need_structure: bool,
    /// The root service and name were decoded (else every trace reports `None`).
    pub(crate) need_trace_roots: bool,
    /// Set `SpanColumns::row_ref` (else it stays empty).
    pub(crate) need_row_refs: bool,
}

fn typed<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> std::result::Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} missing or mistyped"))
}

/// A trace-level string column of the decoded rows, dictionary-encoded (the result columns'
/// reader decodes the root service and name so: no string copy per row) or plain; each
/// distinct dictionary value becomes one shared `Arc<str>`.
struct SharedStrings<'a> {
    keys: Option<&'a Int32Array>,
    values: &'a StringArray,
    shared: Vec<Option<Arc<str>>>,
}

impl<'a> SharedStrings<'a> {
    fn new(batch: &'a RecordBatch, name: &str) -> std::result::Result<Self, String> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| format!("column {name} missing"))?;
        if let Some(dictionary) = column.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dictionary
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| format!("column {name}: dictionary of non-strings"))?;
            return Ok(SharedStrings {
                keys: Some(dictionary.keys()),
                values,
                shared: vec![None; values.len()],
            });
        }
        Ok(SharedStrings {
            keys: None,
            values: typed(batch, name)?,
            shared: Vec::new(),
        })
    }

    /// The position of row `index`'s value in `values`.
    fn slot(&self, index: usize) -> std::result::Result<usize, String> {
        let slot = match self.keys {
            Some(keys) => usize::try_from(keys.value(index)).unwrap_or(usize::MAX),
            None => index,
        };
        if slot >= self.values.len() {
            return Err(format!("string key {slot} out of range"));
        }
        Ok(slot)
    }

    fn text(&self, index: usize) -> std::result::Result<&'a str, String> {
        Ok(self.values.value(self.slot(index)?))
    }

    fn shared(&mut self, index: usize) -> std::result::Result<Arc<str>, String> {
        let slot = self.slot(index)?;
        let values = self.values;
        Ok(match self.shared.get_mut(slot) {
            Some(shared) => shared
                .get_or_insert_with(|| Arc::from(values.value(slot)))
                .clone(),
            None => Arc::from(values.value(slot)),
        })
    }
}

/// The row reference of a row-group row.
pub(crate) fn row_ref(row_group: usize, row: u32) -> u64 {
    ((row_group as u64) << 32) | u64::from(row)
}

/// The position in `batch_rows` of each of `rows` (both ascending, `rows` a subset): one
/// linear merge walk, the identity when they are the same rows.
fn positions(rows: &[u32], batch_rows: &[u32]) -> std::result::Result<Vec<usize>, String> {
    if rows.len() == batch_rows.len() {
        return if rows == batch_rows {
            Ok((0..rows.len()).collect())
        } else {
            Err("returned rows differ from the decoded rows".to_owned())
        };
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut next = 0;
    for row in rows {
        while batch_rows.get(next).is_some_and(|decoded| decoded < row) {
            next += 1;
        }
        if batch_rows.get(next) != Some(row) {
            return Err(format!("row {row} not decoded"));
        }
        out.push(next);
        next += 1;
    }
    Ok(out)
}

/// Builds the batch of the returned rows.
pub(crate) fn build_batch(args: BuildArgs<'_>) -> std::result::Result<SpanBatch, String> {
    let BuildArgs {
        row_group,
        rows,
        orphaned,
        filters,
        batch_rows,
        decoded,
        structure,
        outputs,
        tables,
        need_span_ids,
        need_structure,
        need_trace_roots,
        need_row_refs,
    } = args;
    let index_of = positions(rows, batch_rows)?;
    debug_assert!(orphaned.windows(2).all(|pair| pair[0] < pair[1]));
    let trace_ids: &FixedSizeBinaryArray = typed(decoded, schema::TRACE_ID)?;
    let trace_start: &UInt64Array = typed(decoded, schema::TRACE_START)?;
    let trace_duration: &UInt64Array = typed(decoded, schema::TRACE_DURATION)?;
    let (mut root_service, mut root_name) = if need_trace_roots {
        (
            Some(SharedStrings::new(decoded, schema::ROOT_SERVICE_NAME)?),
            Some(SharedStrings::new(decoded, schema::ROOT_SPAN_NAME)?),
        )
    } else {
        (None, None)
    };
    let start_offset: &Int64Array = typed(decoded, schema::START_OFFSET)?;
    let duration: &Int64Array = typed(decoded, schema::DURATION)?;
    let span_id_column: Option<&FixedSizeBinaryArray> =
        if need_span_ids || outputs.needs_parent_ids() {
            Some(typed(decoded, schema::SPAN_ID)?)
        } else {
            None
        };

    let position_of = |row: u32| {
        batch_rows
            .binary_search(&row)
            .map_err(|_| format!("row {row} not decoded"))
    };
    let mut trace_info = |trace: usize, index: usize, position: usize| {
        let id = TraceId::from_bytes(trace_ids.value(index)).map_err(|e| e.to_string())?;
        let start = trace_start.value(index);
        let has_root = structure.has_root(trace);
        let service = match root_service.as_mut() {
            Some(strings) if has_root && !strings.text(index)?.is_empty() => {
                Some(strings.shared(index)?)
            }
            _ => None,
        };
        let name = match root_name.as_mut() {
            Some(strings) if has_root => Some(strings.shared(index)?),
            _ => None,
        };
        Ok::<TraceInfo, String>(TraceInfo {
            trace_id: id,
            start_unix_nano: start,
            end_unix_nano: start.saturating_add(trace_duration.value(index)),
            root_service_name: service,
            root_span_name: name,
            rows: position..position,
            has_orphans: structure.has_orphans(trace),
            span_count: structure.rows_of(trace).len() as u32,
        })
    };
    // Portions reported without spans, when they pass the trace filters.
    let mut markers: Vec<(u32, usize)> = Vec::new();
    for first in orphaned {
        let index = position_of(*first)?;
        let start = trace_start.value(index);
        let end = start.saturating_add(trace_duration.value(index));
        let in_time = start <= filters.end_unix_nano && end >= filters.start_unix_nano;
        let in_set = filters.trace_ids.as_ref().is_none_or(|ids| {
            ids.binary_search_by(|id| id.as_slice().cmp(trace_ids.value(index)))
                .is_ok()
        });
        if in_time && in_set {
            markers.push((*first, index));
        }
    }
    let mut markers = markers.into_iter().peekable();

    let mut spans = SpanColumns {
        start_unix_nano: Vec::with_capacity(rows.len()),
        duration_nano: Vec::with_capacity(rows.len()),
        row_ref: Vec::with_capacity(if need_row_refs { rows.len() } else { 0 }),
        ..SpanColumns::default()
    };
    if need_span_ids {
        spans.span_id.reserve(rows.len());
    }
    if need_structure {
        spans.nested_set_left.reserve(rows.len());
        spans.nested_set_right.reserve(rows.len());
        spans.nested_set_parent.reserve(rows.len());
    }
    let mut traces: Vec<TraceInfo> = Vec::new();
    // The rows of the current trace (rows ascend: a lookup only when a trace ends).
    let mut current_rows = 0u32..0u32;
    let mut current_trace = 0;
    let (trace_starts, start_offsets, durations) = (
        trace_start.values(),
        start_offset.values(),
        duration.values(),
    );
    if [start_offsets.len(), durations.len()] != [trace_starts.len(); 2]
        || index_of
            .last()
            .is_some_and(|last| *last >= trace_starts.len())
    {
        return Err("decoded span columns have different lengths".to_owned());
    }
    for (position, (row, index)) in rows.iter().zip(&index_of).enumerate() {
        while let Some((first, marker_index)) = markers.next_if(|(first, _)| first < row) {
            traces.push(trace_info(
                structure.trace_of(first),
                marker_index,
                position,
            )?);
        }
        if !current_rows.contains(row) {
            current_trace = structure.trace_of_from(*row, current_trace);
            current_rows = structure.rows_of(current_trace);
            traces.push(trace_info(current_trace, *index, position)?);
        }
        if let Some(last) = traces.last_mut() {
            last.rows.end = position + 1;
        }
        let start = trace_starts[*index].wrapping_add(start_offsets[*index] as u64);
        spans.start_unix_nano.push(start);
        spans.duration_nano.push(durations[*index].max(0) as u64);
        if need_span_ids && let Some(ids) = span_id_column {
            spans
                .span_id
                .push(SpanId::from_bytes(ids.value(*index)).map_err(|e| e.to_string())?);
        }
        if need_structure {
            let (left, right, parent) = structure.nested_set(*row);
            spans.nested_set_left.push(left);
            spans.nested_set_right.push(right);
            spans.nested_set_parent.push(parent);
        }
        if need_row_refs {
            spans.row_ref.push(row_ref(row_group, *row));
        }
    }
    for (first, marker_index) in markers {
        traces.push(trace_info(
            structure.trace_of(first),
            marker_index,
            rows.len(),
        )?);
    }
    let span_ids: Option<HashMap<u32, [u8; 8]>> = match span_id_column {
        Some(ids) if outputs.needs_parent_ids() => Some(
            batch_rows
                .iter()
                .enumerate()
                .filter_map(|(index, row)| {
                    let bytes: [u8; 8] = ids.value(index).try_into().ok()?;
                    Some((*row, bytes))
                })
                .collect(),
        ),
        _ => None,
    };
    let context = RowContext {
        tables,
        structure,
        batch_rows,
        span_ids: span_ids.as_ref(),
        absent_keys: &outputs.absent_keys,
    };
    let mut span_values_out = Vec::new();
    for (attribute, source) in &outputs.span {
        if let Some(column) = span_values(source, decoded, &index_of, &context)? {
            span_values_out.push((attribute.clone(), column));
        }
    }
    Ok(SpanBatch {
        traces,
        spans,
        span_values: span_values_out,
        events: nested_values(schema::EVENTS, &outputs.events, decoded, &index_of)?,
        links: nested_values(schema::LINKS, &outputs.links, decoded, &index_of)?,
        omitted_traces: 0,
    })
}
