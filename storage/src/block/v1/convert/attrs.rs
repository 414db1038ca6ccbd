//! Generic typed attributes: OTLP `KeyValue` lists ↔ a `List<Struct{key, type, str, int, double,
//! bool, bytes}>` column.
//!
//! `type` says which value column holds the value, so every `AnyValue` survives the round trip:
//! scalars go to their typed column, arrays and key-value lists (nested to any depth) are stored
//! as their protobuf encoding in `bytes`, and "no value" (`KeyValue.value` absent) is told apart
//! from "an empty `AnyValue`".

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array, ListArray,
    StringArray, StructArray, UInt8Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field};
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use prost::Message;

use super::builders::{Utf8Builder, renewed_offsets};
use super::{RowsError, downcast, struct_column};
use crate::block::v1::schema::attr_fields;

/// Value type tags stored in the `type` column.
pub(crate) mod value_type {
    /// `KeyValue.value` is absent.
    pub(crate) const NONE: u8 = 0;
    /// An `AnyValue` with no value set.
    pub(crate) const EMPTY: u8 = 1;
    pub(crate) const STRING: u8 = 2;
    pub(crate) const BOOL: u8 = 3;
    pub(crate) const INT: u8 = 4;
    pub(crate) const DOUBLE: u8 = 5;
    pub(crate) const BYTES: u8 = 6;
    /// `bytes` holds the protobuf-encoded `AnyValue` (array).
    pub(crate) const ARRAY: u8 = 7;
    /// `bytes` holds the protobuf-encoded `AnyValue` (key-value list).
    pub(crate) const KVLIST: u8 = 8;
    /// `int` holds a string-table index (`stringValueStrindex`, profiles only).
    pub(crate) const STRING_INDEX: u8 = 9;
    /// `bytes` holds the whole protobuf-encoded `KeyValue` (used when `key_strindex` is set,
    /// which only the profiles signal does).
    pub(crate) const RAW_KEY_VALUE: u8 = 10;
}

/// One attribute value as the `attrs` columns store it (borrowed where the input allows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue<'a> {
    /// `KeyValue.value` is absent.
    None,
    /// An `AnyValue` with no value set.
    Empty,
    /// UTF-8 by contract (checked on the way in; the column checks it again in bulk).
    String(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// The protobuf encoding of the whole `AnyValue` (an array).
    Array(Vec<u8>),
    /// The protobuf encoding of the whole `AnyValue` (a key-value list).
    Kvlist(Vec<u8>),
    StringIndex(i32),
    /// The protobuf encoding of the whole `KeyValue` (`key_strindex` set).
    RawKeyValue(Vec<u8>),
}

impl<'a> AttrValue<'a> {
    /// The stored form of a decoded `KeyValue.value`.
    pub(crate) fn of(value: Option<&'a AnyValue>) -> Self {
        match value {
            None => AttrValue::None,
            Some(AnyValue { value: None }) => AttrValue::Empty,
            Some(any @ AnyValue { value: Some(value) }) => match value {
                Value::StringValue(text) => AttrValue::String(text.as_bytes()),
                Value::BoolValue(flag) => AttrValue::Bool(*flag),
                Value::IntValue(number) => AttrValue::Int(*number),
                Value::DoubleValue(number) => AttrValue::Double(*number),
                Value::BytesValue(raw) => AttrValue::Bytes(raw),
                Value::ArrayValue(_) => AttrValue::Array(any.encode_to_vec()),
                Value::KvlistValue(_) => AttrValue::Kvlist(any.encode_to_vec()),
                Value::StringValueStrindex(index) => AttrValue::StringIndex(*index),
            },
        }
    }
}

/// Builds one attribute-list column, one list per appended row.
///
/// Per attribute it records the `type` tag and one scalar slot; the `int`, `double` and `bool`
/// columns (each null wherever the tag says another type) are built from those at
/// [`AttrListBuilder::finish`], in one pass per column, instead of one nullable append per
/// column per attribute (~400 instructions an attribute with Arrow's builders).
pub(crate) struct AttrListBuilder {
    offsets: Vec<i32>,
    key: Utf8Builder,
    tags: Vec<u8>,
    /// Per attribute: the int or string index (two's complement), the double's bits, or the
    /// bool as 0 or 1; 0 when the value is of another type.
    scalars: Vec<u64>,
    string: Utf8Builder,
    bytes: BinaryBuilder,
}

impl Default for AttrListBuilder {
    fn default() -> Self {
        AttrListBuilder {
            offsets: vec![0],
            key: Utf8Builder::default(),
            tags: Vec::new(),
            scalars: Vec::new(),
            string: Utf8Builder::default(),
            bytes: BinaryBuilder::new(),
        }
    }
}

fn is_int(tag: u8) -> bool {
    matches!(tag, value_type::INT | value_type::STRING_INDEX)
}

/// Validity of a value column: set where `holds` the attribute's tag; `None` when all are.
fn validity(tags: &[u8], holds: impl Fn(u8) -> bool) -> Option<NullBuffer> {
    let nulls = NullBuffer::new(BooleanBuffer::collect_bool(tags.len(), |index| {
        holds(tags[index])
    }));
    (nulls.null_count() > 0).then_some(nulls)
}

impl AttrListBuilder {
    /// Appends one row holding `attrs`.
    pub(crate) fn append_list<'a>(&mut self, attrs: impl IntoIterator<Item = &'a KeyValue>) {
        for attr in attrs {
            self.append_attr(attr);
        }
        self.end_list();
    }

    fn append_attr(&mut self, attr: &KeyValue) {
        let value = if attr.key_strindex != 0 {
            AttrValue::RawKeyValue(attr.encode_to_vec())
        } else {
            AttrValue::of(attr.value.as_ref())
        };
        self.append_value(attr.key.as_bytes(), value);
    }

    /// Appends one attribute to the current row (ended by [`AttrListBuilder::end_list`]). `key`
    /// is UTF-8 by contract, as [`AttrValue::String`].
    pub(crate) fn append_value(&mut self, key: &[u8], value: AttrValue<'_>) {
        self.key.append_value(key);
        let mut string: Option<&[u8]> = None;
        let mut scalar = 0u64;
        let mut bytes: Option<&[u8]> = None;
        let tag = match &value {
            AttrValue::None => value_type::NONE,
            AttrValue::Empty => value_type::EMPTY,
            AttrValue::String(text) => {
                string = Some(*text);
                value_type::STRING
            }
            AttrValue::Bool(flag) => {
                scalar = u64::from(*flag);
                value_type::BOOL
            }
            AttrValue::Int(number) => {
                scalar = *number as u64;
                value_type::INT
            }
            AttrValue::Double(number) => {
                scalar = number.to_bits();
                value_type::DOUBLE
            }
            AttrValue::Bytes(raw) => {
                bytes = Some(raw);
                value_type::BYTES
            }
            AttrValue::Array(encoded) => {
                bytes = Some(encoded);
                value_type::ARRAY
            }
            AttrValue::Kvlist(encoded) => {
                bytes = Some(encoded);
                value_type::KVLIST
            }
            AttrValue::StringIndex(index) => {
                scalar = i64::from(*index) as u64;
                value_type::STRING_INDEX
            }
            AttrValue::RawKeyValue(encoded) => {
                bytes = Some(encoded);
                value_type::RAW_KEY_VALUE
            }
        };
        self.tags.push(tag);
        self.scalars.push(scalar);
        self.string.append_option(string);
        self.bytes.append_option(bytes);
    }

    /// Ends the current row (a list of the attributes appended since the last end).
    pub(crate) fn end_list(&mut self) {
        // A batch of 8,192 spans never holds 2^31 attributes.
        self.offsets
            .push(i32::try_from(self.tags.len()).unwrap_or(i32::MAX));
    }

    /// Finishes the column built so far and resets the builder (at the size of this batch).
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, RowsError> {
        let items = self.tags.len();
        let tags = std::mem::replace(&mut self.tags, Vec::with_capacity(items));
        let scalars = std::mem::replace(&mut self.scalars, Vec::with_capacity(items));
        let typed = |holds: fn(u8) -> bool| {
            tags.iter()
                .zip(&scalars)
                .map(move |(tag, scalar)| if holds(*tag) { *scalar } else { 0 })
        };
        let int: Vec<i64> = typed(is_int).map(|scalar| scalar as i64).collect();
        let double: Vec<f64> = typed(|tag| tag == value_type::DOUBLE)
            .map(f64::from_bits)
            .collect();
        let boolean = BooleanBuffer::collect_bool(items, |index| {
            tags[index] == value_type::BOOL && scalars[index] != 0
        });
        let int = Int64Array::new(ScalarBuffer::from(int), validity(&tags, is_int));
        let double = Float64Array::new(
            ScalarBuffer::from(double),
            validity(&tags, |tag| tag == value_type::DOUBLE),
        );
        let boolean = BooleanArray::new(boolean, validity(&tags, |tag| tag == value_type::BOOL));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()?),
            Arc::new(UInt8Array::new(ScalarBuffer::from(tags), None)),
            Arc::new(self.string.finish()?),
            Arc::new(int),
            Arc::new(double),
            Arc::new(boolean),
            Arc::new(self.bytes.finish()),
        ];
        let values = StructArray::try_new(attr_fields(), arrays, None)?;
        let offsets = OffsetBuffer::new(renewed_offsets(&mut self.offsets).into());
        let field = Arc::new(Field::new("item", DataType::Struct(attr_fields()), false));
        Ok(Arc::new(ListArray::try_new(
            field,
            offsets,
            Arc::new(values),
            None,
        )?))
    }
}

/// Reads an attribute-list column back into `KeyValue`s.
pub(crate) struct AttrListReader<'a> {
    offsets: &'a [i32],
    key: &'a StringArray,
    value_type: &'a UInt8Array,
    string: &'a StringArray,
    int: &'a Int64Array,
    double: &'a Float64Array,
    boolean: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> AttrListReader<'a> {
    pub(crate) fn new(column: &'a dyn Array, name: &str) -> Result<Self, RowsError> {
        let list: &ListArray = downcast(column, name)?;
        let values: &StructArray = downcast(list.values().as_ref(), name)?;
        Ok(AttrListReader {
            offsets: list.value_offsets(),
            key: struct_column(values, "key", name)?,
            value_type: struct_column(values, "type", name)?,
            string: struct_column(values, "str", name)?,
            int: struct_column(values, "int", name)?,
            double: struct_column(values, "double", name)?,
            boolean: struct_column(values, "bool", name)?,
            bytes: struct_column(values, "bytes", name)?,
        })
    }

    /// The attributes of `row`, appended to `out`.
    pub(crate) fn read_into(&self, row: usize, out: &mut Vec<KeyValue>) -> Result<(), RowsError> {
        let (start, end) = match (self.offsets.get(row), self.offsets.get(row + 1)) {
            (Some(start), Some(end)) if *start >= 0 && start <= end => {
                (*start as usize, *end as usize)
            }
            _ => {
                return Err(RowsError::new(format!(
                    "attribute offsets of row {row} out of range"
                )));
            }
        };
        if end > self.key.len() {
            return Err(RowsError::new("attribute list longer than its values"));
        }
        out.reserve(end - start);
        for index in start..end {
            if self.value_type.value(index) == value_type::RAW_KEY_VALUE {
                if !self.bytes.is_valid(index) {
                    return Err(RowsError::new(format!(
                        "attribute {index}: value column is null"
                    )));
                }
                let decoded = KeyValue::decode(self.bytes.value(index))
                    .map_err(|error| RowsError::new(format!("attribute {index}: {error}")))?;
                out.push(decoded);
                continue;
            }
            out.push(KeyValue {
                key: self.key.value(index).to_owned(),
                value: self.value(index)?,
                key_strindex: 0,
            });
        }
        Ok(())
    }

    fn value(&self, index: usize) -> Result<Option<AnyValue>, RowsError> {
        let missing = || RowsError::new(format!("attribute {index}: value column is null"));
        let value = match self.value_type.value(index) {
            value_type::NONE => return Ok(None),
            value_type::EMPTY => return Ok(Some(AnyValue { value: None })),
            value_type::STRING if self.string.is_valid(index) => {
                Value::StringValue(self.string.value(index).to_owned())
            }
            value_type::BOOL if self.boolean.is_valid(index) => {
                Value::BoolValue(self.boolean.value(index))
            }
            value_type::INT if self.int.is_valid(index) => Value::IntValue(self.int.value(index)),
            value_type::STRING_INDEX if self.int.is_valid(index) => {
                let number = i32::try_from(self.int.value(index)).map_err(|_| {
                    RowsError::new(format!("attribute {index}: string index out of range"))
                })?;
                Value::StringValueStrindex(number)
            }
            value_type::DOUBLE if self.double.is_valid(index) => {
                Value::DoubleValue(self.double.value(index))
            }
            value_type::BYTES if self.bytes.is_valid(index) => {
                Value::BytesValue(self.bytes.value(index).to_vec())
            }
            value_type::ARRAY | value_type::KVLIST if self.bytes.is_valid(index) => {
                let decoded = AnyValue::decode(self.bytes.value(index))
                    .map_err(|error| RowsError::new(format!("attribute {index}: {error}")))?;
                return Ok(Some(decoded));
            }
            value_type::STRING
            | value_type::BOOL
            | value_type::INT
            | value_type::DOUBLE
            | value_type::BYTES
            | value_type::STRING_INDEX
            | value_type::ARRAY
            | value_type::KVLIST => return Err(missing()),
            other => {
                return Err(RowsError::new(format!(
                    "unknown attribute value type {other}"
                )));
            }
        };
        Ok(Some(AnyValue { value: Some(value) }))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, BooleanBuilder, Float64Builder, Int64Builder, ListArray, StringBuilder, StructArray,
        UInt8Builder,
    };

    use super::{AttrListBuilder, AttrValue, value_type};

    /// The columns Arrow's own nullable builders make of the same attributes.
    fn reference(values: &[AttrValue<'_>]) -> Vec<Box<dyn Array>> {
        let mut tags = UInt8Builder::new();
        let mut string = StringBuilder::new();
        let mut int = Int64Builder::new();
        let mut double = Float64Builder::new();
        let mut boolean = BooleanBuilder::new();
        for value in values {
            let (tag, text, number, real, flag) = match value {
                AttrValue::None => (value_type::NONE, None, None, None, None),
                AttrValue::Empty => (value_type::EMPTY, None, None, None, None),
                AttrValue::String(text) => (value_type::STRING, Some(*text), None, None, None),
                AttrValue::Int(number) => (value_type::INT, None, Some(*number), None, None),
                AttrValue::Double(real) => (value_type::DOUBLE, None, None, Some(*real), None),
                AttrValue::Bool(flag) => (value_type::BOOL, None, None, None, Some(*flag)),
                AttrValue::StringIndex(index) => (
                    value_type::STRING_INDEX,
                    None,
                    Some(i64::from(*index)),
                    None,
                    None,
                ),
                _ => unreachable!("only scalars in this test"),
            };
            tags.append_value(tag);
            string.append_option(text.map(|text| std::str::from_utf8(text).expect("utf-8")));
            int.append_option(number);
            double.append_option(real);
            boolean.append_option(flag);
        }
        vec![
            Box::new(tags.finish()),
            Box::new(string.finish()),
            Box::new(int.finish()),
            Box::new(double.finish()),
            Box::new(boolean.finish()),
        ]
    }

    #[test]
    fn value_columns_equal_those_of_arrows_nullable_builders() {
        let mixed = vec![
            AttrValue::String(b"GET"),
            AttrValue::Int(-7),
            AttrValue::Double(-0.5),
            AttrValue::Bool(true),
            AttrValue::Bool(false),
            AttrValue::None,
            AttrValue::Empty,
            AttrValue::StringIndex(3),
            AttrValue::Int(i64::MIN),
        ];
        let only_ints = vec![AttrValue::Int(1), AttrValue::Int(2)];
        let mut builder = AttrListBuilder::default();
        for values in [mixed, only_ints, Vec::new()] {
            for value in &values {
                builder.append_value(b"key", value.clone());
            }
            builder.end_list();
            let column = builder.finish().expect("finish");
            let list = column.as_any().downcast_ref::<ListArray>().expect("list");
            let columns = list
                .values()
                .as_any()
                .downcast_ref::<StructArray>()
                .expect("struct");
            let expected = reference(&values);
            for (index, expected) in [1, 2, 3, 4, 5].into_iter().zip(expected) {
                assert_eq!(
                    columns.column(index).to_data(),
                    expected.to_data(),
                    "column {index} of {values:?}"
                );
            }
        }
    }
}
