//! The wire path against the `prost` path: the same rows and tables for the same segments
//! (corpus traces, odd but valid encodings, invalid spans, duplicates), `Decode` for what the
//! wire path does not read, and never a segment taken that `prost` would reject.

use std::collections::HashSet;

use arrow::array::RecordBatch;
use bytes::Bytes;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::{TraceId, tempopb};
use proptest::prelude::*;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

use super::scan::{EncodedTrace, Scanned};
use crate::block::v1::convert::RefTables;
use crate::block::v1::convert::to_rows::SpanBatchBuilder;

/// What the ingester's `prost` decoding keeps of `chunks` (undecodable chunks dropped, spans
/// of other traces or without an 8-byte ID dropped, each span ID once): the reference.
fn reference(trace_id: &TraceId, chunks: &[Bytes]) -> (Vec<ResourceSpans>, u64) {
    let mut seen = HashSet::new();
    let mut invalid = 0;
    let mut out = Vec::new();
    for chunk in chunks {
        let Ok(decoded) = tempopb::Trace::decode(chunk.clone()) else {
            continue;
        };
        for mut resource_spans in decoded.resource_spans {
            let mut scopes = Vec::new();
            for mut scope in std::mem::take(&mut resource_spans.scope_spans) {
                scope
                    .spans
                    .retain(|span| match <[u8; 8]>::try_from(span.span_id.as_slice()) {
                        Ok(id) if span.trace_id == trace_id.as_bytes() => seen.insert(id),
                        _ => {
                            invalid += 1;
                            false
                        }
                    });
                if !scope.spans.is_empty() {
                    scopes.push(scope);
                }
            }
            if !scopes.is_empty() {
                resource_spans.scope_spans = scopes;
                out.push(resource_spans);
            }
        }
    }
    (out, invalid)
}

type Rows = (RecordBatch, Vec<ResourceSpans>, Vec<ScopeSpans>);

fn tables_of(tables: &RefTables) -> (Vec<ResourceSpans>, Vec<ScopeSpans>) {
    let resources = (0..tables.resource_count() as u32)
        .filter_map(|index| tables.resource(index).cloned())
        .collect();
    let scopes = (0..tables.scope_count() as u32)
        .filter_map(|index| tables.scope(index).cloned())
        .collect();
    (resources, scopes)
}

fn prost_rows(traces: &[(TraceId, Vec<ResourceSpans>)]) -> Rows {
    let mut tables = RefTables::default();
    let mut builder = SpanBatchBuilder::default();
    for (trace_id, resource_spans) in traces {
        builder
            .append_trace(trace_id, resource_spans, &mut tables)
            .unwrap();
    }
    let (resources, scopes) = tables_of(&tables);
    (builder.finish().unwrap(), resources, scopes)
}

fn wire_rows(traces: &[EncodedTrace]) -> Rows {
    let mut tables = RefTables::default();
    let mut builder = SpanBatchBuilder::default();
    for trace in traces {
        builder.append_encoded(trace, &mut tables).unwrap();
    }
    let (resources, scopes) = tables_of(&tables);
    (builder.finish().unwrap(), resources, scopes)
}

/// Scans `chunks`; when the wire path takes them, checks its rows and drop count against the
/// reference, that `prost` decodes every chunk and that the light index of checked segments
/// (`scan_checked`) is the same. Returns whether the wire path took them.
fn check(trace_id: TraceId, chunks: Vec<Bytes>) -> bool {
    let (expected, expected_invalid) = reference(&trace_id, &chunks);
    let scanned = EncodedTrace::scan(trace_id, chunks.clone());
    if matches!(scanned, Scanned::Ready { .. }) {
        assert_eq!(
            format!("{:?}", EncodedTrace::scan_checked(trace_id, chunks.clone())),
            format!("{scanned:?}"),
            "the light index differs from the full scan's"
        );
    }
    match scanned {
        Scanned::Decode => false,
        Scanned::Ready {
            trace,
            invalid_spans,
        } => {
            for chunk in &chunks {
                assert!(
                    tempopb::Trace::decode(chunk.clone()).is_ok(),
                    "the wire path took a segment prost rejects"
                );
            }
            assert_eq!(invalid_spans, expected_invalid);
            match trace {
                None => assert!(expected.is_empty()),
                Some(trace) => {
                    let old = prost_rows(&[(trace_id, expected)]);
                    let new = wire_rows(&[trace]);
                    assert_eq!(old.0, new.0, "rows differ");
                    assert_eq!(old.1, new.1, "resource tables differ");
                    assert_eq!(old.2, new.2, "scope tables differ");
                }
            }
            true
        }
    }
}

fn corpus(seed: u64, count: usize) -> Vec<(TraceId, Vec<Bytes>)> {
    let mut generator = Generator::new(CorpusConfig {
        seed,
        ..CorpusConfig::default()
    });
    (0..count)
        .map(|_| {
            let resource_spans = generator.next_trace();
            let trace_id =
                TraceId::from_ingest_bytes(&resource_spans[0].scope_spans[0].spans[0].trace_id)
                    .unwrap();
            // One segment per resource group, as several pushes of one trace would arrive.
            let chunks = resource_spans
                .into_iter()
                .map(|group| {
                    Bytes::from(
                        tempopb::Trace {
                            resource_spans: vec![group],
                        }
                        .encode_to_vec(),
                    )
                })
                .collect();
            (trace_id, chunks)
        })
        .collect()
}

#[test]
fn corpus_traces_get_the_rows_of_the_prost_path() {
    let traces = corpus(11, 200);
    for (trace_id, chunks) in &traces {
        // The first segment twice: a retried push, every span of it a duplicate.
        let mut with_retry = chunks.clone();
        with_retry.push(chunks[0].clone());
        assert!(check(*trace_id, with_retry), "trace {trace_id} not taken");
    }
    // Many traces into one batch: resources and scopes interned across traces as the prost
    // path interns them.
    let mut expected = Vec::new();
    let mut encoded = Vec::new();
    for (trace_id, chunks) in traces {
        expected.push((trace_id, reference(&trace_id, &chunks).0));
        match EncodedTrace::scan(trace_id, chunks) {
            Scanned::Ready {
                trace: Some(trace), ..
            } => encoded.push(trace),
            other => panic!("trace {trace_id}: {other:?}"),
        }
    }
    assert_eq!(prost_rows(&expected), wire_rows(&encoded));
}

fn key(buf: &mut Vec<u8>, number: u32, wire_type: WireType) {
    encode_key(number, wire_type, buf);
}

fn bytes_field(buf: &mut Vec<u8>, number: u32, value: &[u8]) {
    key(buf, number, WireType::LengthDelimited);
    encode_varint(value.len() as u64, buf);
    buf.extend_from_slice(value);
}

fn varint_field(buf: &mut Vec<u8>, number: u32, value: u64) {
    key(buf, number, WireType::Varint);
    encode_varint(value, buf);
}

const TRACE: [u8; 16] = [3; 16];

fn span(id: u8) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![id; 8],
        name: format!("span {id}"),
        start_time_unix_nano: 1_000 + u64::from(id),
        end_time_unix_nano: 2_000,
        attributes: vec![
            KeyValue {
                key: "http.route".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("/a".into())),
                }),
                key_strindex: 0,
            },
            KeyValue {
                key: "n".into(),
                value: Some(AnyValue {
                    value: Some(Value::IntValue(7)),
                }),
                key_strindex: 0,
            },
        ],
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
        ..Span::default()
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("svc".into())),
            }),
            key_strindex: 0,
        }],
        ..Resource::default()
    }
}

/// A `tempopb.Trace` of one resource group, its fields in the order and form given.
fn segment(resource_spans_fields: &[Vec<u8>]) -> Bytes {
    let group: Vec<u8> = resource_spans_fields.concat();
    let mut out = Vec::new();
    bytes_field(&mut out, 1, &group);
    Bytes::from(out)
}

fn scope_spans_field(spans: &[Vec<u8>], tail: &[u8]) -> Vec<u8> {
    let mut scope = Vec::new();
    for span in spans {
        bytes_field(&mut scope, 2, span);
    }
    scope.extend_from_slice(tail);
    let mut out = Vec::new();
    bytes_field(&mut out, 2, &scope);
    out
}

fn resource_field(resource: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 1, resource);
    out
}

fn url_field(url: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 3, url.as_bytes());
    out
}

fn trace_id() -> TraceId {
    TraceId::from_ingest_bytes(&TRACE).unwrap()
}

#[test]
fn field_order_unknown_fields_and_repeated_scalars_read_as_prost_reads_them() {
    // Schema URL and resource after the scope spans; an unknown field in the resource (so the
    // two segments encode the same resource differently: one reference, as in the prost path).
    let mut odd_resource = resource().encode_to_vec();
    varint_field(&mut odd_resource, 99, 5);
    // A span with its name twice (the last wins), an unknown length-delimited field and an
    // attribute with an unknown field.
    let mut odd_span = span(2).encode_to_vec();
    bytes_field(&mut odd_span, 5, b"renamed");
    bytes_field(&mut odd_span, 77, b"ignored");
    let mut attr = KeyValue {
        key: "x".into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(true)),
        }),
        key_strindex: 0,
    }
    .encode_to_vec();
    varint_field(&mut attr, 42, 1);
    bytes_field(&mut odd_span, 9, &attr);
    let first = segment(&[
        scope_spans_field(
            &[span(1).encode_to_vec(), odd_span],
            &url_field("scope-url"),
        ),
        url_field("resource-url"),
        resource_field(&odd_resource),
    ]);
    let second = segment(&[
        resource_field(&resource().encode_to_vec()),
        url_field("resource-url"),
        scope_spans_field(&[span(3).encode_to_vec()], &url_field("scope-url")),
    ]);
    assert!(check(trace_id(), vec![first, second]));
}

#[test]
fn invalid_and_duplicate_spans_are_dropped_as_the_prost_path_drops_them() {
    let mut other_trace = span(4);
    other_trace.trace_id = vec![9; 16];
    let mut short_id = span(5);
    short_id.span_id = vec![5; 4];
    let spans = [span(1), other_trace, short_id, span(1), span(6)].map(|s| s.encode_to_vec());
    let chunk = segment(&[scope_spans_field(&spans, &[])]);
    assert!(check(trace_id(), vec![chunk.clone(), chunk]));
    // Nothing valid: no trace, the drops counted.
    let mut lone = span(7);
    lone.trace_id = vec![1; 16];
    let chunk = segment(&[scope_spans_field(&[lone.encode_to_vec()], &[])]);
    match EncodedTrace::scan(trace_id(), vec![chunk]) {
        Scanned::Ready {
            trace: None,
            invalid_spans: 1,
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn encodings_prost_would_merge_or_reject_are_left_to_prost() {
    let resource = resource().encode_to_vec();
    let spans = [span(1).encode_to_vec()];
    let twice_resource = segment(&[
        resource_field(&resource),
        resource_field(&resource),
        scope_spans_field(&spans, &[]),
    ]);
    let mut two_statuses = span(1).encode_to_vec();
    bytes_field(&mut two_statuses, 15, &Status::default().encode_to_vec());
    let mut two_values = span(1).encode_to_vec();
    let mut attr = Vec::new();
    bytes_field(&mut attr, 1, b"k");
    bytes_field(&mut attr, 2, &AnyValue::default().encode_to_vec());
    bytes_field(&mut attr, 2, &AnyValue::default().encode_to_vec());
    bytes_field(&mut two_values, 9, &attr);
    let mut bad_utf8 = span(1).encode_to_vec();
    bytes_field(&mut bad_utf8, 5, &[0xff, 0xfe]);
    let mut wrong_wire_type = span(1).encode_to_vec();
    varint_field(&mut wrong_wire_type, 7, 1);
    let cases = [
        twice_resource,
        segment(&[scope_spans_field(&[two_statuses], &[])]),
        segment(&[scope_spans_field(&[two_values], &[])]),
        segment(&[scope_spans_field(&[bad_utf8], &[])]),
        segment(&[scope_spans_field(&[wrong_wire_type], &[])]),
        Bytes::from_static(&[0x0a, 0x05, 0x01]),
    ];
    for (index, chunk) in cases.into_iter().enumerate() {
        assert!(
            matches!(EncodedTrace::scan(trace_id(), vec![chunk]), Scanned::Decode),
            "case {index}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Corrupted segments: whatever the wire path takes, prost decodes, to the same rows.
    #[test]
    fn a_corrupted_segment_is_taken_only_if_prost_decodes_it(
        pick in 0..40usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let traces = corpus(2, 40);
        let (trace_id, chunks) = &traces[pick];
        let mut chunk = chunks[0].to_vec();
        for (at, byte, kind) in edits {
            if chunk.is_empty() {
                break;
            }
            let at = at.index(chunk.len());
            match kind {
                0 => chunk[at] = byte,
                1 => chunk.truncate(at),
                _ => chunk.insert(at, byte),
            }
        }
        let mut all = chunks.clone();
        all[0] = Bytes::from(chunk);
        check(*trace_id, all);
    }
}
