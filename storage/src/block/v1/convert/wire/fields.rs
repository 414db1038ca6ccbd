//! The protobuf wire format, read in place: a message's fields as (number, value) with
//! length-delimited values borrowed from the input. Varints and keys are decoded by `prost`, so
//! what is malformed here is exactly what `prost` finds malformed; groups (deprecated, never
//! produced by OTLP encoders) are refused, which sends the input to the `prost` path.

use prost::encoding::decode_varint;

/// The input is not a protobuf message this reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// One field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> FieldValue<'a> {
    pub(crate) fn varint(self) -> Result<u64, Malformed> {
        match self {
            FieldValue::Varint(value) => Ok(value),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn fixed64(self) -> Result<u64, Malformed> {
        match self {
            FieldValue::Fixed64(value) => Ok(value),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn fixed32(self) -> Result<u32, Malformed> {
        match self {
            FieldValue::Fixed32(value) => Ok(value),
            _ => Err(Malformed),
        }
    }

    pub(crate) fn bytes(self) -> Result<&'a [u8], Malformed> {
        match self {
            FieldValue::Bytes(value) => Ok(value),
            _ => Err(Malformed),
        }
    }

    /// A `string` field: length-delimited and valid UTF-8 (as `prost` requires).
    pub(crate) fn string(self) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Malformed)
    }
}

/// The fields of one message, in wire order.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(message: &'a [u8]) -> Self {
        Fields { rest: message }
    }

    /// A varint: inline when it is one byte (most keys, lengths and small values), else
    /// `prost`'s decoder. A single byte below 0x80 is the whole varint for `prost` too.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Malformed> {
        match self.rest.split_first() {
            Some((&byte, rest)) if byte < 0x80 => {
                self.rest = rest;
                Ok(u64::from(byte))
            }
            _ => decode_varint(&mut self.rest).map_err(|_| Malformed),
        }
    }

    /// The next field, `None` at the end of the message.
    #[inline(always)]
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, FieldValue<'a>)>, Malformed> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = u32::try_from(self.varint()?).map_err(|_| Malformed)?;
        let number = key >> 3;
        if number == 0 {
            return Err(Malformed);
        }
        let value = match key & 7 {
            0 => FieldValue::Varint(self.varint()?),
            1 => {
                let (raw, rest) = self.rest.split_first_chunk::<8>().ok_or(Malformed)?;
                self.rest = rest;
                FieldValue::Fixed64(u64::from_le_bytes(*raw))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                if len > self.rest.len() {
                    return Err(Malformed);
                }
                let (value, rest) = self.rest.split_at(len);
                self.rest = rest;
                FieldValue::Bytes(value)
            }
            5 => {
                let (raw, rest) = self.rest.split_first_chunk::<4>().ok_or(Malformed)?;
                self.rest = rest;
                FieldValue::Fixed32(u32::from_le_bytes(*raw))
            }
            // Groups (3, 4) and the unused wire types 6 and 7.
            _ => return Err(Malformed),
        };
        Ok(Some((number, value)))
    }
}
