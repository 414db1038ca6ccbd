//! Generic typed attributes: OTLP `KeyValue` lists ↔ a `List<Struct{key, type, str, int, double,
//! bool, bytes}>` column.
//!
//! `type` says which value column holds the value, so every `AnyValue` survives the round trip:
//! scalars go to their typed column, arrays and key-value lists (nested to any depth) are stored
//! as their protobuf encoding in `bytes`, and "no value" (`KeyValue.value` absent) is told apart
//! from "an empty `AnyValue`".

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Float64Array,
    Float64Builder, Int64Array, Int64Builder, ListArray, StringArray, StructArray, UInt8Array,
    UInt8Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use prost::Message;

use super::builders::{Utf8Builder, finish_renewed, renewed_offsets};
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
pub(crate) struct AttrListBuilder {
    offsets: Vec<i32>,
    len: i32,
    key: Utf8Builder,
    value_type: UInt8Builder,
    string: Utf8Builder,
    int: Int64Builder,
    double: Float64Builder,
    boolean: BooleanBuilder,
    bytes: BinaryBuilder,
}

impl Default for AttrListBuilder {
    fn default() -> Self {
        AttrListBuilder {
            offsets: vec![0],
            len: 0,
            key: Utf8Builder::default(),
            value_type: UInt8Builder::new(),
            string: Utf8Builder::default(),
            int: Int64Builder::new(),
            double: Float64Builder::new(),
            boolean: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
        }
    }
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
        self.len += 1;
        let mut string: Option<&[u8]> = None;
        let mut int = None;
        let mut double = None;
        let mut boolean = None;
        let mut bytes: Option<&[u8]> = None;
        let tag = match &value {
            AttrValue::None => value_type::NONE,
            AttrValue::Empty => value_type::EMPTY,
            AttrValue::String(text) => {
                string = Some(*text);
                value_type::STRING
            }
            AttrValue::Bool(flag) => {
                boolean = Some(*flag);
                value_type::BOOL
            }
            AttrValue::Int(number) => {
                int = Some(*number);
                value_type::INT
            }
            AttrValue::Double(number) => {
                double = Some(*number);
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
                int = Some(i64::from(*index));
                value_type::STRING_INDEX
            }
            AttrValue::RawKeyValue(encoded) => {
                bytes = Some(encoded);
                value_type::RAW_KEY_VALUE
            }
        };
        self.value_type.append_value(tag);
        self.string.append_option(string);
        self.int.append_option(int);
        self.double.append_option(double);
        self.boolean.append_option(boolean);
        self.bytes.append_option(bytes);
    }

    /// Ends the current row (a list of the attributes appended since the last end).
    pub(crate) fn end_list(&mut self) {
        self.offsets.push(self.len);
    }

    /// Finishes the column built so far and resets the builder.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, RowsError> {
        let items = usize::try_from(self.len).unwrap_or_default();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()?),
            finish_renewed(&mut self.value_type, UInt8Builder::with_capacity(items)),
            Arc::new(self.string.finish()?),
            finish_renewed(&mut self.int, Int64Builder::with_capacity(items)),
            finish_renewed(&mut self.double, Float64Builder::with_capacity(items)),
            finish_renewed(&mut self.boolean, BooleanBuilder::with_capacity(items)),
            Arc::new(self.bytes.finish()),
        ];
        let values = StructArray::try_new(attr_fields(), arrays, None)?;
        let offsets = OffsetBuffer::new(renewed_offsets(&mut self.offsets).into());
        self.len = 0;
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
