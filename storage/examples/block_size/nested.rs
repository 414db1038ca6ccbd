//! The nested candidate of ADR 001: one row per trace, like Tempo's vParquet
//! (`trace → rs (resource, attrs) → ss (scope) → spans`). Built from the same span columns as the
//! flat schema, so the comparison isolates the layout: trace-level fields once per trace,
//! resource attributes once per (trace, resource), scope once per (trace, resource, scope).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, FixedSizeBinaryArray, ListArray, RecordBatch,
    StringArray, StructArray, UInt32Array, UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::take;
use arrow::datatypes::{Field, Fields, Schema, UInt32Type};
use contrail_storage::convert::{RefTables, Trace, attribute_lists, encode_traces};

/// Flat columns that the nested layout stores at the trace level, or not at all.
const NOT_SPAN_LEVEL: &[&str] = &[
    "trace_id",
    "trace_start_unix_nano",
    "trace_duration_nano",
    "root_service_name",
    "root_span_name",
    "resource_ref",
    "scope_ref",
    "service_name",
    "k8s_namespace_name",
    "k8s_pod_name",
    "k8s_container_name",
    "k8s_cluster_name",
];

type BoxError = Box<dyn std::error::Error>;

fn list(name: &str, values: ArrayRef, offsets: Vec<i32>) -> Result<ArrayRef, BoxError> {
    let field = Arc::new(Field::new(name, values.data_type().clone(), false));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

fn struct_of(columns: Vec<(&str, ArrayRef)>) -> Result<ArrayRef, BoxError> {
    let fields: Fields = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    Ok(Arc::new(StructArray::try_new(fields, arrays, None)?))
}

/// One nested batch (one row per trace) for `traces`.
pub(crate) fn nested_batch(
    traces: &[Trace],
    tables: &mut RefTables,
) -> Result<RecordBatch, BoxError> {
    let flat = encode_traces(traces, tables)?;
    let trace_ids: &FixedSizeBinaryArray = flat
        .column_by_name("trace_id")
        .ok_or("trace_id")?
        .as_fixed_size_binary();
    let resource_refs: &UInt32Array = flat
        .column_by_name("resource_ref")
        .ok_or("resource_ref")?
        .as_primitive::<UInt32Type>();
    let scope_refs: &UInt32Array = flat
        .column_by_name("scope_ref")
        .ok_or("scope_ref")?
        .as_primitive::<UInt32Type>();
    let service_names: &StringArray = flat
        .column_by_name("service_name")
        .ok_or("service_name")?
        .as_string::<i32>();

    // Row order: per trace, grouped by (resource, scope), depth-first order kept inside a group.
    let mut order = UInt32Builder::new();
    let mut trace_first_rows = Vec::new();
    let mut rs_offsets = vec![0i32];
    let mut ss_offsets = vec![0i32];
    let mut span_offsets = vec![0i32];
    let mut rs_refs = Vec::new();
    let mut ss_refs = Vec::new();
    let mut rs_service = Vec::new();
    let mut row = 0;
    while row < flat.num_rows() {
        let mut end = row + 1;
        while end < flat.num_rows() && trace_ids.value(end) == trace_ids.value(row) {
            end += 1;
        }
        trace_first_rows.push(row as u32);
        let mut rows: Vec<usize> = (row..end).collect();
        rows.sort_by_key(|r| (resource_refs.value(*r), scope_refs.value(*r), *r));
        let mut index = 0;
        while index < rows.len() {
            let resource = resource_refs.value(rows[index]);
            rs_refs.push(resource);
            rs_service.push(
                service_names
                    .is_valid(rows[index])
                    .then(|| service_names.value(rows[index]).to_owned()),
            );
            while index < rows.len() && resource_refs.value(rows[index]) == resource {
                let scope = scope_refs.value(rows[index]);
                ss_refs.push(scope);
                while index < rows.len()
                    && resource_refs.value(rows[index]) == resource
                    && scope_refs.value(rows[index]) == scope
                {
                    order.append_value(rows[index] as u32);
                    index += 1;
                }
                span_offsets.push(order.len() as i32);
            }
            ss_offsets.push(ss_refs.len() as i32);
        }
        rs_offsets.push(rs_refs.len() as i32);
        row = end;
    }
    let order = order.finish();

    let schema = flat.schema();
    let mut span_columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(flat.columns()) {
        if NOT_SPAN_LEVEL.contains(&field.name().as_str()) {
            continue;
        }
        span_columns.push((field.name().as_str(), take(column.as_ref(), &order, None)?));
    }
    let spans = struct_of(span_columns)?;

    let mut scope_names = Vec::new();
    let mut scope_versions = Vec::new();
    for scope_ref in &ss_refs {
        let scope = tables
            .scope(*scope_ref)
            .and_then(|entry| entry.scope.clone())
            .unwrap_or_default();
        scope_names.push(scope.name);
        scope_versions.push(scope.version);
    }
    let ss = struct_of(vec![
        ("name", Arc::new(StringArray::from(scope_names)) as ArrayRef),
        ("version", Arc::new(StringArray::from(scope_versions))),
        ("spans", list("item", spans, span_offsets)?),
    ])?;

    let resources: Vec<_> = rs_refs
        .iter()
        .map(|resource_ref| {
            tables
                .resource(*resource_ref)
                .and_then(|entry| entry.resource.clone())
                .unwrap_or_default()
        })
        .collect();
    let attr_lists: Vec<&[_]> = resources
        .iter()
        .map(|resource| resource.attributes.as_slice())
        .collect();
    let rs = struct_of(vec![
        (
            "service_name",
            Arc::new(StringArray::from(rs_service)) as ArrayRef,
        ),
        ("attrs", attribute_lists(&attr_lists)?),
        (
            "dropped_attributes_count",
            Arc::new(UInt32Array::from(
                resources
                    .iter()
                    .map(|r| r.dropped_attributes_count)
                    .collect::<Vec<_>>(),
            )),
        ),
        ("ss", list("item", ss, ss_offsets)?),
    ])?;

    let firsts = UInt32Array::from(trace_first_rows);
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    for name in [
        "trace_id",
        "trace_start_unix_nano",
        "trace_duration_nano",
        "root_service_name",
        "root_span_name",
    ] {
        let column = flat.column_by_name(name).ok_or(name)?;
        columns.push((name.to_owned(), take(column.as_ref(), &firsts, None)?));
    }
    columns.push(("rs".to_owned(), list("item", rs, rs_offsets)?));
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(name, array.data_type().clone(), true))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, array)| array).collect(),
    )?)
}
