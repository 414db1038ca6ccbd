//! Walking one decoded row group of a tag scan: attribute-list keys and values, nested event
//! and link lists, dedicated columns, and the resource and scope tables picked by the rows'
//! references. Pure CPU work on decoded Arrow arrays (runs on the decode pool).

use std::collections::BTreeSet;
use std::ops::Range;

use arrow::array::{
    Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt32Array,
};
use contrail_proto::otlp::common::v1::KeyValue;
use contrail_traceql::tags::{DataScope, IntrinsicValues, TagNames, TagValues, ValueTarget};

use crate::block::v1::convert::RefTables;
use crate::block::v1::convert::attrs::AttrListReader;
use crate::block::v1::convert::{RowsError, column, downcast, struct_column};
use crate::block::v1::schema::{self, DedicatedScope, DedicatedType, dedicated_of, span_dedicated};

/// The item range of `row` in a list column.
fn items(list: &ListArray, row: usize) -> Result<Range<usize>, RowsError> {
    let offsets = list.value_offsets();
    match (offsets.get(row), offsets.get(row + 1)) {
        (Some(start), Some(end)) if *start >= 0 && start <= end => {
            Ok(*start as usize..*end as usize)
        }
        _ => Err(RowsError::new(format!(
            "list offsets of row {row} out of range"
        ))),
    }
}

/// The `key` strings of an attribute list column (`List<Struct{key, ..}>`).
fn key_column<'a>(list: &'a ListArray, name: &str) -> Result<&'a StringArray, RowsError> {
    let values: &StructArray = downcast(list.values().as_ref(), name)?;
    struct_column(values, "key", name)
}

/// The nested list `child` of a `List<Struct{child: List<..>}>` column.
fn nested_list<'a>(
    list: &'a ListArray,
    child: &str,
    name: &str,
) -> Result<&'a ListArray, RowsError> {
    let values: &StructArray = downcast(list.values().as_ref(), name)?;
    struct_column(values, child, name)
}

/// The attribute-key indexes of `row` in `events.attrs` / `links.attrs`.
fn nested_keys(
    outer: &ListArray,
    inner: &ListArray,
    row: usize,
) -> Result<Range<usize>, RowsError> {
    let outer_items = items(outer, row)?;
    if outer_items.is_empty() {
        return Ok(0..0);
    }
    let first = items(inner, outer_items.start)?;
    let last = items(inner, outer_items.end - 1)?;
    Ok(first.start..last.end)
}

fn distinct_refs(batch: &RecordBatch, name: &str) -> Result<BTreeSet<u32>, RowsError> {
    let refs: &UInt32Array = column(batch, name)?;
    Ok(refs.values().iter().copied().collect())
}

pub(super) fn names(
    names: &mut TagNames,
    batch: &RecordBatch,
    tables: &RefTables,
) -> Result<(), RowsError> {
    let rows = batch.num_rows();
    if names.wants(DataScope::Span) {
        let attrs: &ListArray = column(batch, schema::ATTRS)?;
        let keys = key_column(attrs, "attrs")?;
        for row in 0..rows {
            for index in items(attrs, row)? {
                names.insert(DataScope::Span, keys.value(index));
            }
        }
        for dedicated in dedicated_of(DedicatedScope::Span) {
            let present = batch
                .column_by_name(dedicated.column)
                .is_some_and(|values| values.null_count() < values.len());
            if present {
                names.insert(DataScope::Span, dedicated.attribute);
            }
        }
    }
    for (scope, name) in [
        (DataScope::Event, schema::EVENTS),
        (DataScope::Link, schema::LINKS),
    ] {
        if !names.wants(scope) {
            continue;
        }
        let outer: &ListArray = column(batch, name)?;
        let inner = nested_list(outer, "attrs", name)?;
        let keys = key_column(inner, name)?;
        for row in 0..rows {
            for index in nested_keys(outer, inner, row)? {
                names.insert(scope, keys.value(index));
            }
        }
    }
    if names.wants(DataScope::Resource) {
        for resource_ref in distinct_refs(batch, schema::RESOURCE_REF)? {
            let resource = tables.resource(resource_ref).ok_or_else(|| {
                RowsError::new(format!("resource_ref {resource_ref} out of range"))
            })?;
            for attribute in resource
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
            {
                names.insert(DataScope::Resource, &attribute.key);
            }
        }
    }
    if names.wants(DataScope::Instrumentation) {
        for scope_ref in distinct_refs(batch, schema::SCOPE_REF)? {
            let scope = tables
                .scope(scope_ref)
                .ok_or_else(|| RowsError::new(format!("scope_ref {scope_ref} out of range")))?;
            for attribute in scope.scope.iter().flat_map(|scope| &scope.attributes) {
                names.insert(DataScope::Instrumentation, &attribute.key);
            }
        }
    }
    Ok(())
}

fn values_of_key(attributes: &[KeyValue], key: &str, values: &mut TagValues) {
    for attribute in attributes.iter().filter(|attribute| attribute.key == key) {
        values.insert_any(attribute.value.as_ref());
    }
}

fn string_values(batch: &RecordBatch, name: &str, values: &mut TagValues) -> Result<(), RowsError> {
    let strings: &StringArray = column(batch, name)?;
    for row in 0..strings.len() {
        if strings.is_valid(row) {
            values.insert_string(strings.value(row));
        }
    }
    Ok(())
}

pub(super) fn values(
    target: &ValueTarget,
    values: &mut TagValues,
    batch: &RecordBatch,
    tables: &RefTables,
) -> Result<(), RowsError> {
    let rows = batch.num_rows();
    let mut scratch: Vec<KeyValue> = Vec::new();
    if let Some(key) = &target.span {
        let attrs = column::<ListArray>(batch, schema::ATTRS)?;
        let reader = AttrListReader::new(attrs, schema::ATTRS)?;
        for row in 0..rows {
            scratch.clear();
            reader.read_into(row, &mut scratch)?;
            values_of_key(&scratch, key, values);
        }
        if let Some(dedicated) = span_dedicated(key) {
            match dedicated.value_type {
                DedicatedType::String => string_values(batch, dedicated.column, values)?,
                DedicatedType::Int => {
                    let ints: &Int64Array = column(batch, dedicated.column)?;
                    for row in 0..ints.len() {
                        if ints.is_valid(row) {
                            values.insert_int(ints.value(row));
                        }
                    }
                }
            }
        }
    }
    for (key, name) in [
        (&target.event, schema::EVENTS),
        (&target.link, schema::LINKS),
    ] {
        let Some(key) = key else {
            continue;
        };
        let outer: &ListArray = column(batch, name)?;
        let inner = nested_list(outer, "attrs", name)?;
        let reader = AttrListReader::new(inner, name)?;
        for row in 0..rows {
            for item in items(outer, row)? {
                scratch.clear();
                reader.read_into(item, &mut scratch)?;
                values_of_key(&scratch, key, values);
            }
        }
    }
    if let Some(key) = &target.resource {
        for resource_ref in distinct_refs(batch, schema::RESOURCE_REF)? {
            let resource = tables.resource(resource_ref).ok_or_else(|| {
                RowsError::new(format!("resource_ref {resource_ref} out of range"))
            })?;
            if let Some(resource) = &resource.resource {
                values_of_key(&resource.attributes, key, values);
            }
        }
    }
    let scope_intrinsic = matches!(
        target.intrinsic,
        Some(IntrinsicValues::InstrumentationName | IntrinsicValues::InstrumentationVersion)
    );
    if target.instrumentation.is_some() || scope_intrinsic {
        for scope_ref in distinct_refs(batch, schema::SCOPE_REF)? {
            let scope = tables
                .scope(scope_ref)
                .ok_or_else(|| RowsError::new(format!("scope_ref {scope_ref} out of range")))?;
            let Some(scope) = &scope.scope else {
                continue;
            };
            if let Some(key) = &target.instrumentation {
                values_of_key(&scope.attributes, key, values);
            }
            match target.intrinsic {
                Some(IntrinsicValues::InstrumentationName) => values.insert_string(&scope.name),
                Some(IntrinsicValues::InstrumentationVersion) => {
                    values.insert_string(&scope.version)
                }
                _ => {}
            }
        }
    }
    match target.intrinsic {
        Some(IntrinsicValues::SpanName) => string_values(batch, schema::NAME, values)?,
        Some(IntrinsicValues::StatusMessage) => {
            string_values(batch, schema::STATUS_MESSAGE, values)?
        }
        Some(IntrinsicValues::RootName) => string_values(batch, schema::ROOT_SPAN_NAME, values)?,
        Some(IntrinsicValues::RootService) => {
            string_values(batch, schema::ROOT_SERVICE_NAME, values)?
        }
        Some(IntrinsicValues::EventName) => {
            let outer: &ListArray = column(batch, schema::EVENTS)?;
            let events: &StructArray = downcast(outer.values().as_ref(), schema::EVENTS)?;
            let event_names: &StringArray = struct_column(events, "name", schema::EVENTS)?;
            for row in 0..rows {
                for item in items(outer, row)? {
                    if event_names.is_valid(item) {
                        values.insert_string(event_names.value(item));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
