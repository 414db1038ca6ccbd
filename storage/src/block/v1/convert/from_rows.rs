//! Span rows of the `vc1` schema → OTLP.

use std::collections::BTreeMap;

use arrow::array::{
    Array, BinaryArray, FixedSizeBinaryArray, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, UInt32Array, UInt64Array,
};
use contrail_proto::TraceId;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use contrail_proto::otlp::trace::v1::span::{Event, Link};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::attrs::AttrListReader;
use super::{RefTables, RowsError, Trace, column, downcast, struct_column};
use crate::block::v1::schema::{self as s, DEDICATED_COLUMNS, DedicatedScope, DedicatedType};

enum DedicatedValues<'a> {
    String(&'a StringArray),
    Int(&'a Int64Array),
}

struct Columns<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    trace_start: &'a UInt64Array,
    span_id: &'a FixedSizeBinaryArray,
    parent_index: &'a Int32Array,
    parent_span_id: &'a BinaryArray,
    start_offset: &'a Int64Array,
    duration: &'a Int64Array,
    name: &'a StringArray,
    kind: &'a Int32Array,
    status_code: &'a Int32Array,
    status_message: &'a StringArray,
    trace_state: &'a StringArray,
    flags: &'a UInt32Array,
    dropped_attributes: &'a UInt32Array,
    dropped_events: &'a UInt32Array,
    dropped_links: &'a UInt32Array,
    resource_ref: &'a UInt32Array,
    scope_ref: &'a UInt32Array,
    dedicated: Vec<(&'static str, DedicatedValues<'a>)>,
    attrs: AttrListReader<'a>,
    events: EventsReader<'a>,
    links: LinksReader<'a>,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, RowsError> {
        let mut dedicated = Vec::new();
        for def in DEDICATED_COLUMNS
            .iter()
            .filter(|c| c.scope == DedicatedScope::Span)
        {
            let values = match def.value_type {
                DedicatedType::String => DedicatedValues::String(column(batch, def.column)?),
                DedicatedType::Int => DedicatedValues::Int(column(batch, def.column)?),
            };
            dedicated.push((def.attribute, values));
        }
        let attrs = batch
            .column_by_name(s::ATTRS)
            .ok_or_else(|| RowsError::new("column attrs is missing"))?;
        Ok(Columns {
            trace_id: column(batch, s::TRACE_ID)?,
            trace_start: column(batch, s::TRACE_START)?,
            span_id: column(batch, s::SPAN_ID)?,
            parent_index: column(batch, s::PARENT_INDEX)?,
            parent_span_id: column(batch, s::PARENT_SPAN_ID)?,
            start_offset: column(batch, s::START_OFFSET)?,
            duration: column(batch, s::DURATION)?,
            name: column(batch, s::NAME)?,
            kind: column(batch, s::KIND)?,
            status_code: column(batch, s::STATUS_CODE)?,
            status_message: column(batch, s::STATUS_MESSAGE)?,
            trace_state: column(batch, s::TRACE_STATE)?,
            flags: column(batch, s::FLAGS)?,
            dropped_attributes: column(batch, s::DROPPED_ATTRIBUTES)?,
            dropped_events: column(batch, s::DROPPED_EVENTS)?,
            dropped_links: column(batch, s::DROPPED_LINKS)?,
            resource_ref: column(batch, s::RESOURCE_REF)?,
            scope_ref: column(batch, s::SCOPE_REF)?,
            dedicated,
            attrs: AttrListReader::new(attrs.as_ref(), s::ATTRS)?,
            events: EventsReader::new(column(batch, s::EVENTS)?)?,
            links: LinksReader::new(column(batch, s::LINKS)?)?,
        })
    }
}

fn text(array: &StringArray, row: usize) -> String {
    if array.is_valid(row) {
        array.value(row).to_owned()
    } else {
        String::new()
    }
}

/// Rebuilds the traces in `batch`, which must hold whole traces (every row of each trace it
/// contains) with all columns of the `vc1` schema.
pub fn batch_to_traces(batch: &RecordBatch, tables: &RefTables) -> Result<Vec<Trace>, RowsError> {
    let columns = Columns::new(batch)?;
    let mut traces = Vec::new();
    let mut row = 0;
    let rows = batch.num_rows();
    while row < rows {
        let trace_id_bytes = columns.trace_id.value(row);
        let mut end = row + 1;
        while end < rows && columns.trace_id.value(end) == trace_id_bytes {
            end += 1;
        }
        let trace_id = TraceId::from_bytes(trace_id_bytes)
            .map_err(|error| RowsError::new(format!("row {row}: {error}")))?;
        traces.push(rebuild_trace(&columns, trace_id, row..end, tables)?);
        row = end;
    }
    Ok(traces)
}

fn rebuild_trace(
    columns: &Columns<'_>,
    trace_id: TraceId,
    rows: std::ops::Range<usize>,
    tables: &RefTables,
) -> Result<Trace, RowsError> {
    let mut groups: BTreeMap<(u32, u32), Vec<Span>> = BTreeMap::new();
    for row in rows.clone() {
        let span = rebuild_span(columns, trace_id, row, rows.clone())?;
        let key = (
            columns.resource_ref.value(row),
            columns.scope_ref.value(row),
        );
        groups.entry(key).or_default().push(span);
    }
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    let mut current_resource: Option<u32> = None;
    for ((resource_ref, scope_ref), spans) in groups {
        let scope = tables
            .scope(scope_ref)
            .ok_or_else(|| RowsError::new(format!("scope reference {scope_ref} out of range")))?;
        let scope_spans = ScopeSpans {
            scope: scope.scope.clone(),
            spans,
            schema_url: scope.schema_url.clone(),
        };
        if current_resource != Some(resource_ref) {
            let resource = tables.resource(resource_ref).ok_or_else(|| {
                RowsError::new(format!("resource reference {resource_ref} out of range"))
            })?;
            resource_spans.push(ResourceSpans {
                resource: resource.resource.clone(),
                scope_spans: Vec::new(),
                schema_url: resource.schema_url.clone(),
            });
            current_resource = Some(resource_ref);
        }
        if let Some(last) = resource_spans.last_mut() {
            last.scope_spans.push(scope_spans);
        }
    }
    Ok(Trace {
        trace_id,
        resource_spans,
    })
}

fn rebuild_span(
    columns: &Columns<'_>,
    trace_id: TraceId,
    row: usize,
    trace_rows: std::ops::Range<usize>,
) -> Result<Span, RowsError> {
    let parent_index = columns.parent_index.value(row);
    let parent_span_id = if parent_index >= 0 {
        let parent_row = trace_rows.start + parent_index as usize;
        if !trace_rows.contains(&parent_row) {
            return Err(RowsError::new(format!(
                "row {row}: parent index {parent_index} outside its trace"
            )));
        }
        columns.span_id.value(parent_row).to_vec()
    } else if columns.parent_span_id.is_valid(row) {
        columns.parent_span_id.value(row).to_vec()
    } else {
        Vec::new()
    };
    let start = columns
        .trace_start
        .value(row)
        .wrapping_add(columns.start_offset.value(row) as u64);
    let end = start.wrapping_add(columns.duration.value(row) as u64);
    let status = columns.status_code.is_valid(row).then(|| Status {
        code: columns.status_code.value(row),
        message: text(columns.status_message, row),
    });
    let mut attributes = Vec::new();
    for (key, values) in &columns.dedicated {
        let value = match values {
            DedicatedValues::String(array) if array.is_valid(row) => {
                Value::StringValue(array.value(row).to_owned())
            }
            DedicatedValues::Int(array) if array.is_valid(row) => Value::IntValue(array.value(row)),
            _ => continue,
        };
        attributes.push(KeyValue {
            key: (*key).to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        });
    }
    columns.attrs.read_into(row, &mut attributes)?;
    Ok(Span {
        trace_id: trace_id.as_bytes().to_vec(),
        span_id: columns.span_id.value(row).to_vec(),
        trace_state: text(columns.trace_state, row),
        parent_span_id,
        flags: columns.flags.value(row),
        name: columns.name.value(row).to_owned(),
        kind: columns.kind.value(row),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        dropped_attributes_count: columns.dropped_attributes.value(row),
        events: columns.events.read(row, start)?,
        dropped_events_count: columns.dropped_events.value(row),
        links: columns.links.read(row)?,
        dropped_links_count: columns.dropped_links.value(row),
        status,
    })
}

fn list_range(
    offsets: &[i32],
    row: usize,
    values: usize,
    name: &str,
) -> Result<std::ops::Range<usize>, RowsError> {
    match (offsets.get(row), offsets.get(row + 1)) {
        (Some(start), Some(end)) if *start >= 0 && start <= end && (*end as usize) <= values => {
            Ok(*start as usize..*end as usize)
        }
        _ => Err(RowsError::new(format!(
            "{name} offsets of row {row} out of range"
        ))),
    }
}

struct EventsReader<'a> {
    offsets: &'a [i32],
    len: usize,
    time_offset: &'a Int64Array,
    name: &'a StringArray,
    attrs: AttrListReader<'a>,
    dropped: &'a UInt32Array,
}

impl<'a> EventsReader<'a> {
    fn new(list: &'a ListArray) -> Result<Self, RowsError> {
        let values: &StructArray = downcast(list.values().as_ref(), s::EVENTS)?;
        let attrs = values
            .column_by_name("attrs")
            .ok_or_else(|| RowsError::new("column events.attrs is missing"))?;
        Ok(EventsReader {
            offsets: list.value_offsets(),
            len: values.len(),
            time_offset: struct_column(values, "time_offset_nano", s::EVENTS)?,
            name: struct_column(values, "name", s::EVENTS)?,
            attrs: AttrListReader::new(attrs.as_ref(), "events.attrs")?,
            dropped: struct_column(values, "dropped_attributes_count", s::EVENTS)?,
        })
    }

    fn read(&self, row: usize, span_start: u64) -> Result<Vec<Event>, RowsError> {
        let range = list_range(self.offsets, row, self.len, s::EVENTS)?;
        let mut events = Vec::with_capacity(range.len());
        for index in range {
            let mut attributes = Vec::new();
            self.attrs.read_into(index, &mut attributes)?;
            events.push(Event {
                time_unix_nano: span_start.wrapping_add(self.time_offset.value(index) as u64),
                name: self.name.value(index).to_owned(),
                attributes,
                dropped_attributes_count: self.dropped.value(index),
            });
        }
        Ok(events)
    }
}

struct LinksReader<'a> {
    offsets: &'a [i32],
    len: usize,
    trace_id: &'a BinaryArray,
    span_id: &'a BinaryArray,
    trace_state: &'a StringArray,
    flags: &'a UInt32Array,
    attrs: AttrListReader<'a>,
    dropped: &'a UInt32Array,
}

impl<'a> LinksReader<'a> {
    fn new(list: &'a ListArray) -> Result<Self, RowsError> {
        let values: &StructArray = downcast(list.values().as_ref(), s::LINKS)?;
        let attrs = values
            .column_by_name("attrs")
            .ok_or_else(|| RowsError::new("column links.attrs is missing"))?;
        Ok(LinksReader {
            offsets: list.value_offsets(),
            len: values.len(),
            trace_id: struct_column(values, "trace_id", s::LINKS)?,
            span_id: struct_column(values, "span_id", s::LINKS)?,
            trace_state: struct_column(values, "trace_state", s::LINKS)?,
            flags: struct_column(values, "flags", s::LINKS)?,
            attrs: AttrListReader::new(attrs.as_ref(), "links.attrs")?,
            dropped: struct_column(values, "dropped_attributes_count", s::LINKS)?,
        })
    }

    fn read(&self, row: usize) -> Result<Vec<Link>, RowsError> {
        let range = list_range(self.offsets, row, self.len, s::LINKS)?;
        let mut links = Vec::with_capacity(range.len());
        for index in range {
            let mut attributes = Vec::new();
            self.attrs.read_into(index, &mut attributes)?;
            links.push(Link {
                trace_id: self.trace_id.value(index).to_vec(),
                span_id: self.span_id.value(index).to_vec(),
                trace_state: text(self.trace_state, index),
                attributes,
                dropped_attributes_count: self.dropped.value(index),
                flags: self.flags.value(index),
            });
        }
        Ok(links)
    }
}
