//! Values for the rows a pass returns: span columns, span-level attribute columns and the
//! per-event / per-link tables, materialised as `Value`s only for those rows.

use std::collections::HashMap;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int32Array,
    Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt8Array, UInt32Array,
};
use contrail_traceql::ast::{Attribute, Intrinsic, SpanKind, Status};
use contrail_traceql::fetch::{NestedValues, ValueColumn};
use contrail_traceql::memory::otlp::lookup as attribute_value;
use contrail_traceql::value::Value;

use super::condition::{decode_any_value, is_absent, scope_value};
use super::sources::{FlatKind, ItemField, Source};
use super::structure::{Parent, Structure};
use crate::block::v1::convert::RefTables;
use crate::block::v1::convert::attrs::value_type;
use crate::block::v1::schema;

type Out<T> = Result<T, String>;

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Out<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("decoded batch has no column {name}"))
}

fn typed<'a, T: Array + 'static>(array: &'a dyn Array, name: &str) -> Out<&'a T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column {name} has unexpected type {}", array.data_type()))
}

fn field<'a>(items: &'a StructArray, name: &str) -> Out<&'a ArrayRef> {
    items
        .column_by_name(name)
        .ok_or_else(|| format!("decoded list has no field {name}"))
}

/// Interns repeated values into a dictionary column.
#[derive(Default)]
struct DictBuilder {
    keys: Vec<u32>,
    values: Vec<Value>,
    index: HashMap<String, u32>,
}

impl DictBuilder {
    fn push(&mut self, text: &str, make: impl FnOnce() -> Value) {
        let next = self.values.len() as u32;
        let key = *self.index.entry(text.to_owned()).or_insert_with(|| next);
        if key == next {
            self.values.push(make());
        }
        self.keys.push(key);
    }

    fn finish(self) -> ValueColumn {
        ValueColumn::Dict {
            keys: self.keys,
            values: self.values,
        }
    }
}

fn status_value(code: i32) -> Value {
    Value::Status(match code {
        1 => Status::Ok,
        2 => Status::Error,
        _ => Status::Unset,
    })
}

fn kind_value(code: i32) -> Value {
    Value::Kind(match code {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    })
}

/// The generic attribute lists of one nesting level, for value lookups.
pub(crate) struct AttrLists<'a> {
    offsets: &'a [i32],
    key: &'a StringArray,
    value_type: &'a UInt8Array,
    string: &'a StringArray,
    int: &'a Int64Array,
    double: &'a Float64Array,
    boolean: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> AttrLists<'a> {
    pub(crate) fn new(list: &'a ListArray) -> Out<Self> {
        let items: &StructArray = typed(list.values().as_ref(), "attrs")?;
        Ok(AttrLists {
            offsets: list.value_offsets(),
            key: typed(field(items, "key")?.as_ref(), "attrs.key")?,
            value_type: typed(field(items, "type")?.as_ref(), "attrs.type")?,
            string: typed(field(items, "str")?.as_ref(), "attrs.str")?,
            int: typed(field(items, "int")?.as_ref(), "attrs.int")?,
            double: typed(field(items, "double")?.as_ref(), "attrs.double")?,
            boolean: typed(field(items, "bool")?.as_ref(), "attrs.bool")?,
            bytes: typed(field(items, "bytes")?.as_ref(), "attrs.bytes")?,
        })
    }

    /// The value of the first attribute `key` of list `list` (nil when absent).
    pub(crate) fn value(&self, list: usize, key: &str) -> Value {
        let (Some(start), Some(end)) = (self.offsets.get(list), self.offsets.get(list + 1)) else {
            return Value::Nil;
        };
        for item in (*start).max(0) as usize..(*end).max(0) as usize {
            if item >= self.key.len() || self.key.value(item) != key {
                continue;
            }
            return match self.value_type.value(item) {
                value_type::STRING if self.string.is_valid(item) => {
                    Value::string(self.string.value(item))
                }
                value_type::INT if self.int.is_valid(item) => Value::Int(self.int.value(item)),
                value_type::DOUBLE if self.double.is_valid(item) => {
                    Value::Float(self.double.value(item))
                }
                value_type::BOOL if self.boolean.is_valid(item) => {
                    Value::Bool(self.boolean.value(item))
                }
                value_type::ARRAY if self.bytes.is_valid(item) => {
                    decode_any_value(self.bytes.value(item))
                }
                _ => Value::Nil,
            };
        }
        Value::Nil
    }
}

/// The span-level column of `source` for batch rows `rows` (in order), or `None` when the
/// source is reported elsewhere (trace info, span columns, events, links).
pub(crate) fn span_values(
    source: &Source,
    batch: &RecordBatch,
    rows: &[usize],
    context: &RowContext<'_>,
) -> Out<Option<ValueColumn>> {
    Ok(Some(match source {
        Source::Flat(flat) => match flat.column {
            schema::NAME | schema::STATUS_MESSAGE => {
                let strings: &StringArray =
                    typed(column(batch, flat.column)?.as_ref(), flat.column)?;
                let mut dict = DictBuilder::default();
                for row in rows {
                    let text = if strings.is_null(*row) {
                        ""
                    } else {
                        strings.value(*row)
                    };
                    dict.push(text, || Value::string(text));
                }
                dict.finish()
            }
            schema::STATUS_CODE => {
                let codes: &Int32Array = typed(column(batch, flat.column)?.as_ref(), flat.column)?;
                let keys = rows
                    .iter()
                    .map(|row| {
                        if codes.is_null(*row) {
                            0
                        } else {
                            codes.value(*row).clamp(0, 2) as u32
                        }
                    })
                    .collect();
                ValueColumn::Dict {
                    keys,
                    values: vec![status_value(0), status_value(1), status_value(2)],
                }
            }
            schema::KIND => {
                let codes: &Int32Array = typed(column(batch, flat.column)?.as_ref(), flat.column)?;
                let keys = rows
                    .iter()
                    .map(|row| codes.value(*row).clamp(0, 5) as u32)
                    .collect();
                ValueColumn::Dict {
                    keys,
                    values: (0..6).map(kind_value).collect(),
                }
            }
            schema::SPAN_ID => {
                let ids: &FixedSizeBinaryArray =
                    typed(column(batch, flat.column)?.as_ref(), flat.column)?;
                ValueColumn::Plain(
                    rows.iter()
                        .map(|row| Value::string(&hex::encode(ids.value(*row))))
                        .collect(),
                )
            }
            // Trace-level intrinsics and duration: in `TraceInfo` / `SpanColumns`.
            _ => return Ok(None),
        },
        Source::SpanAttr { key, dedicated } => {
            let generic = !is_absent(context.absent_keys, key);
            let attrs = if generic {
                Some(AttrLists::new(typed(
                    column(batch, schema::ATTRS)?.as_ref(),
                    schema::ATTRS,
                )?)?)
            } else {
                None
            };
            let dedicated_column = match dedicated {
                Some(flat) => Some((flat.kind, column(batch, flat.column)?.clone())),
                None => None,
            };
            ValueColumn::Plain(
                rows.iter()
                    .map(|row| {
                        if let Some((kind, array)) = &dedicated_column
                            && array.is_valid(*row)
                        {
                            match kind {
                                FlatKind::Int => {
                                    if let Some(ints) = array.as_any().downcast_ref::<Int64Array>()
                                    {
                                        return Value::Int(ints.value(*row));
                                    }
                                }
                                _ => {
                                    if let Some(texts) =
                                        array.as_any().downcast_ref::<StringArray>()
                                    {
                                        return Value::string(texts.value(*row));
                                    }
                                }
                            }
                        }
                        match &attrs {
                            Some(attrs) => attrs.value(*row, key),
                            None => Value::Nil,
                        }
                    })
                    .collect(),
            )
        }
        Source::ResourceAttr { key } => {
            let refs: &UInt32Array = typed(
                column(batch, schema::RESOURCE_REF)?.as_ref(),
                schema::RESOURCE_REF,
            )?;
            let tables = context.tables;
            ValueColumn::Dict {
                keys: rows.iter().map(|row| refs.value(*row)).collect(),
                values: (0..tables.resource_count() as u32)
                    .map(|index| {
                        let attributes = tables
                            .resource(index)
                            .and_then(|entry| entry.resource.as_ref())
                            .map(|resource| resource.attributes.as_slice())
                            .unwrap_or_default();
                        attribute_value(attributes, key)
                    })
                    .collect(),
            }
        }
        Source::Scope(field_of) => {
            let refs: &UInt32Array = typed(
                column(batch, schema::SCOPE_REF)?.as_ref(),
                schema::SCOPE_REF,
            )?;
            let tables = context.tables;
            ValueColumn::Dict {
                keys: rows.iter().map(|row| refs.value(*row)).collect(),
                values: (0..tables.scope_count() as u32)
                    .map(|index| scope_value(tables, index, field_of))
                    .collect(),
            }
        }
        Source::Structural(intrinsic) => {
            let structure = context.structure;
            ValueColumn::Plain(
                context
                    .row_group_rows(rows)
                    .map(|row| match intrinsic {
                        Intrinsic::NestedSetLeft => {
                            Value::Int(i64::from(structure.nested_set(row).0))
                        }
                        Intrinsic::NestedSetRight => {
                            Value::Int(i64::from(structure.nested_set(row).1))
                        }
                        Intrinsic::NestedSetParent => {
                            Value::Int(i64::from(structure.nested_set(row).2))
                        }
                        Intrinsic::SpanChildCount => {
                            Value::Int(i64::from(structure.child_count(row)))
                        }
                        Intrinsic::SpanParentId => match structure.parent(row) {
                            Parent::None => Value::Nil,
                            Parent::Missing(id) => Value::string(&hex::encode(id)),
                            Parent::Row(parent) => context
                                .span_id_of(parent)
                                .map(|id| Value::string(&hex::encode(id)))
                                .unwrap_or(Value::Nil),
                        },
                        _ => Value::Nil,
                    })
                    .collect(),
            )
        }
        Source::Unsupported => ValueColumn::Plain(vec![Value::Nil; rows.len()]),
        Source::Event(_) | Source::Link(_) => return Ok(None),
    }))
}

/// What value materialisation needs besides the batch.
pub(crate) struct RowContext<'a> {
    pub(crate) tables: &'a RefTables,
    pub(crate) structure: &'a Structure,
    /// Row-group row of each batch row.
    pub(crate) batch_rows: &'a [u32],
    /// Span IDs by row-group row, for `span:parentID` (when requested).
    pub(crate) span_ids: Option<&'a HashMap<u32, [u8; 8]>>,
    /// Keys no span of the row group has in `attrs` (sorted; the list is not decoded for them).
    pub(crate) absent_keys: &'a [std::sync::Arc<str>],
}

impl RowContext<'_> {
    fn row_group_rows<'b>(&'b self, rows: &'b [usize]) -> impl Iterator<Item = u32> + 'b {
        rows.iter().map(|row| self.batch_rows[*row])
    }

    fn span_id_of(&self, row: u32) -> Option<[u8; 8]> {
        self.span_ids.and_then(|ids| ids.get(&row).copied())
    }
}

/// The events or links table for batch rows `rows`: offsets plus one column per source.
pub(crate) fn nested_values(
    nested: &str,
    sources: &[(Attribute, Source)],
    batch: &RecordBatch,
    rows: &[usize],
) -> Out<NestedValues> {
    if sources.is_empty() {
        return Ok(NestedValues::default());
    }
    let list: &ListArray = typed(column(batch, nested)?.as_ref(), nested)?;
    let items: &StructArray = typed(list.values().as_ref(), nested)?;
    let offsets = list.value_offsets();
    let mut out_offsets = Vec::with_capacity(rows.len() + 1);
    let mut item_rows: Vec<usize> = Vec::new();
    out_offsets.push(0u32);
    for row in rows {
        let (start, end) = (
            offsets[*row].max(0) as usize,
            offsets[*row + 1].max(0) as usize,
        );
        item_rows.extend(start..end);
        out_offsets.push(item_rows.len() as u32);
    }
    let mut columns = Vec::with_capacity(sources.len());
    for (attribute, source) in sources {
        let (Source::Event(field_of) | Source::Link(field_of)) = source else {
            continue;
        };
        let values: Vec<Value> = match field_of {
            ItemField::Name => {
                let names: &StringArray = typed(field(items, "name")?.as_ref(), "events.name")?;
                item_rows
                    .iter()
                    .map(|item| Value::string(names.value(*item)))
                    .collect()
            }
            ItemField::TimeSinceStart => {
                let times: &Int64Array = typed(
                    field(items, "time_offset_nano")?.as_ref(),
                    "events.time_offset_nano",
                )?;
                item_rows
                    .iter()
                    .map(|item| Value::Duration(times.value(*item)))
                    .collect()
            }
            ItemField::TraceId | ItemField::SpanId => {
                let name = if matches!(field_of, ItemField::TraceId) {
                    "trace_id"
                } else {
                    "span_id"
                };
                let ids: &BinaryArray = typed(field(items, name)?.as_ref(), name)?;
                item_rows
                    .iter()
                    .map(|item| Value::string(&hex::encode(ids.value(*item))))
                    .collect()
            }
            ItemField::Attr(key) => {
                let attrs = AttrLists::new(typed(field(items, schema::ATTRS)?.as_ref(), "attrs")?)?;
                item_rows
                    .iter()
                    .map(|item| attrs.value(*item, key))
                    .collect()
            }
        };
        columns.push((attribute.clone(), ValueColumn::Plain(values)));
    }
    Ok(NestedValues {
        offsets: out_offsets,
        columns,
    })
}
