//! Checks that a message is one the wire path reads exactly as `prost` would decode it: every
//! known field with its wire type, every `string` valid UTF-8, singular message fields at most
//! once and `AnyValue`s with at most one value (where `prost` would merge or replace instead),
//! nesting of arrays and key-value lists at most [`MAX_VALUE_DEPTH`] deep. Whatever fails here
//! is left to `prost`, which decides whether it decodes.

use super::fields::{FieldValue, Fields, Malformed};

/// Nesting of `AnyValue` arrays and key-value lists the wire path reads (prost allows ~90).
pub(crate) const MAX_VALUE_DEPTH: u32 = 32;

/// Calls `field` for every field of `message`.
pub(crate) fn each_field<'a>(
    message: &'a [u8],
    mut field: impl FnMut(u32, FieldValue<'a>) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    let mut fields = Fields::new(message);
    while let Some((number, value)) = fields.next_field()? {
        field(number, value)?;
    }
    Ok(())
}

/// `opentelemetry.proto.common.v1.AnyValue`.
pub(crate) fn any_value(message: &[u8], depth: u32) -> Result<(), Malformed> {
    let mut known = 0;
    each_field(message, |number, value| {
        match number {
            1 => drop(value.string()?),
            2 | 3 | 8 => drop(value.varint()?),
            4 => drop(value.fixed64()?),
            5 => array_value(value.bytes()?, depth + 1)?,
            6 => kvlist_value(value.bytes()?, depth + 1)?,
            7 => drop(value.bytes()?),
            _ => return Ok(()),
        }
        known += 1;
        if known > 1 { Err(Malformed) } else { Ok(()) }
    })
}

fn array_value(message: &[u8], depth: u32) -> Result<(), Malformed> {
    if depth > MAX_VALUE_DEPTH {
        return Err(Malformed);
    }
    each_field(message, |number, value| match number {
        1 => any_value(value.bytes()?, depth),
        _ => Ok(()),
    })
}

fn kvlist_value(message: &[u8], depth: u32) -> Result<(), Malformed> {
    if depth > MAX_VALUE_DEPTH {
        return Err(Malformed);
    }
    each_field(message, |number, value| match number {
        1 => key_value_at(value.bytes()?, depth),
        _ => Ok(()),
    })
}

/// `opentelemetry.proto.common.v1.KeyValue`.
pub(crate) fn key_value(message: &[u8]) -> Result<(), Malformed> {
    key_value_at(message, 0)
}

fn key_value_at(message: &[u8], depth: u32) -> Result<(), Malformed> {
    let mut values = 0;
    each_field(message, |number, value| match number {
        1 => value.string().map(drop),
        2 => {
            values += 1;
            if values > 1 {
                return Err(Malformed);
            }
            any_value(value.bytes()?, depth)
        }
        3 => value.varint().map(drop),
        _ => Ok(()),
    })
}

/// `opentelemetry.proto.resource.v1.Resource`.
pub(crate) fn resource(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        1 => key_value(value.bytes()?),
        2 => value.varint().map(drop),
        3 => entity_ref(value.bytes()?),
        _ => Ok(()),
    })
}

fn entity_ref(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        1..=4 => value.string().map(drop),
        _ => Ok(()),
    })
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
pub(crate) fn scope(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        1 | 2 => value.string().map(drop),
        3 => key_value(value.bytes()?),
        4 => value.varint().map(drop),
        _ => Ok(()),
    })
}

fn status(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        2 => value.string().map(drop),
        3 => value.varint().map(drop),
        _ => Ok(()),
    })
}

fn event(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        1 => value.fixed64().map(drop),
        2 => value.string().map(drop),
        3 => key_value(value.bytes()?),
        4 => value.varint().map(drop),
        _ => Ok(()),
    })
}

fn link(message: &[u8]) -> Result<(), Malformed> {
    each_field(message, |number, value| match number {
        1 | 2 => value.bytes().map(drop),
        3 => value.string().map(drop),
        4 => key_value(value.bytes()?),
        5 => value.varint().map(drop),
        6 => value.fixed32().map(drop),
        _ => Ok(()),
    })
}

/// What the index of a trace keeps of a span (last occurrence wins, as in `prost`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpanFacts<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    pub(crate) parent_span_id: &'a [u8],
    pub(crate) name: &'a str,
    pub(crate) start_time_unix_nano: u64,
    pub(crate) end_time_unix_nano: u64,
}

/// `opentelemetry.proto.trace.v1.Span`, with the facts the index needs.
pub(crate) fn span(message: &[u8]) -> Result<SpanFacts<'_>, Malformed> {
    let mut facts = SpanFacts::default();
    let mut statuses = 0;
    each_field(message, |number, value| {
        match number {
            1 => facts.trace_id = value.bytes()?,
            2 => facts.span_id = value.bytes()?,
            3 => drop(value.string()?),
            4 => facts.parent_span_id = value.bytes()?,
            5 => facts.name = value.string()?,
            6 | 10 | 12 | 14 => drop(value.varint()?),
            7 => facts.start_time_unix_nano = value.fixed64()?,
            8 => facts.end_time_unix_nano = value.fixed64()?,
            9 => key_value(value.bytes()?)?,
            11 => event(value.bytes()?)?,
            13 => link(value.bytes()?)?,
            15 => {
                statuses += 1;
                if statuses > 1 {
                    return Err(Malformed);
                }
                status(value.bytes()?)?
            }
            16 => drop(value.fixed32()?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(facts)
}

/// The facts of [`span`] without checking what the index does not read: attributes, events,
/// links and the status are skipped whole, strings are not checked for UTF-8. Only for spans
/// already checked as `span` checks them (segments the distributor marked, ADR 007).
pub(crate) fn span_facts(message: &[u8]) -> Result<SpanFacts<'_>, Malformed> {
    let mut facts = SpanFacts::default();
    let mut name: &[u8] = &[];
    each_field(message, |number, value| {
        match number {
            1 => facts.trace_id = value.bytes()?,
            2 => facts.span_id = value.bytes()?,
            4 => facts.parent_span_id = value.bytes()?,
            5 => name = value.bytes()?,
            7 => facts.start_time_unix_nano = value.fixed64()?,
            8 => facts.end_time_unix_nano = value.fixed64()?,
            _ => {}
        }
        Ok(())
    })?;
    facts.name = std::str::from_utf8(name).map_err(|_| Malformed)?;
    Ok(facts)
}
