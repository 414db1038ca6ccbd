//! Row-by-row evaluation of resolved conditions over the decoded first-pass columns, with
//! Arrow kernels; results are bitmaps over the decoded rows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int32Array, ListArray, RecordBatch, StringArray, StructArray, UInt8Array,
};
use arrow::buffer::BooleanBuffer;
use arrow::compute::kernels::cmp;
use contrail_traceql::ast::Static;
use contrail_traceql::fetch::Combine;

use super::condition::{FlatTest, Op, Resolved, ResolvedSource, flat_test, id_width, is_absent};
use super::plan::ScanPlan;
use super::sources::{Flat, FlatKind, ItemField, Source};
use super::structure::Structure;
use crate::block::v1::convert::attrs::value_type;
use crate::block::v1::schema;
use crate::parquet_query::predicate::{ColumnPredicate, Literal};

type EvalResult = Result<BooleanBuffer, String>;

fn all(len: usize, value: bool) -> BooleanBuffer {
    if value {
        BooleanBuffer::new_set(len)
    } else {
        BooleanBuffer::new_unset(len)
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("decoded batch has no column {name}"))
}

fn field<'a>(items: &'a StructArray, name: &str) -> Result<&'a ArrayRef, String> {
    items
        .column_by_name(name)
        .ok_or_else(|| format!("decoded list has no field {name}"))
}

fn downcast<'a, T: Array + 'static>(array: &'a dyn Array, name: &str) -> Result<&'a T, String> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column {name} has unexpected type {}", array.data_type()))
}

fn predicate_mask(predicate: &ColumnPredicate, array: &dyn Array) -> EvalResult {
    predicate
        .evaluate(array)
        .map(|mask| mask.values().clone())
        .map_err(|error| error.to_string())
}

/// Strings with nulls read as "" (`statusMessage` of a span without one).
fn strings_or_empty(array: &dyn Array) -> Result<StringArray, String> {
    let strings: &StringArray = downcast(array, "string column")?;
    if strings.null_count() == 0 {
        return Ok(strings.clone());
    }
    Ok(strings
        .iter()
        .map(|value| Some(value.unwrap_or("")))
        .collect())
}

/// Status codes with nulls read as unset (0).
fn status_codes(array: &dyn Array) -> Result<Int32Array, String> {
    let codes: &Int32Array = downcast(array, schema::STATUS_CODE)?;
    let Some(nulls) = codes.nulls().filter(|nulls| nulls.null_count() > 0) else {
        return Ok(codes.clone());
    };
    let values: Vec<i32> = codes
        .values()
        .iter()
        .zip(nulls.iter())
        .map(|(code, valid)| if valid { *code } else { 0 })
        .collect();
    Ok(Int32Array::from(values))
}

/// Per-row `=~` over strings, caching the answer per distinct string.
fn regex_mask(strings: &StringArray, op: &Op) -> BooleanBuffer {
    let Op::Regex { regex, negated } = op else {
        return all(strings.len(), false);
    };
    let mut cache: HashMap<&str, bool> = HashMap::new();
    let mut bits = arrow::array::BooleanBufferBuilder::new(strings.len());
    for index in 0..strings.len() {
        if strings.is_null(index) {
            bits.append(false);
            continue;
        }
        let text = strings.value(index);
        let holds = *cache
            .entry(text)
            .or_insert_with(|| regex.is_match(text) != *negated);
        bits.append(holds);
    }
    bits.finish()
}

/// A flat column (`attribute`: a dedicated span-attribute column, where null means absent).
pub(crate) fn eval_flat(array: &dyn Array, flat: &Flat, op: &Op, attribute: bool) -> EvalResult {
    let len = array.len();
    match op {
        Op::Compare { op, value } => {
            let test = flat_test(flat.kind, *op, value, id_width(flat.column));
            match test {
                FlatTest::Nothing => Ok(all(len, false)),
                FlatTest::Everything => Ok(all(len, true)),
                FlatTest::Predicate(predicate) => match flat.kind {
                    FlatKind::Status => predicate_mask(&predicate, &status_codes(array)?),
                    FlatKind::String if !attribute => {
                        predicate_mask(&predicate, &strings_or_empty(array)?)
                    }
                    _ => predicate_mask(&predicate, array),
                },
            }
        }
        Op::Regex { .. } => match flat.kind {
            FlatKind::String if attribute => Ok(regex_mask(downcast(array, flat.column)?, op)),
            FlatKind::String => Ok(regex_mask(&strings_or_empty(array)?, op)),
            // IDs are hex strings to the engine: cannot rule anything out cheaply.
            FlatKind::Id => Ok(all(len, true)),
            _ => Ok(all(len, false)),
        },
        Op::Exists if attribute => predicate_mask(&ColumnPredicate::NotNull, array),
        Op::Exists | Op::Missing => Ok(all(len, true)),
    }
}

/// Per attribute list (one per row of `list`): whether the attribute `key` may satisfy `op`.
/// Array values hold (the engine decides on them).
pub(crate) fn eval_attr_list(list: &ListArray, key: &str, op: &Op) -> EvalResult {
    let rows = list.len();
    if matches!(op, Op::Missing) {
        return Ok(all(rows, true));
    }
    let items: &StructArray = downcast(list.values().as_ref(), "attrs")?;
    let keys: &StringArray = downcast(field(items, "key")?.as_ref(), "attrs.key")?;
    let types: &UInt8Array = downcast(field(items, "type")?.as_ref(), "attrs.type")?;
    let key_mask = cmp::eq(keys, &StringArray::new_scalar(key))
        .map_err(|error| error.to_string())?
        .values()
        .clone();
    let item_mask = if key_mask.count_set_bits() == 0 {
        key_mask
    } else {
        let type_is = |tag: u8| -> EvalResult {
            cmp::eq(types, &UInt8Array::new_scalar(tag))
                .map(|mask| mask.values().clone())
                .map_err(|error| error.to_string())
        };
        let value_mask = match op {
            Op::Exists | Op::Missing => all(items.len(), true),
            Op::Compare { op, value } => {
                let typed = |name: &str, tag: u8, literal: Literal| -> EvalResult {
                    let values = field(items, name)?;
                    let predicate = ColumnPredicate::Compare { op: *op, literal };
                    Ok(&predicate_mask(&predicate, values.as_ref())? & &type_is(tag)?)
                };
                let scalar = match value {
                    Static::Int(number) => {
                        &typed("int", value_type::INT, Literal::Int(*number))?
                            | &typed("double", value_type::DOUBLE, Literal::Float(*number as f64))?
                    }
                    Static::Float(number) => {
                        &typed("int", value_type::INT, Literal::Float(*number))?
                            | &typed("double", value_type::DOUBLE, Literal::Float(*number))?
                    }
                    Static::Duration(nanos) => {
                        let float = Literal::Float(*nanos as f64);
                        &typed("int", value_type::INT, float.clone())?
                            | &typed("double", value_type::DOUBLE, float)?
                    }
                    Static::String(text) => typed("str", value_type::STRING, Literal::text(text))?,
                    Static::Bool(flag) => typed("bool", value_type::BOOL, Literal::Bool(*flag))?,
                    Static::Nil | Static::Status(_) | Static::Kind(_) => all(items.len(), false),
                };
                &scalar | &type_is(value_type::ARRAY)?
            }
            Op::Regex { .. } => {
                let strings: &StringArray = downcast(field(items, "str")?.as_ref(), "attrs.str")?;
                &(&regex_mask(strings, op) & &type_is(value_type::STRING)?)
                    | &type_is(value_type::ARRAY)?
            }
        };
        &key_mask & &value_mask
    };
    Ok(any_per_list(list.value_offsets(), &item_mask))
}

/// Row `r` holds when some item in `offsets[r]..offsets[r + 1]` does.
pub(crate) fn any_per_list(offsets: &[i32], items: &BooleanBuffer) -> BooleanBuffer {
    let rows = offsets.len().saturating_sub(1);
    let mut bits = arrow::array::BooleanBufferBuilder::new(rows);
    if items.count_set_bits() == 0 {
        bits.append_n(rows, false);
        return bits.finish();
    }
    for row in 0..rows {
        let start = offsets[row].max(0) as usize;
        let end = (offsets[row + 1].max(0) as usize).min(items.len());
        bits.append(end > start && items.slice(start, end - start).count_set_bits() > 0);
    }
    bits.finish()
}

fn eval_nested(batch: &RecordBatch, source: &Source, op: &Op) -> EvalResult {
    let (name, field_of) = match source {
        Source::Event(field) => (schema::EVENTS, field),
        Source::Link(field) => (schema::LINKS, field),
        _ => return Ok(all(batch.num_rows(), true)),
    };
    let list: &ListArray = downcast(column(batch, name)?.as_ref(), name)?;
    let items: &StructArray = downcast(list.values().as_ref(), name)?;
    let item_mask = match field_of {
        ItemField::Attr(key) => {
            let attrs: &ListArray = downcast(field(items, schema::ATTRS)?.as_ref(), "attrs")?;
            eval_attr_list(attrs, key, op)?
        }
        ItemField::Name => eval_flat(
            field(items, "name")?.as_ref(),
            &Flat {
                column: "events.name",
                kind: FlatKind::String,
            },
            op,
            false,
        )?,
        ItemField::TimeSinceStart => eval_flat(
            field(items, "time_offset_nano")?.as_ref(),
            &Flat {
                column: "events.time_offset_nano",
                kind: FlatKind::Duration,
            },
            op,
            false,
        )?,
        ItemField::TraceId | ItemField::SpanId => {
            let (leaf, column) = if matches!(field_of, ItemField::TraceId) {
                ("trace_id", "links.trace_id")
            } else {
                ("span_id", "links.span_id")
            };
            let flat = Flat {
                column,
                kind: FlatKind::Id,
            };
            eval_flat(field(items, leaf)?.as_ref(), &flat, op, false)?
        }
    };
    Ok(any_per_list(list.value_offsets(), &item_mask))
}

/// Whether each decoded row may satisfy `condition`, in a row group whose generic `attrs` list
/// holds none of `absent_keys` (sorted; the list is then not decoded for them).
pub(crate) fn evaluate(
    condition: &Resolved,
    batch: &RecordBatch,
    absent_keys: &[Arc<str>],
) -> EvalResult {
    let rows = batch.num_rows();
    let mut result = all(rows, false);
    for source in &condition.sources {
        let mask = match source {
            ResolvedSource::RefIn { refs, .. } if refs.is_empty() => all(rows, false),
            ResolvedSource::RefIn { column: name, refs } => {
                let refs_column = column(batch, name)?;
                predicate_mask(&ColumnPredicate::IntIn(refs.clone()), refs_column.as_ref())?
            }
            ResolvedSource::Column(source) => match source {
                Source::Flat(flat) => eval_flat(
                    column(batch, flat.column)?.as_ref(),
                    flat,
                    &condition.op,
                    false,
                )?,
                Source::SpanAttr { key, dedicated } => {
                    let generic = if is_absent(absent_keys, key) {
                        // every list of the row group lacks the key: only `= nil` holds
                        all(rows, matches!(condition.op, Op::Missing))
                    } else {
                        let attrs: &ListArray =
                            downcast(column(batch, schema::ATTRS)?.as_ref(), schema::ATTRS)?;
                        eval_attr_list(attrs, key, &condition.op)?
                    };
                    match dedicated {
                        Some(flat) => {
                            let array = column(batch, flat.column)?;
                            &generic | &eval_flat(array.as_ref(), flat, &condition.op, true)?
                        }
                        None => generic,
                    }
                }
                Source::Event(_) | Source::Link(_) => eval_nested(batch, source, &condition.op)?,
                Source::Structural(_) => all(rows, true),
                Source::Unsupported => all(rows, false),
                Source::ResourceAttr { .. } | Source::Scope(_) => all(rows, true),
            },
        };
        result = &result | &mask;
    }
    Ok(result)
}

/// Rows whose trace overlaps `[start, end]` (inclusive), from the trace-level columns.
pub(crate) fn trace_in_time(batch: &RecordBatch, start: u64, end: u64) -> EvalResult {
    let trace_start: &arrow::array::UInt64Array = downcast(
        column(batch, schema::TRACE_START)?.as_ref(),
        schema::TRACE_START,
    )?;
    let duration: &arrow::array::UInt64Array = downcast(
        column(batch, schema::TRACE_DURATION)?.as_ref(),
        schema::TRACE_DURATION,
    )?;
    let mut bits = arrow::array::BooleanBufferBuilder::new(batch.num_rows());
    for row in 0..batch.num_rows() {
        let first = trace_start.value(row);
        let last = first.saturating_add(duration.value(row));
        bits.append(first <= end && last >= start);
    }
    Ok(bits.finish())
}

/// Rows whose trace ID is in `trace_ids` (sorted).
pub(crate) fn trace_in_set(batch: &RecordBatch, trace_ids: &[[u8; 16]]) -> EvalResult {
    let ids: &arrow::array::FixedSizeBinaryArray =
        downcast(column(batch, schema::TRACE_ID)?.as_ref(), schema::TRACE_ID)?;
    let mut bits = arrow::array::BooleanBufferBuilder::new(batch.num_rows());
    let mut last: Option<(&[u8], bool)> = None;
    for row in 0..ids.len() {
        let id = ids.value(row);
        let holds = match last {
            Some((previous, holds)) if previous == id => holds,
            _ => trace_ids
                .binary_search_by(|probe| probe.as_slice().cmp(id))
                .is_ok(),
        };
        last = Some((id, holds));
        bits.append(holds);
    }
    Ok(bits.finish())
}

/// What the filter of one row group's decoded rows applies beside the conditions.
pub(crate) struct Filter<'a> {
    /// The trace time range (the row group is not wholly inside it).
    pub(crate) time_filter: bool,
    /// Trace-level conditions hold on portions with orphans (the batch holds the structure).
    pub(crate) with_orphans: bool,
    /// Generic attribute keys no span of the row group has (sorted).
    pub(crate) absent_keys: &'a [Arc<str>],
}

/// The conditions (combined) and the trace filters over the decoded rows.
pub(crate) fn filter_mask(
    plan: &ScanPlan,
    batch: &RecordBatch,
    &Filter {
        time_filter,
        with_orphans,
        absent_keys,
    }: &Filter<'_>,
) -> std::result::Result<BooleanBuffer, String> {
    let rows = batch.num_rows();
    // rows of portions with orphans (the batch then holds every row and the structure)
    let orphan_rows = if with_orphans {
        let structure = Structure::new(batch)?;
        let mut bits = arrow::array::BooleanBufferBuilder::new(rows);
        for row in 0..rows as u32 {
            bits.append(structure.has_orphans(structure.trace_of(row)));
        }
        Some(bits.finish())
    } else {
        None
    };
    let mut mask = if plan.conditions.is_empty() {
        BooleanBuffer::new_set(rows)
    } else {
        let mut combined: Option<BooleanBuffer> = None;
        for condition in &plan.conditions {
            let mut holds = evaluate(condition, batch, absent_keys)?;
            if condition.trace_level
                && let Some(orphans) = &orphan_rows
            {
                holds = &holds | orphans;
            }
            combined = Some(match (combined, plan.combine) {
                (None, _) => holds,
                (Some(acc), Combine::All) => &acc & &holds,
                (Some(acc), Combine::Any) => &acc | &holds,
            });
        }
        combined.unwrap_or_else(|| BooleanBuffer::new_set(rows))
    };
    if time_filter {
        mask = &mask & &trace_in_time(batch, plan.start_unix_nano, plan.end_unix_nano)?;
    }
    if let Some(ids) = &plan.trace_ids {
        mask = &mask & &trace_in_set(batch, ids)?;
    }
    Ok(mask)
}
