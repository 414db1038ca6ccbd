//! Regrouping: an OTLP export request becomes one [`TraceSegment`] per trace ID, each a
//! protobuf `tempopb.Trace` holding only that trace's spans (docs/adr/002-internal-grpc.md).
//!
//! Spans are never cloned: each is measured and encoded once, straight from the decoded request
//! into its trace's buffer. Resources and scopes are encoded once per request and their bytes
//! copied into every trace that has spans under them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::error::{Error, Result};

/// The segments of one request, and what was left out.
#[derive(Debug, Default)]
pub struct Regrouped {
    /// One segment per trace, in the order the traces first appear.
    pub segments: Vec<TraceSegment>,
    /// Spans in `segments`.
    pub spans: u64,
    /// Spans dropped because their trace's segment is over `max_bytes_per_trace`.
    pub too_large_spans: u64,
}

/// Where one span sits in the request, and its encoded size.
#[derive(Debug, Clone, Copy)]
struct SpanRef {
    resource_index: u32,
    scope_index: u32,
    span_index: u32,
    encoded_len: u32,
}

#[derive(Debug, Default)]
struct TraceBuild {
    trace_id: [u8; 16],
    spans: Vec<SpanRef>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
}

/// Field numbers of `tempopb.Trace` / OTLP `TracesData` and below.
const TRACE_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_SPANS_SCHEMA_URL: u32 = 3;

/// Length of a length-delimited field with a body of `body_len` bytes (field numbers < 16).
fn field_len(body_len: usize) -> usize {
    1 + encoded_len_varint(body_len as u64) + body_len
}

fn write_field_header(tag: u32, body_len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body_len as u64, out);
}

fn string_field_len(value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        field_len(value.len())
    }
}

fn write_string_field(tag: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        write_field_header(tag, value.len(), out);
        out.extend_from_slice(value.as_bytes());
    }
}

/// Validates span and trace IDs (Tempo's rules: the whole request is refused on a bad one) and
/// splits `request` by trace. A trace whose segment is over `max_bytes_per_trace` (0 = no
/// limit) is left out and counted.
pub fn regroup_export_request(
    request: &ExportTraceServiceRequest,
    max_bytes_per_trace: u64,
) -> Result<Regrouped> {
    let mut trace_index: HashMap<[u8; 16], usize> = HashMap::new();
    let mut traces: Vec<TraceBuild> = Vec::new();
    for (resource_index, resource_spans) in request.resource_spans.iter().enumerate() {
        for (scope_index, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            for (span_index, span) in scope_spans.spans.iter().enumerate() {
                let trace_id: [u8; 16] =
                    span.trace_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::InvalidTraceId {
                            bits: span.trace_id.len() * 8,
                        })?;
                if span.span_id.len() != 8 || span.span_id.iter().all(|byte| *byte == 0) {
                    return Err(Error::InvalidSpanId {
                        bits: span.span_id.len() * 8,
                    });
                }
                let build = match trace_index.entry(trace_id) {
                    Entry::Occupied(entry) => &mut traces[*entry.get()],
                    Entry::Vacant(entry) => {
                        entry.insert(traces.len());
                        traces.push(TraceBuild {
                            trace_id,
                            spans: Vec::new(),
                            start_time_unix_nano: u64::MAX,
                            end_time_unix_nano: 0,
                        });
                        traces.last_mut().expect("just pushed")
                    }
                };
                build.start_time_unix_nano =
                    build.start_time_unix_nano.min(span.start_time_unix_nano);
                build.end_time_unix_nano = build.end_time_unix_nano.max(span.end_time_unix_nano);
                build.spans.push(SpanRef {
                    resource_index: index_u32(resource_index),
                    scope_index: index_u32(scope_index),
                    span_index: index_u32(span_index),
                    encoded_len: index_u32(span.encoded_len()),
                });
            }
        }
    }
    let encoded = EncodedGroups::new(request);
    let mut regrouped = Regrouped {
        segments: Vec::with_capacity(traces.len()),
        ..Regrouped::default()
    };
    for build in traces {
        let span_count = build.spans.len() as u64;
        let trace_len = trace_len(&build.spans, request, &encoded);
        if max_bytes_per_trace > 0 && trace_len as u64 > max_bytes_per_trace {
            regrouped.too_large_spans += span_count;
            continue;
        }
        let mut out = Vec::with_capacity(trace_len);
        write_trace(&build.spans, request, &encoded, &mut out);
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
    Ok(regrouped)
}

fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Each resource and scope encoded once.
struct EncodedGroups {
    resources: Vec<Option<Vec<u8>>>,
    scopes: Vec<Vec<Option<Vec<u8>>>>,
}

impl EncodedGroups {
    fn new(request: &ExportTraceServiceRequest) -> Self {
        let resources = request
            .resource_spans
            .iter()
            .map(|resource_spans| resource_spans.resource.as_ref().map(Message::encode_to_vec))
            .collect();
        let scopes = request
            .resource_spans
            .iter()
            .map(|resource_spans| {
                resource_spans
                    .scope_spans
                    .iter()
                    .map(|scope_spans| scope_spans.scope.as_ref().map(Message::encode_to_vec))
                    .collect()
            })
            .collect();
        EncodedGroups { resources, scopes }
    }
}

/// The spans of one trace under one resource (`chunk_by` on the resource index).
fn resource_runs(spans: &[SpanRef]) -> impl Iterator<Item = &[SpanRef]> {
    spans.chunk_by(|left, right| left.resource_index == right.resource_index)
}

fn scope_runs(spans: &[SpanRef]) -> impl Iterator<Item = &[SpanRef]> {
    spans.chunk_by(|left, right| left.scope_index == right.scope_index)
}

fn scope_spans_body_len(
    run: &[SpanRef],
    request: &ExportTraceServiceRequest,
    encoded: &EncodedGroups,
) -> usize {
    let first = run[0];
    let scope_spans = &request.resource_spans[first.resource_index as usize].scope_spans
        [first.scope_index as usize];
    let scope_len = encoded.scopes[first.resource_index as usize][first.scope_index as usize]
        .as_ref()
        .map_or(0, |scope| field_len(scope.len()));
    let spans_len: usize = run
        .iter()
        .map(|span| field_len(span.encoded_len as usize))
        .sum();
    scope_len + spans_len + string_field_len(&scope_spans.schema_url)
}

fn resource_spans_body_len(
    run: &[SpanRef],
    request: &ExportTraceServiceRequest,
    encoded: &EncodedGroups,
) -> usize {
    let resource_index = run[0].resource_index as usize;
    let resource_len = encoded.resources[resource_index]
        .as_ref()
        .map_or(0, |resource| field_len(resource.len()));
    let scopes_len: usize = scope_runs(run)
        .map(|scope_run| field_len(scope_spans_body_len(scope_run, request, encoded)))
        .sum();
    resource_len + scopes_len + string_field_len(&request.resource_spans[resource_index].schema_url)
}

fn trace_len(
    spans: &[SpanRef],
    request: &ExportTraceServiceRequest,
    encoded: &EncodedGroups,
) -> usize {
    resource_runs(spans)
        .map(|run| field_len(resource_spans_body_len(run, request, encoded)))
        .sum()
}

fn write_trace(
    spans: &[SpanRef],
    request: &ExportTraceServiceRequest,
    encoded: &EncodedGroups,
    out: &mut Vec<u8>,
) {
    for run in resource_runs(spans) {
        let resource_index = run[0].resource_index as usize;
        let resource_spans = &request.resource_spans[resource_index];
        write_field_header(
            TRACE_RESOURCE_SPANS,
            resource_spans_body_len(run, request, encoded),
            out,
        );
        if let Some(resource) = &encoded.resources[resource_index] {
            write_field_header(RESOURCE_SPANS_RESOURCE, resource.len(), out);
            out.extend_from_slice(resource);
        }
        for scope_run in scope_runs(run) {
            let scope_index = scope_run[0].scope_index as usize;
            let scope_spans = &resource_spans.scope_spans[scope_index];
            write_field_header(
                RESOURCE_SPANS_SCOPE_SPANS,
                scope_spans_body_len(scope_run, request, encoded),
                out,
            );
            if let Some(scope) = &encoded.scopes[resource_index][scope_index] {
                write_field_header(SCOPE_SPANS_SCOPE, scope.len(), out);
                out.extend_from_slice(scope);
            }
            for span_ref in scope_run {
                let span = &scope_spans.spans[span_ref.span_index as usize];
                prost::encoding::message::encode(SCOPE_SPANS_SPANS, span, out);
            }
            write_string_field(SCOPE_SPANS_SCHEMA_URL, &scope_spans.schema_url, out);
        }
        write_string_field(RESOURCE_SPANS_SCHEMA_URL, &resource_spans.schema_url, out);
    }
}

#[cfg(test)]
mod tests;
