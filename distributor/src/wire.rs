//! Reading OTLP trace protobuf at the wire level: every field of every message is checked as
//! strictly as `prost` decoding would (framing, wire types of known fields, UTF-8 of strings,
//! nesting depth), without building the message. The regroup step then copies span bytes as
//! they arrived instead of decoding and re-encoding them.

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

/// A wire-level problem, described for the client.
pub(crate) type WireResult<T> = Result<T, String>;

/// Nesting limit for `AnyValue` arrays and key-value lists (prost's recursion limit).
const MAX_DEPTH: u32 = 100;

/// A cursor over the fields of one message body.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    start_len: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Fields {
            buf: body,
            start_len: body.len(),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> usize {
        self.start_len - self.buf.len()
    }

    /// The next field's number and wire type, or `None` at the end.
    #[inline(always)]
    pub(crate) fn next_key(&mut self) -> WireResult<Option<(u32, WireType)>> {
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        // Fields 1..15 have one-byte keys: every OTLP field but `Span.flags`.
        if (8..0x80).contains(&first)
            && let Ok(wire_type) = WireType::try_from(u64::from(first & 7))
        {
            self.buf = &self.buf[1..];
            return Ok(Some((u32::from(first >> 3), wire_type)));
        }
        decode_key(&mut self.buf)
            .map(Some)
            .map_err(|error| error.to_string())
    }

    #[inline(always)]
    fn expect(tag: u32, wire_type: WireType, expected: WireType) -> WireResult<()> {
        if wire_type == expected {
            Ok(())
        } else {
            Err(format!(
                "invalid wire type {wire_type:?} for field {tag} (expected {expected:?})"
            ))
        }
    }

    /// A length-delimited field's body.
    #[inline(always)]
    pub(crate) fn bytes(&mut self, tag: u32, wire_type: WireType) -> WireResult<&'a [u8]> {
        Self::expect(tag, wire_type, WireType::LengthDelimited)?;
        let len = match self.buf.first() {
            Some(&short) if short < 0x80 => {
                self.buf = &self.buf[1..];
                u64::from(short)
            }
            _ => decode_varint(&mut self.buf).map_err(|error| error.to_string())?,
        };
        let len = usize::try_from(len).map_err(|_| "length too large".to_owned())?;
        if len > self.buf.len() {
            return Err(format!("field {tag}: buffer underflow"));
        }
        let (body, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(body)
    }

    /// A string field's bytes, checked to be UTF-8.
    #[inline(always)]
    pub(crate) fn string(&mut self, tag: u32, wire_type: WireType) -> WireResult<&'a [u8]> {
        let bytes = self.bytes(tag, wire_type)?;
        if is_utf8(bytes) {
            Ok(bytes)
        } else {
            Err(format!(
                "field {tag}: invalid string value: data is not UTF-8 encoded"
            ))
        }
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self, tag: u32, wire_type: WireType) -> WireResult<u64> {
        Self::expect(tag, wire_type, WireType::Varint)?;
        decode_varint(&mut self.buf).map_err(|error| error.to_string())
    }

    #[inline(always)]
    pub(crate) fn fixed64(&mut self, tag: u32, wire_type: WireType) -> WireResult<u64> {
        Self::expect(tag, wire_type, WireType::SixtyFourBit)?;
        let Some((bytes, rest)) = self.buf.split_first_chunk::<8>() else {
            return Err(format!("field {tag}: buffer underflow"));
        };
        self.buf = rest;
        Ok(u64::from_le_bytes(*bytes))
    }

    #[inline(always)]
    pub(crate) fn fixed32(&mut self, tag: u32, wire_type: WireType) -> WireResult<u32> {
        Self::expect(tag, wire_type, WireType::ThirtyTwoBit)?;
        let Some((bytes, rest)) = self.buf.split_first_chunk::<4>() else {
            return Err(format!("field {tag}: buffer underflow"));
        };
        self.buf = rest;
        Ok(u32::from_le_bytes(*bytes))
    }

    /// [`Fields::skip`], noting a field of the deprecated group wire types in `check` (the
    /// flush's field reader refuses them).
    pub(crate) fn skip_noting(
        &mut self,
        tag: u32,
        wire_type: WireType,
        check: &mut Check,
    ) -> WireResult<()> {
        if matches!(wire_type, WireType::StartGroup | WireType::EndGroup) {
            check.leaves_to_prost = true;
        }
        self.skip(tag, wire_type)
    }

    /// Skips a field this schema does not know, checking its framing.
    pub(crate) fn skip(&mut self, tag: u32, wire_type: WireType) -> WireResult<()> {
        skip_field(wire_type, tag, &mut self.buf, DecodeContext::default())
            .map_err(|error| error.to_string())
    }
}

/// Whether `bytes` are UTF-8. ASCII (almost every string of a span) is told eight bytes at a
/// time; anything else goes to the standard library's check. The standard check alone spent
/// ~110 instructions per string on the short strings of spans (callgrind, the regroup bench):
/// a fifth of the distributor's work.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    let mut high = 0u64;
    for word in words {
        high |= u64::from_le_bytes(*word);
    }
    for byte in rest {
        high |= u64::from(*byte);
    }
    high & 0x8080_8080_8080_8080 == 0 || std::str::from_utf8(bytes).is_ok()
}

/// What checking found besides validity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Check {
    /// Attribute keys and string values longer than this need truncating (0 = never).
    pub(crate) max_attribute_bytes: usize,
    /// Some attribute is longer than `max_attribute_bytes`.
    pub(crate) has_long_attribute: bool,
    /// Something valid that the ingester's flush leaves to `prost` (ADR 007): a singular
    /// message field twice, an `AnyValue` with two values, deep nesting, a group-typed field.
    pub(crate) leaves_to_prost: bool,
}

/// Nesting past which the flush's own limit of 32 may be reached (the count here grows at
/// least one level per array or key-value list, as the flush's does, and starts one higher);
/// deeper values are left to `prost` there.
const FLUSH_DEPTH: u32 = 32;

impl Check {
    fn note_depth(&mut self, depth: u32) {
        if depth > FLUSH_DEPTH {
            self.leaves_to_prost = true;
        }
    }

    /// Notes a singular field seen for the `count`th time.
    fn note_repeat(&mut self, count: &mut u32) {
        *count += 1;
        if *count > 1 {
            self.leaves_to_prost = true;
        }
    }

    fn note_len(&mut self, len: usize) {
        if self.max_attribute_bytes > 0 && len > self.max_attribute_bytes {
            self.has_long_attribute = true;
        }
    }
}

/// `KeyValue { key = 1; value = 2; key_strindex = 3 }`.
pub(crate) fn check_key_value(body: &[u8], check: &mut Check, depth: u32) -> WireResult<()> {
    let mut fields = Fields::new(body);
    let mut values = 0;
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => check.note_len(fields.string(tag, wire_type)?.len()),
            2 => {
                check.note_repeat(&mut values);
                check_any_value(fields.bytes(tag, wire_type)?, check, depth + 1)?
            }
            3 => {
                fields.varint(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// `AnyValue`: a oneof of string, bool, int, double, array, kvlist, bytes, string index.
fn check_any_value(body: &[u8], check: &mut Check, depth: u32) -> WireResult<()> {
    if depth > MAX_DEPTH {
        return Err("attribute values nested too deeply".to_owned());
    }
    check.note_depth(depth);
    let mut fields = Fields::new(body);
    let mut values = 0;
    while let Some((tag, wire_type)) = fields.next_key()? {
        if (1..=8).contains(&tag) {
            check.note_repeat(&mut values);
        }
        match tag {
            1 => check.note_len(fields.string(tag, wire_type)?.len()),
            2 | 3 | 8 => {
                fields.varint(tag, wire_type)?;
            }
            4 => {
                fields.fixed64(tag, wire_type)?;
            }
            5 => check_repeated(
                fields.bytes(tag, wire_type)?,
                check,
                depth + 1,
                check_any_value,
            )?,
            6 => check_repeated(
                fields.bytes(tag, wire_type)?,
                check,
                depth + 1,
                check_key_value,
            )?,
            7 => {
                fields.bytes(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// `ArrayValue { repeated AnyValue values = 1 }` / `KeyValueList { repeated KeyValue values = 1 }`.
fn check_repeated(
    body: &[u8],
    check: &mut Check,
    depth: u32,
    check_item: fn(&[u8], &mut Check, u32) -> WireResult<()>,
) -> WireResult<()> {
    if depth > MAX_DEPTH {
        return Err("attribute values nested too deeply".to_owned());
    }
    check.note_depth(depth);
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => check_item(fields.bytes(tag, wire_type)?, check, depth)?,
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// `Resource { attributes = 1; dropped_attributes_count = 2; entity_refs = 3 }`.
pub(crate) fn check_resource(body: &[u8], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => check_key_value(fields.bytes(tag, wire_type)?, check, 0)?,
            2 => {
                fields.varint(tag, wire_type)?;
            }
            3 => check_strings(fields.bytes(tag, wire_type)?, &[1, 2, 3, 4], check)?,
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// A message whose known fields are all strings (`EntityRef`).
fn check_strings(body: &[u8], string_tags: &[u32], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        if string_tags.contains(&tag) {
            fields.string(tag, wire_type)?;
        } else {
            fields.skip_noting(tag, wire_type, check)?;
        }
    }
    Ok(())
}

/// `InstrumentationScope { name = 1; version = 2; attributes = 3; dropped = 4 }`.
pub(crate) fn check_scope(body: &[u8], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 | 2 => {
                fields.string(tag, wire_type)?;
            }
            3 => check_key_value(fields.bytes(tag, wire_type)?, check, 0)?,
            4 => {
                fields.varint(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// What the distributor needs from a span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanInfo<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    pub(crate) start_time_unix_nano: u64,
    pub(crate) end_time_unix_nano: u64,
}

/// Checks a `Span` body and reads its IDs and times (the last occurrence wins, as in prost).
pub(crate) fn read_span<'a>(body: &'a [u8], check: &mut Check) -> WireResult<SpanInfo<'a>> {
    let mut info = SpanInfo {
        trace_id: &[],
        span_id: &[],
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
    };
    let mut fields = Fields::new(body);
    let mut statuses = 0;
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => info.trace_id = fields.bytes(tag, wire_type)?,
            2 => info.span_id = fields.bytes(tag, wire_type)?,
            3 | 5 => {
                fields.string(tag, wire_type)?;
            }
            4 => {
                fields.bytes(tag, wire_type)?;
            }
            6 | 10 | 12 | 14 => {
                fields.varint(tag, wire_type)?;
            }
            7 => info.start_time_unix_nano = fields.fixed64(tag, wire_type)?,
            8 => info.end_time_unix_nano = fields.fixed64(tag, wire_type)?,
            9 => check_key_value(fields.bytes(tag, wire_type)?, check, 0)?,
            11 => check_event(fields.bytes(tag, wire_type)?, check)?,
            13 => check_link(fields.bytes(tag, wire_type)?, check)?,
            15 => {
                check.note_repeat(&mut statuses);
                check_status(fields.bytes(tag, wire_type)?, check)?
            }
            16 => {
                fields.fixed32(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(info)
}

/// `Span.Event { time = 1; name = 2; attributes = 3; dropped = 4 }`.
fn check_event(body: &[u8], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => {
                fields.fixed64(tag, wire_type)?;
            }
            2 => {
                fields.string(tag, wire_type)?;
            }
            3 => check_key_value(fields.bytes(tag, wire_type)?, check, 0)?,
            4 => {
                fields.varint(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// `Span.Link { trace_id = 1; span_id = 2; trace_state = 3; attributes = 4; dropped = 5;
/// flags = 6 }`.
fn check_link(body: &[u8], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 | 2 => {
                fields.bytes(tag, wire_type)?;
            }
            3 => {
                fields.string(tag, wire_type)?;
            }
            4 => check_key_value(fields.bytes(tag, wire_type)?, check, 0)?,
            5 => {
                fields.varint(tag, wire_type)?;
            }
            6 => {
                fields.fixed32(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

/// `Status { message = 2; code = 3 }`.
fn check_status(body: &[u8], check: &mut Check) -> WireResult<()> {
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            2 => {
                fields.string(tag, wire_type)?;
            }
            3 => {
                fields.varint(tag, wire_type)?;
            }
            _ => fields.skip_noting(tag, wire_type, check)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_utf8;

    #[test]
    fn is_utf8_agrees_with_the_standard_check() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"GET".to_vec(),
            b"exactly8".to_vec(),
            b"http.response.status_code".to_vec(),
            "ünïcödé at the start of a long value".as_bytes().to_vec(),
            "a long ASCII run, then a multi-byte character: ✓"
                .as_bytes()
                .to_vec(),
            vec![0xff],
            vec![b'a'; 15].into_iter().chain([0xc3]).collect(),
            vec![0xc3, 0xa9],
            vec![0xed, 0xa0, 0x80],
            vec![0x80; 9],
        ];
        // Every byte value at every position of a 17-byte ASCII string (words and tail).
        for position in 0..17 {
            for byte in [0x7f_u8, 0x80, 0xc0, 0xe2, 0xf0, 0xff] {
                let mut case = b"0123456789abcdefg".to_vec();
                case[position] = byte;
                cases.push(case);
            }
        }
        for case in cases {
            assert_eq!(
                is_utf8(&case),
                std::str::from_utf8(&case).is_ok(),
                "{case:?}"
            );
        }
    }
}
