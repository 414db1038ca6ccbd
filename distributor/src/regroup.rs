//! Regrouping: an OTLP export request (protobuf bytes) becomes one [`TraceSegment`] per trace
//! ID, each a protobuf `tempopb.Trace` holding only that trace's spans
//! (docs/adr/002-internal-grpc.md).
//!
//! The request is checked field by field as strictly as a full decode ([`crate::wire`]), but
//! spans are not decoded: each span's bytes are copied once, as received, into its trace's
//! segment. A resource's or scope's other fields are copied into every trace that has spans
//! under it. Only a span, resource or scope with an attribute over `max_attribute_bytes` is
//! decoded, truncated and re-encoded.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::otlp::common::v1::{InstrumentationScope, KeyValue};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::Span;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::error::{Error, Result};
use crate::limits::{truncate_list, truncate_span};
use crate::wire::{Check, Fields, check_resource, check_scope, read_span};

/// The segments of one request, and what was counted or left out on the way.
#[derive(Debug, Default)]
pub struct Regrouped {
    /// One segment per trace, in the order the traces first appear.
    pub segments: Vec<TraceSegment>,
    /// Spans in the request.
    pub received_spans: u64,
    /// Spans in `segments`.
    pub spans: u64,
    /// Spans dropped because their trace's segment is over `max_bytes_per_trace`.
    pub too_large_spans: u64,
    /// Attribute keys and string values cut to `max_attribute_bytes`.
    pub truncated_attributes: u64,
    /// Every segment holds only what the ingester's flush reads without checking again
    /// (`PushBatch::checked`, ADR 007).
    pub checked: bool,
}

/// The limits regrouping applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegroupLimits {
    /// Attribute keys and string values are cut to this many bytes (0 = no limit).
    pub max_attribute_bytes: usize,
    /// A trace whose segment is larger is dropped and counted (0 = no limit).
    pub max_bytes_per_trace: u64,
}

/// Where a span's bytes are.
#[derive(Debug, Clone, Copy)]
enum SpanBytes {
    /// `start..end` of the request body.
    Received { start: usize, end: usize },
    /// Re-encoded after truncation: index into `Groups::rewritten`.
    Rewritten(usize),
}

#[derive(Debug, Clone, Copy)]
struct SpanRef {
    /// Index into `Groups::scopes`.
    scope_index: u32,
    bytes: SpanBytes,
}

#[derive(Debug)]
struct TraceBuild {
    trace_id: [u8; 16],
    spans: Vec<SpanRef>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
}

/// A `ScopeSpans` without its spans: the fields to repeat in every trace.
#[derive(Debug)]
struct ScopeGroup {
    resource_index: u32,
    header: Vec<u8>,
}

/// Resources and scopes without their children, and re-encoded spans.
#[derive(Debug, Default)]
struct Groups {
    resource_headers: Vec<Vec<u8>>,
    scopes: Vec<ScopeGroup>,
    rewritten: Vec<Vec<u8>>,
}

/// Field numbers of `tempopb.Trace` / OTLP `TracesData` and below. `ResourceSpans` and
/// `ScopeSpans` share theirs: 1 the entity (resource, scope), 2 the children, 3 the schema URL.
const REQUEST_RESOURCE_SPANS: u32 = 1;
const GROUP_ENTITY: u32 = 1;
const GROUP_CHILDREN: u32 = 2;
const GROUP_SCHEMA_URL: u32 = 3;

/// The entity of a group: a resource or an instrumentation scope.
trait GroupEntity: Message + Default {
    fn check_wire(body: &[u8], check: &mut Check) -> crate::wire::WireResult<()>;
    fn attributes_mut(&mut self) -> &mut Vec<KeyValue>;
}

impl GroupEntity for Resource {
    fn check_wire(body: &[u8], check: &mut Check) -> crate::wire::WireResult<()> {
        check_resource(body, check)
    }

    fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
}

impl GroupEntity for InstrumentationScope {
    fn check_wire(body: &[u8], check: &mut Check) -> crate::wire::WireResult<()> {
        check_scope(body, check)
    }

    fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
}

fn malformed(message: String) -> Error {
    Error::Malformed(format!("invalid OTLP protobuf payload: {message}"))
}

/// Length of a length-delimited field with a body of `body_len` bytes (field numbers < 16).
fn field_len(body_len: usize) -> usize {
    1 + encoded_len_varint(body_len as u64) + body_len
}

fn write_field(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

struct Regrouper<'a> {
    body: &'a [u8],
    limits: RegroupLimits,
    groups: Groups,
    trace_index: HashMap<[u8; 16], usize>,
    traces: Vec<TraceBuild>,
    received_spans: u64,
    truncated_attributes: u64,
    /// Some part of the request is left to `prost` by the ingester's flush (`Check`).
    leaves_to_prost: bool,
    /// The first bad trace or span ID; reported once the whole request is known to be well
    /// formed (a malformed request is refused as malformed, whatever its IDs).
    id_error_opt: Option<Error>,
}

/// Checks `body` (an `ExportTraceServiceRequest`), validates span and trace IDs (Tempo's rules:
/// one bad ID refuses the request) and splits it by trace.
pub fn regroup_export_request(body: &[u8], limits: RegroupLimits) -> Result<Regrouped> {
    let mut regrouper = Regrouper {
        body,
        limits,
        groups: Groups::default(),
        trace_index: HashMap::new(),
        traces: Vec::new(),
        received_spans: 0,
        truncated_attributes: 0,
        leaves_to_prost: false,
        id_error_opt: None,
    };
    let mut fields = Fields::new(body);
    while let Some((tag, wire_type)) = fields.next_key().map_err(malformed)? {
        if tag == REQUEST_RESOURCE_SPANS {
            let resource_spans = fields.bytes(tag, wire_type).map_err(malformed)?;
            regrouper.resource_spans(resource_spans)?;
        } else {
            fields.skip(tag, wire_type).map_err(malformed)?;
        }
    }
    if let Some(id_error) = regrouper.id_error_opt.take() {
        return Err(id_error);
    }
    Ok(regrouper.finish())
}

/// Offset of `part` inside `whole` (`part` is a sub-slice of `whole`).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

impl Regrouper<'_> {
    fn check(&self) -> Check {
        Check {
            max_attribute_bytes: self.limits.max_attribute_bytes,
            has_long_attribute: false,
            leaves_to_prost: false,
        }
    }

    fn resource_spans(&mut self, body: &[u8]) -> Result<()> {
        let resource_index = self.groups.resource_headers.len();
        let header = self.group::<Resource>(body, resource_index, Self::scope_spans)?;
        self.groups.resource_headers.push(header);
        Ok(())
    }

    fn scope_spans(&mut self, body: &[u8], resource_index: usize) -> Result<()> {
        let scope_index = self.groups.scopes.len();
        self.groups.scopes.push(ScopeGroup {
            resource_index: u32::try_from(resource_index).unwrap_or(u32::MAX),
            header: Vec::new(),
        });
        let header = self.group::<InstrumentationScope>(body, scope_index, Self::span)?;
        self.groups.scopes[scope_index].header = header;
        Ok(())
    }

    /// Walks a `ResourceSpans` or `ScopeSpans` body (same field numbers: 1 the entity `E`,
    /// 2 the children, 3 the schema URL), handing each child to `child` with `index`. Returns
    /// every other field as received, except an entity with an over-long attribute, which is
    /// decoded, truncated and re-encoded.
    fn group<E: GroupEntity>(
        &mut self,
        body: &[u8],
        index: usize,
        child: fn(&mut Self, &[u8], usize) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut header = Vec::new();
        let mut fields = Fields::new(body);
        let mut field_start = 0;
        let mut entities = 0;
        while let Some((tag, wire_type)) = fields.next_key().map_err(malformed)? {
            match tag {
                GROUP_ENTITY => {
                    let entity = fields.bytes(tag, wire_type).map_err(malformed)?;
                    let mut check = self.check();
                    E::check_wire(entity, &mut check).map_err(malformed)?;
                    // A second entity is merged into the first by `prost`.
                    entities += 1;
                    self.leaves_to_prost |= check.leaves_to_prost || entities > 1;
                    if check.has_long_attribute {
                        let mut decoded =
                            E::decode(entity).map_err(|error| malformed(error.to_string()))?;
                        self.truncated_attributes += truncate_list(
                            decoded.attributes_mut(),
                            self.limits.max_attribute_bytes,
                        );
                        write_field(tag, &decoded.encode_to_vec(), &mut header);
                    } else {
                        header.extend_from_slice(&body[field_start..fields.offset()]);
                    }
                }
                GROUP_CHILDREN => {
                    let child_body = fields.bytes(tag, wire_type).map_err(malformed)?;
                    child(self, child_body, index)?;
                }
                GROUP_SCHEMA_URL => {
                    fields.string(tag, wire_type).map_err(malformed)?;
                    header.extend_from_slice(&body[field_start..fields.offset()]);
                }
                _ => {
                    let mut check = self.check();
                    fields
                        .skip_noting(tag, wire_type, &mut check)
                        .map_err(malformed)?;
                    self.leaves_to_prost |= check.leaves_to_prost;
                    header.extend_from_slice(&body[field_start..fields.offset()]);
                }
            }
            field_start = fields.offset();
        }
        Ok(header)
    }

    fn span(&mut self, span: &[u8], scope_index: usize) -> Result<()> {
        self.received_spans += 1;
        let mut check = self.check();
        let info = read_span(span, &mut check).map_err(malformed)?;
        self.leaves_to_prost |= check.leaves_to_prost;
        let Ok(trace_id) = <[u8; 16]>::try_from(info.trace_id) else {
            self.id_error_opt.get_or_insert(Error::InvalidTraceId {
                bits: info.trace_id.len() * 8,
            });
            return Ok(());
        };
        if info.span_id.len() != 8 || info.span_id.iter().all(|byte| *byte == 0) {
            self.id_error_opt.get_or_insert(Error::InvalidSpanId {
                bits: info.span_id.len() * 8,
            });
            return Ok(());
        }
        if self.id_error_opt.is_some() {
            // The request will be refused; only its well-formedness is still being checked.
            return Ok(());
        }
        let bytes = if check.has_long_attribute {
            let mut decoded = Span::decode(span).map_err(|error| malformed(error.to_string()))?;
            self.truncated_attributes +=
                truncate_span(&mut decoded, self.limits.max_attribute_bytes);
            self.groups.rewritten.push(decoded.encode_to_vec());
            SpanBytes::Rewritten(self.groups.rewritten.len() - 1)
        } else {
            let start = offset_in(self.body, span);
            SpanBytes::Received {
                start,
                end: start + span.len(),
            }
        };
        let build = match self.trace_index.entry(trace_id) {
            Entry::Occupied(entry) => &mut self.traces[*entry.get()],
            Entry::Vacant(entry) => {
                entry.insert(self.traces.len());
                self.traces.push(TraceBuild {
                    trace_id,
                    spans: Vec::new(),
                    start_time_unix_nano: u64::MAX,
                    end_time_unix_nano: 0,
                });
                self.traces.last_mut().expect("just pushed")
            }
        };
        build.start_time_unix_nano = build.start_time_unix_nano.min(info.start_time_unix_nano);
        build.end_time_unix_nano = build.end_time_unix_nano.max(info.end_time_unix_nano);
        build.spans.push(SpanRef {
            scope_index: u32::try_from(scope_index).unwrap_or(u32::MAX),
            bytes,
        });
        Ok(())
    }

    fn span_bytes(&self, span: &SpanRef) -> &[u8] {
        match span.bytes {
            SpanBytes::Received { start, end } => &self.body[start..end],
            SpanBytes::Rewritten(index) => &self.groups.rewritten[index],
        }
    }

    fn scope_body_len(&self, run: &[SpanRef]) -> usize {
        let header = &self.groups.scopes[run[0].scope_index as usize].header;
        header.len()
            + run
                .iter()
                .map(|span| field_len(self.span_bytes(span).len()))
                .sum::<usize>()
    }

    fn resource_body_len(&self, run: &[SpanRef]) -> usize {
        let resource_index = self.groups.scopes[run[0].scope_index as usize].resource_index;
        self.groups.resource_headers[resource_index as usize].len()
            + scope_runs(run)
                .map(|scope_run| field_len(self.scope_body_len(scope_run)))
                .sum::<usize>()
    }

    fn write_trace(&self, spans: &[SpanRef], out: &mut Vec<u8>) {
        for run in resource_runs(&self.groups, spans) {
            let resource_index = self.groups.scopes[run[0].scope_index as usize].resource_index;
            encode_key(REQUEST_RESOURCE_SPANS, WireType::LengthDelimited, out);
            encode_varint(self.resource_body_len(run) as u64, out);
            out.extend_from_slice(&self.groups.resource_headers[resource_index as usize]);
            for scope_run in scope_runs(run) {
                encode_key(GROUP_CHILDREN, WireType::LengthDelimited, out);
                encode_varint(self.scope_body_len(scope_run) as u64, out);
                out.extend_from_slice(
                    &self.groups.scopes[scope_run[0].scope_index as usize].header,
                );
                for span in scope_run {
                    write_field(GROUP_CHILDREN, self.span_bytes(span), out);
                }
            }
        }
    }

    fn finish(self) -> Regrouped {
        let mut regrouped = Regrouped {
            segments: Vec::with_capacity(self.traces.len()),
            received_spans: self.received_spans,
            truncated_attributes: self.truncated_attributes,
            checked: !self.leaves_to_prost,
            ..Regrouped::default()
        };
        for build in &self.traces {
            let span_count = build.spans.len() as u64;
            let trace_len: usize = resource_runs(&self.groups, &build.spans)
                .map(|run| field_len(self.resource_body_len(run)))
                .sum();
            if self.limits.max_bytes_per_trace > 0
                && trace_len as u64 > self.limits.max_bytes_per_trace
            {
                regrouped.too_large_spans += span_count;
                continue;
            }
            let mut out = Vec::with_capacity(trace_len);
            self.write_trace(&build.spans, &mut out);
            debug_assert_eq!(out.len(), trace_len);
            regrouped.spans += span_count;
            regrouped.segments.push(TraceSegment {
                trace_id: Bytes::copy_from_slice(&build.trace_id),
                trace: Bytes::from(out),
                start_time_unix_nano: build.start_time_unix_nano,
                end_time_unix_nano: build.end_time_unix_nano,
                span_count: u32::try_from(span_count).unwrap_or(u32::MAX),
            });
        }
        regrouped
    }
}

/// Consecutive spans of one trace under the same resource.
fn resource_runs<'s>(
    groups: &'s Groups,
    spans: &'s [SpanRef],
) -> impl Iterator<Item = &'s [SpanRef]> {
    spans.chunk_by(|left, right| {
        groups.scopes[left.scope_index as usize].resource_index
            == groups.scopes[right.scope_index as usize].resource_index
    })
}

/// Consecutive spans of one trace under the same scope.
fn scope_runs(spans: &[SpanRef]) -> impl Iterator<Item = &[SpanRef]> {
    spans.chunk_by(|left, right| left.scope_index == right.scope_index)
}

#[cfg(test)]
mod tests;
