//! Appending an [`EncodedTrace`] to the span rows: the same columns, in the same order, with
//! the same values as `to_rows` appends for the decoded trace, read from the segment bytes.

use contrail_proto::otlp::common::v1::InstrumentationScope;
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};
use contrail_traceql::structure::{SpanKey, nested_set};
use prost::Message;

use super::fields::{FieldValue, Malformed};
use super::raw_attrs::{RawAttr, RawValue, append_attr_list, corrupt, decode_error, raw_attr};
use super::scan::{EncodedTrace, SpanAt};
use super::validate::each_field;
use crate::block::v1::convert::RowsError;
use crate::block::v1::convert::lists::RawLink;
use crate::block::v1::convert::tables::{RefTables, raw_key};
use crate::block::v1::convert::to_rows::{
    DedicatedBuilder, SpanBatchBuilder, TraceSummary, non_empty,
};

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
