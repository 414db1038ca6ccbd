//! Appending an [`EncodedTrace`] to the span rows: the same columns, in the same order, with
//! the same values as `to_rows` appends for the decoded trace, read from the segment bytes.

use contrail_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};
use contrail_traceql::structure::{SpanKey, nested_set};
use prost::Message;

use super::fields::{FieldValue, Fields, Malformed};
use super::scan::{EncodedTrace, SpanAt};
use super::validate::each_field;
use crate::block::v1::convert::RowsError;
use crate::block::v1::convert::attrs::AttrValue;
use crate::block::v1::convert::lists::RawLink;
use crate::block::v1::convert::tables::{RefTables, raw_key};
use crate::block::v1::convert::to_rows::{
    DedicatedBuilder, SpanBatchBuilder, TraceSummary, non_empty,
};

fn corrupt(what: &str) -> impl Fn(Malformed) -> RowsError + '_ {
    move |_| RowsError::new(format!("{what}: malformed protobuf after the scan"))
}

fn decode_error(what: &str) -> impl Fn(prost::DecodeError) -> RowsError + '_ {
    move |error| RowsError::new(format!("{what}: {error}"))
}

/// A `KeyValue.value` as encoded.
#[derive(Debug, Clone, Copy)]
enum RawValue<'a> {
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
struct RawAttr<'a> {
    /// UTF-8 by contract.
    key: &'a [u8],
    value: RawValue<'a>,
    /// `key_strindex` is set: the whole `KeyValue` is stored encoded.
    strindex: bool,
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

fn raw_attr(encoded: &[u8]) -> Result<RawAttr<'_>, Malformed> {
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

    fn stored(&self) -> Result<AttrValue<'a>, RowsError> {
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
fn append_attr_list(
    builder: &mut crate::block::v1::convert::attrs::AttrListBuilder,
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

/// Per span, what the row needs besides its lists.
#[derive(Debug, Default)]
struct SpanScalars<'a> {
    trace_state: &'a [u8],
    name: &'a [u8],
    kind: i32,
    flags: u32,
    dropped_attributes: u32,
    dropped_events: u32,
    dropped_links: u32,
    status: Option<(i32, &'a [u8])>,
}

fn status(message: &[u8]) -> Result<(i32, &[u8]), Malformed> {
    let (mut code, mut text) = (0, &[][..]);
    each_field(message, |number, field| {
        match number {
            2 => text = field.bytes()?,
            3 => code = field.varint()? as i32,
            _ => {}
        }
        Ok(())
    })?;
    Ok((code, text))
}

impl SpanBatchBuilder {
    /// Appends the spans of an [`EncodedTrace`] (see `to_rows::append_trace` for the rules).
    pub(crate) fn append_encoded(
        &mut self,
        trace: &EncodedTrace,
        tables: &mut RefTables,
    ) -> Result<TraceSummary, RowsError> {
        let trace_id = &trace.trace_id;
        let mut refs = Vec::with_capacity(trace.groups.len());
        let mut key = Vec::new();
        for group in &trace.groups {
            let chunk = &trace.chunks[group.chunk][..];
            let resource = group.resource.clone().map(|range| &chunk[range]);
            let url = &chunk[group.resource_schema_url.clone()];
            raw_key(&mut key, resource, url);
            let resource_ref = tables.intern_raw_resource(&key, || {
                Ok(ResourceSpans {
                    resource: resource
                        .map(Resource::decode)
                        .transpose()
                        .map_err(decode_error("resource"))?,
                    scope_spans: Vec::new(),
                    schema_url: utf8(url)?.to_owned(),
                })
            })?;
            if let Some(entry) = tables.resource(resource_ref) {
                self.remember_resource(resource_ref, entry);
            }
            let scope = group.scope.clone().map(|range| &chunk[range]);
            let url = &chunk[group.scope_schema_url.clone()];
            raw_key(&mut key, scope, url);
            let scope_ref = tables.intern_raw_scope(&key, || {
                Ok(ScopeSpans {
                    scope: scope
                        .map(InstrumentationScope::decode)
                        .transpose()
                        .map_err(decode_error("scope"))?,
                    spans: Vec::new(),
                    schema_url: utf8(url)?.to_owned(),
                })
            })?;
            refs.push((resource_ref, scope_ref));
        }
        let chunk_of = |span: &SpanAt| &trace.chunks[trace.groups[span.group].chunk][..];
        let keys: Vec<SpanKey<'_>> = trace
            .spans
            .iter()
            .map(|span| SpanKey {
                span_id: &span.span_id,
                parent_span_id: &chunk_of(span)[span.parent_span_id.clone()],
                start_time_unix_nano: span.start_time_unix_nano,
            })
            .collect();
        let set = nested_set(&keys);
        let (start, end) = trace.time_range();
        let root = set.order.iter().enumerate().find_map(|(position, input)| {
            (set.parent_index[position] < 0 && keys[*input].parent_span_id.is_empty())
                .then_some(*input)
        });
        let (root_service, root_name) = match root {
            Some(input) => {
                let span = &trace.spans[input];
                let (resource_ref, _) = refs[span.group];
                let service = self.resource_values[resource_ref as usize]
                    .first()
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                (
                    service,
                    utf8(&chunk_of(span)[span.name.clone()])?.to_owned(),
                )
            }
            None => (String::new(), String::new()),
        };
        let mut attrs = Vec::new();
        for (position, input) in set.order.iter().enumerate() {
            let span = &trace.spans[*input];
            self.trace_id.append_value(trace_id.as_bytes())?;
            self.trace_start.append_value(start);
            self.trace_duration.append_value(end.saturating_sub(start));
            self.root_service_name.append_value(&root_service);
            self.root_span_name.append_value(&root_name);
            let chunk = chunk_of(span);
            let (resource_ref, scope_ref) = refs[span.group];
            self.append_encoded_span(
                EncodedSpan {
                    span,
                    message: &chunk[span.bytes.clone()],
                    resource_ref,
                    scope_ref,
                    trace_start: start,
                },
                &mut attrs,
            )?;
            self.parent_index.append_value(set.parent_index[position]);
            let parent = keys[*input].parent_span_id;
            let resolved = set.parent_index[position] >= 0;
            self.parent_span_id
                .append_option((!resolved && !parent.is_empty()).then_some(parent));
            self.nested_set_left.append_value(set.left[position]);
            self.nested_set_right.append_value(set.right[position]);
            self.rows += 1;
        }
        Ok(TraceSummary {
            spans: trace.spans.len(),
            start_unix_nano: start,
            end_unix_nano: end,
        })
    }

    fn append_encoded_span<'a>(
        &mut self,
        encoded: EncodedSpan<'a>,
        attrs: &mut Vec<RawAttr<'a>>,
    ) -> Result<(), RowsError> {
        let span = encoded.span;
        attrs.clear();
        let mut scalars = SpanScalars::default();
        let span_start = span.start_time_unix_nano;
        let mut failed = None;
        let walked = each_field(encoded.message, |number, field| {
            match number {
                3 => scalars.trace_state = field.bytes()?,
                5 => scalars.name = field.bytes()?,
                6 => scalars.kind = field.varint()? as i32,
                9 => attrs.push(raw_attr(field.bytes()?)?),
                10 => scalars.dropped_attributes = field.varint()? as u32,
                11 => {
                    if let Err(error) = self.append_encoded_event(field.bytes()?, span_start) {
                        failed.get_or_insert(error);
                    }
                }
                12 => scalars.dropped_events = field.varint()? as u32,
                13 => {
                    if let Err(error) = self.append_encoded_link(field.bytes()?) {
                        failed.get_or_insert(error);
                    }
                }
                14 => scalars.dropped_links = field.varint()? as u32,
                15 => scalars.status = Some(status(field.bytes()?)?),
                16 => scalars.flags = field.fixed32()?,
                _ => {}
            }
            Ok(())
        });
        walked.map_err(corrupt("span"))?;
        if let Some(error) = failed {
            return Err(error);
        }
        self.events.end_row();
        self.links.end_row();
        self.span_id.append_value(span.span_id)?;
        self.start_offset
            .append_value(span.start_time_unix_nano.wrapping_sub(encoded.trace_start) as i64);
        self.duration.append_value(
            span.end_time_unix_nano
                .wrapping_sub(span.start_time_unix_nano) as i64,
        );
        self.name.append_value(scalars.name);
        self.kind.append_value(scalars.kind);
        match scalars.status {
            Some((code, message)) => {
                self.status_code.append_value(code);
                self.status_message.append_option(non_empty(message));
            }
            None => {
                self.status_code.append_null();
                self.status_message.append_null();
            }
        }
        self.trace_state
            .append_option(non_empty(scalars.trace_state));
        self.flags.append_value(scalars.flags);
        self.dropped_attributes
            .append_value(scalars.dropped_attributes);
        self.dropped_events.append_value(scalars.dropped_events);
        self.dropped_links.append_value(scalars.dropped_links);
        self.resource_ref.append_value(encoded.resource_ref);
        self.scope_ref.append_value(encoded.scope_ref);
        let values = &self.resource_values[encoded.resource_ref as usize];
        for (builder, value) in self.resource_dedicated.iter_mut().zip(values) {
            builder.append_option(value.as_deref());
        }
        self.append_encoded_span_attributes(attrs)
    }

    /// As `append_span_attributes`: the first attribute of each dedicated key with the
    /// column's type goes to its column, everything else to the generic list, in order.
    fn append_encoded_span_attributes(&mut self, attrs: &[RawAttr<'_>]) -> Result<(), RowsError> {
        let mut taken = std::mem::take(&mut self.taken);
        taken.clear();
        taken.resize(self.span_dedicated.len(), None);
        for (index, attr) in attrs.iter().enumerate() {
            let key = attr.key;
            let Some(slot) = self
                .span_dedicated_keys
                .iter()
                .position(|candidate| candidate.len() == key.len() && candidate.as_bytes() == key)
            else {
                continue;
            };
            if taken[slot].is_some() || attr.strindex {
                continue;
            }
            let matches = matches!(
                (&self.span_dedicated[slot], attr.value),
                (DedicatedBuilder::String(_), RawValue::String(_))
                    | (DedicatedBuilder::Int(_), RawValue::Int(_))
            );
            if matches {
                taken[slot] = Some(index);
            }
        }
        for (builder, index) in self.span_dedicated.iter_mut().zip(&taken) {
            let value = index.map(|index| attrs[index].value);
            match (builder, value) {
                (DedicatedBuilder::String(builder), Some(RawValue::String(text))) => {
                    builder.append_value(text)
                }
                (DedicatedBuilder::Int(builder), Some(RawValue::Int(number))) => {
                    builder.append_value(number)
                }
                (DedicatedBuilder::String(builder), _) => builder.append_null(),
                (DedicatedBuilder::Int(builder), _) => builder.append_null(),
            }
        }
        let mut result = Ok(());
        for (index, attr) in attrs.iter().enumerate() {
            if taken.contains(&Some(index)) {
                continue;
            }
            match attr.stored() {
                Ok(value) => self.attrs.append_value(attr.key, value),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        self.attrs.end_list();
        self.taken = taken;
        result
    }

    fn append_encoded_event(&mut self, message: &[u8], span_start: u64) -> Result<(), RowsError> {
        let (mut time, mut name, mut dropped) = (0u64, &[][..], 0u32);
        each_field(message, |number, field| {
            match number {
                1 => time = field.fixed64()?,
                2 => name = field.bytes()?,
                4 => dropped = field.varint()? as u32,
                _ => {}
            }
            Ok(())
        })
        .map_err(corrupt("event"))?;
        append_attr_list(self.events.attrs_mut(), message, 3)?;
        self.events
            .push_event(time.wrapping_sub(span_start) as i64, name, dropped);
        Ok(())
    }

    fn append_encoded_link(&mut self, message: &[u8]) -> Result<(), RowsError> {
        let mut link = RawLink::default();
        each_field(message, |number, field: FieldValue<'_>| {
            match number {
                1 => link.trace_id = field.bytes()?,
                2 => link.span_id = field.bytes()?,
                3 => link.trace_state = field.bytes()?,
                5 => link.dropped_attributes_count = field.varint()? as u32,
                6 => link.flags = field.fixed32()?,
                _ => {}
            }
            Ok(())
        })
        .map_err(corrupt("link"))?;
        append_attr_list(self.links.attrs_mut(), message, 4)?;
        self.links.push_link(link);
        Ok(())
    }
}

/// One span to append, with its references and the trace's start.
struct EncodedSpan<'a> {
    span: &'a SpanAt,
    message: &'a [u8],
    resource_ref: u32,
    scope_ref: u32,
    trace_start: u64,
}

fn utf8(bytes: &[u8]) -> Result<&str, RowsError> {
    std::str::from_utf8(bytes).map_err(|_| RowsError::new("string is not UTF-8 after the scan"))
}
