//! Attributes read from their encoding: a `KeyValue` as its key, its value (borrowed where it
//! is a scalar) and the encoded bytes, for the rows (`rows`) to place in a dedicated column or
//! in the generic attribute list.

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue};
use prost::Message;

use super::fields::{FieldValue, Fields, Malformed};
use super::validate::each_field;
use crate::block::v1::convert::RowsError;
use crate::block::v1::convert::attrs::{AttrListBuilder, AttrValue};

pub(super) fn corrupt(what: &str) -> impl Fn(Malformed) -> RowsError + '_ {
    move |_| RowsError::new(format!("{what}: malformed protobuf after the scan"))
}

pub(super) fn decode_error(what: &str) -> impl Fn(prost::DecodeError) -> RowsError + '_ {
    move |error| RowsError::new(format!("{what}: {error}"))
}

/// A `KeyValue.value` as encoded.
#[derive(Debug, Clone, Copy)]
pub(super) enum RawValue<'a> {
    None,
    Empty,
    /// UTF-8 by contract (the column checks it in bulk).
    String(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// The whole encoded `AnyValue` (an array or a key-value list, re-encoded as `prost` does).
    Nested(&'a [u8]),
    StringIndex(i32),
}

/// One attribute as encoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawAttr<'a> {
    /// UTF-8 by contract.
    pub(super) key: &'a [u8],
    pub(super) value: RawValue<'a>,
    /// `key_strindex` is set: the whole `KeyValue` is stored encoded.
    pub(super) strindex: bool,
    encoded: &'a [u8],
}

fn raw_value(encoded: &[u8]) -> Result<RawValue<'_>, Malformed> {
    let mut value = RawValue::Empty;
    each_field(encoded, |number, field| {
        value = match number {
            1 => RawValue::String(field.bytes()?),
            2 => RawValue::Bool(field.varint()? != 0),
            3 => RawValue::Int(field.varint()? as i64),
            4 => RawValue::Double(f64::from_bits(field.fixed64()?)),
            5 | 6 => RawValue::Nested(encoded),
            7 => RawValue::Bytes(field.bytes()?),
            8 => RawValue::StringIndex(field.varint()? as i32),
            _ => return Ok(()),
        };
        Ok(())
    })?;
    Ok(value)
}

/// The `KeyValue` that OTLP encoders write: the key (field 1), then at most one value (field 2)
/// that is empty or holds one scalar (string, bool, int or double), and nothing else. Read
/// without the general walk's closures; `None` sends every other encoding to [`raw_attr`]'s
/// general walk, which reads these ones alike.
#[inline]
fn usual_attr(encoded: &[u8]) -> Option<RawAttr<'_>> {
    let mut fields = Fields::new(encoded);
    let Ok(Some((1, FieldValue::Bytes(key)))) = fields.next_field() else {
        return None;
    };
    let value = match fields.next_field() {
        Ok(None) => return Some(RawAttr::new(key, RawValue::None, encoded)),
        Ok(Some((2, FieldValue::Bytes(value)))) => value,
        _ => return None,
    };
    let mut inner = Fields::new(value);
    let value = match inner.next_field() {
        Ok(None) => RawValue::Empty,
        Ok(Some((1, FieldValue::Bytes(text)))) => RawValue::String(text),
        Ok(Some((2, FieldValue::Varint(flag)))) => RawValue::Bool(flag != 0),
        Ok(Some((3, FieldValue::Varint(number)))) => RawValue::Int(number as i64),
        Ok(Some((4, FieldValue::Fixed64(bits)))) => RawValue::Double(f64::from_bits(bits)),
        _ => return None,
    };
    let ended = matches!(inner.next_field(), Ok(None)) && matches!(fields.next_field(), Ok(None));
    ended.then(|| RawAttr::new(key, value, encoded))
}

pub(super) fn raw_attr(encoded: &[u8]) -> Result<RawAttr<'_>, Malformed> {
    if let Some(attr) = usual_attr(encoded) {
        return Ok(attr);
    }
    let mut attr = RawAttr {
        key: b"",
        value: RawValue::None,
        strindex: false,
        encoded,
    };
    each_field(encoded, |number, field| {
        match number {
            1 => attr.key = field.bytes()?,
            2 => attr.value = raw_value(field.bytes()?)?,
            3 => attr.strindex = field.varint()? as i32 != 0,
            _ => {}
        }
        Ok(())
    })?;
    Ok(attr)
}

impl<'a> RawAttr<'a> {
    fn new(key: &'a [u8], value: RawValue<'a>, encoded: &'a [u8]) -> Self {
        RawAttr {
            key,
            value,
            strindex: false,
            encoded,
        }
    }

    pub(super) fn stored(&self) -> Result<AttrValue<'a>, RowsError> {
        if self.strindex {
            let decoded = KeyValue::decode(self.encoded).map_err(decode_error("attribute"))?;
            return Ok(AttrValue::RawKeyValue(decoded.encode_to_vec()));
        }
        Ok(match self.value {
            RawValue::None => AttrValue::None,
            RawValue::Empty => AttrValue::Empty,
            RawValue::String(text) => AttrValue::String(text),
            RawValue::Bool(flag) => AttrValue::Bool(flag),
            RawValue::Int(number) => AttrValue::Int(number),
            RawValue::Double(number) => AttrValue::Double(number),
            RawValue::Bytes(raw) => AttrValue::Bytes(raw),
            RawValue::StringIndex(index) => AttrValue::StringIndex(index),
            // Arrays and key-value lists are stored as `prost` encodes them (canonical).
            RawValue::Nested(encoded) => {
                let decoded = AnyValue::decode(encoded).map_err(decode_error("attribute"))?;
                match AttrValue::of(Some(&decoded)) {
                    AttrValue::Array(bytes) => AttrValue::Array(bytes),
                    AttrValue::Kvlist(bytes) => AttrValue::Kvlist(bytes),
                    _ => return Err(RowsError::new("nested attribute value changed kind")),
                }
            }
        })
    }
}

/// Appends the attribute list held by the `KeyValue` fields `number` of `message`.
pub(super) fn append_attr_list(
    builder: &mut AttrListBuilder,
    message: &[u8],
    number: u32,
) -> Result<(), RowsError> {
    let mut failed = None;
    each_field(message, |field_number, field| {
        if field_number == number {
            let attr = raw_attr(field.bytes()?)?;
            match attr.stored() {
                Ok(value) => builder.append_value(attr.key, value),
                Err(error) => failed = Some(error),
            }
        }
        Ok(())
    })
    .map_err(corrupt("attributes"))?;
    builder.end_list();
    failed.map_or(Ok(()), Err)
}
