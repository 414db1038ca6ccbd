//! Finding, in an encoded `ExportTraceServiceRequest`, where every 16-byte trace ID (of spans and
//! of links) and every fixed64 timestamp (span start and end, event time) lies, by walking the
//! protobuf wire format: the request is never decoded into messages, and the offsets come out
//! in ascending order.

use crate::error::{Error, Result};

/// What lies at a patch offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// 16 bytes of a span's or a link's trace ID.
    TraceId,
    /// 8 bytes of a little-endian fixed64 time in unix nanoseconds.
    Timestamp,
}

impl PatchKind {
    pub(crate) fn len(self) -> usize {
        match self {
            PatchKind::TraceId => 16,
            PatchKind::Timestamp => 8,
        }
    }
}

/// One place to stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Patch {
    pub(crate) offset: u32,
    pub(crate) kind: PatchKind,
}

/// What the scan of one request found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// In ascending offset order, never overlapping.
    pub(crate) patches: Vec<Patch>,
    pub(crate) spans: usize,
    /// The smallest and largest timestamp, `None` without any.
    pub(crate) time_range_opt: Option<(u64, u64)>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// The field numbers walked (opentelemetry/proto/trace/v1/trace.proto).
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const SCOPE_SPANS_SPANS: u32 = 2;
const SPAN_TRACE_ID: u32 = 1;
const SPAN_START_TIME: u32 = 7;
const SPAN_END_TIME: u32 = 8;
const SPAN_EVENTS: u32 = 11;
const SPAN_LINKS: u32 = 13;
const EVENT_TIME: u32 = 1;
const LINK_TRACE_ID: u32 = 1;

/// One field of a message: its number, wire type and where its value lies.
struct Field {
    number: u32,
    wire_type: u8,
    value_start: usize,
    value_end: usize,
}

/// Scans one encoded request.
pub(crate) fn scan_request(bytes: &[u8]) -> Result<Scanned> {
    if bytes.len() > u32::MAX as usize {
        return Err(wire_error(0, "request larger than 4 GiB"));
    }
    let mut scanned = Scanned::default();
    for_each_field(bytes, 0, bytes.len(), |request_field| {
        if request_field.number != REQUEST_RESOURCE_SPANS || request_field.wire_type != LEN {
            return Ok(());
        }
        for_each_field(
            bytes,
            request_field.value_start,
            request_field.value_end,
            |resource_field| {
                if resource_field.number != RESOURCE_SPANS_SCOPE_SPANS
                    || resource_field.wire_type != LEN
                {
                    return Ok(());
                }
                for_each_field(
                    bytes,
                    resource_field.value_start,
                    resource_field.value_end,
                    |scope_field| {
                        if scope_field.number == SCOPE_SPANS_SPANS && scope_field.wire_type == LEN {
                            scanned.spans += 1;
                            scan_span(bytes, &scope_field, &mut scanned)?;
                        }
                        Ok(())
                    },
                )
            },
        )
    })?;
    Ok(scanned)
}

fn scan_span(bytes: &[u8], span: &Field, scanned: &mut Scanned) -> Result<()> {
    for_each_field(bytes, span.value_start, span.value_end, |field| {
        match (field.number, field.wire_type) {
            (SPAN_TRACE_ID, LEN) => push_trace_id(&field, scanned),
            (SPAN_START_TIME | SPAN_END_TIME, FIXED64) => push_timestamp(bytes, &field, scanned),
            (SPAN_START_TIME | SPAN_END_TIME, _) => Err(wire_error(
                field.value_start,
                "span time is not a fixed64 field",
            )),
            (SPAN_EVENTS, LEN) => for_each_field(
                bytes,
                field.value_start,
                field.value_end,
                |event_field| match (event_field.number, event_field.wire_type) {
                    (EVENT_TIME, FIXED64) => push_timestamp(bytes, &event_field, scanned),
                    (EVENT_TIME, _) => Err(wire_error(
                        event_field.value_start,
                        "event time is not a fixed64 field",
                    )),
                    _ => Ok(()),
                },
            ),
            (SPAN_LINKS, LEN) => {
                for_each_field(bytes, field.value_start, field.value_end, |link_field| {
                    if link_field.number == LINK_TRACE_ID && link_field.wire_type == LEN {
                        push_trace_id(&link_field, scanned)?;
                    }
                    Ok(())
                })
            }
            _ => Ok(()),
        }
    })
}

/// A trace ID that is not 16 bytes is invalid OTLP; it is left as it is (never stamped).
fn push_trace_id(field: &Field, scanned: &mut Scanned) -> Result<()> {
    if field.value_end - field.value_start == 16 {
        scanned.patches.push(Patch {
            offset: field.value_start as u32,
            kind: PatchKind::TraceId,
        });
    }
    Ok(())
}

fn push_timestamp(bytes: &[u8], field: &Field, scanned: &mut Scanned) -> Result<()> {
    let value = read_fixed64(bytes, field.value_start);
    scanned.time_range_opt = Some(match scanned.time_range_opt {
        Some((min, max)) => (min.min(value), max.max(value)),
        None => (value, value),
    });
    scanned.patches.push(Patch {
        offset: field.value_start as u32,
        kind: PatchKind::Timestamp,
    });
    Ok(())
}

pub(crate) fn read_fixed64(bytes: &[u8], offset: usize) -> u64 {
    let mut value = [0u8; 8];
    value.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(value)
}

/// Calls `visit` for every field of the message in `bytes[start..end]`, in order.
fn for_each_field(
    bytes: &[u8],
    start: usize,
    end: usize,
    mut visit: impl FnMut(Field) -> Result<()>,
) -> Result<()> {
    let mut position = start;
    while position < end {
        let (key, after_key) = read_varint(bytes, position, end)?;
        let wire_type = (key & 0x7) as u8;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|number| *number != 0)
            .ok_or_else(|| wire_error(position, "invalid field number"))?;
        let (value_start, value_end) = match wire_type {
            VARINT => (after_key, read_varint(bytes, after_key, end)?.1),
            FIXED64 => (after_key, after_key + 8),
            FIXED32 => (after_key, after_key + 4),
            LEN => {
                let (len, after_len) = read_varint(bytes, after_key, end)?;
                let len = usize::try_from(len)
                    .map_err(|_| wire_error(after_key, "length does not fit in memory"))?;
                (after_len, after_len.saturating_add(len))
            }
            _ => return Err(wire_error(position, "unsupported wire type (groups?)")),
        };
        if value_end > end {
            return Err(wire_error(value_start, "field runs past its message"));
        }
        visit(Field {
            number,
            wire_type,
            value_start,
            value_end,
        })?;
        position = value_end;
    }
    Ok(())
}

/// A varint at `position` and the position after it.
fn read_varint(bytes: &[u8], position: usize, end: usize) -> Result<(u64, usize)> {
    let mut value: u64 = 0;
    for (index, byte_position) in (position..end).take(10).enumerate() {
        let byte = bytes[byte_position];
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((value, byte_position + 1));
        }
    }
    Err(wire_error(position, "truncated or overlong varint"))
}

fn wire_error(offset: usize, reason: &'static str) -> Error {
    Error::Wire { offset, reason }
}
