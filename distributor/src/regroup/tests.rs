//! Regrouping keeps every span exactly once, under its own resource and scope, one segment per
//! trace; bad IDs refuse the request; oversize traces are dropped and counted.

use std::collections::BTreeMap;

use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::common::v1::InstrumentationScope;
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use prost::Message;

use super::{RegroupLimits, Regrouped, regroup_export_request};
use crate::error::{Error, Result};

type Flat = Vec<(
    Option<Resource>,
    String,
    Option<InstrumentationScope>,
    String,
    Span,
)>;

/// Every span with its resource and scope, grouped by trace ID, in request order.
fn flatten(resource_spans: &[ResourceSpans]) -> BTreeMap<Vec<u8>, Flat> {
    let mut by_trace: BTreeMap<Vec<u8>, Flat> = BTreeMap::new();
    for resource in resource_spans {
        for scope in &resource.scope_spans {
            for span in &scope.spans {
                by_trace.entry(span.trace_id.clone()).or_default().push((
                    resource.resource.clone(),
                    resource.schema_url.clone(),
                    scope.scope.clone(),
                    scope.schema_url.clone(),
                    span.clone(),
                ));
            }
        }
    }
    by_trace
}

fn regroup(request: &ExportTraceServiceRequest, max_bytes_per_trace: u64) -> Result<Regrouped> {
    regroup_export_request(
        &request.encode_to_vec(),
        RegroupLimits {
            max_attribute_bytes: 0,
            max_bytes_per_trace,
        },
    )
}

fn corpus_request(traces: usize) -> ExportTraceServiceRequest {
    Generator::new(CorpusConfig::default()).next_request(traces)
}

#[test]
fn every_span_lands_once_in_its_traces_segment_with_its_resource_and_scope() {
    let request = corpus_request(60);
    let expected = flatten(&request.resource_spans);
    let regrouped = regroup(&request, 0).expect("regroups");
    assert_eq!(regrouped.segments.len(), expected.len());
    assert_eq!(regrouped.too_large_spans, 0);
    let mut total = 0;
    for segment in &regrouped.segments {
        let trace = segment.decode_trace().expect("segment decodes");
        let flat = flatten(&trace.resource_spans);
        assert_eq!(flat.len(), 1, "one trace per segment");
        let (trace_id, spans) = flat.into_iter().next().expect("one");
        assert_eq!(segment.trace_id.as_ref(), trace_id.as_slice());
        assert_eq!(&spans, &expected[&trace_id]);
        assert_eq!(segment.span_count as usize, spans.len());
        let start = spans.iter().map(|entry| entry.4.start_time_unix_nano).min();
        let end = spans.iter().map(|entry| entry.4.end_time_unix_nano).max();
        assert_eq!(Some(segment.start_time_unix_nano), start);
        assert_eq!(Some(segment.end_time_unix_nano), end);
        total += spans.len() as u64;
    }
    assert_eq!(regrouped.spans, total);
    assert_eq!(regrouped.received_spans, total);
    let request_spans: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total as usize, request_spans);
}

fn span(trace_id: Vec<u8>, span_id: Vec<u8>) -> Span {
    Span {
        trace_id,
        span_id,
        name: "op".to_owned(),
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        ..Span::default()
    }
}

fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn a_trace_interleaved_across_resources_keeps_one_segment() {
    let trace_a = vec![1u8; 16];
    let trace_b = vec![2u8; 16];
    let mut request = request_of(vec![
        span(trace_a.clone(), vec![1; 8]),
        span(trace_b.clone(), vec![2; 8]),
    ]);
    let mut second = request.resource_spans[0].clone();
    second.resource = Some(Resource::default());
    second.scope_spans[0].spans = vec![span(trace_a.clone(), vec![3; 8])];
    request.resource_spans.push(second);
    let regrouped = regroup(&request, 0).expect("regroups");
    assert_eq!(regrouped.segments.len(), 2);
    let first = regrouped.segments[0].decode_trace().expect("decodes");
    assert_eq!(regrouped.segments[0].trace_id.as_ref(), trace_a.as_slice());
    assert_eq!(
        first.resource_spans.len(),
        2,
        "two resources, each with its span"
    );
    assert_eq!(regrouped.segments[0].span_count, 2);
}

#[test]
fn wrong_id_lengths_refuse_the_request_with_tempos_messages() {
    let short_trace = request_of(vec![span(vec![1; 8], vec![1; 8])]);
    let error = regroup(&short_trace, 0).unwrap_err();
    assert!(matches!(error, Error::InvalidTraceId { bits: 64 }));
    assert_eq!(
        error.to_string(),
        "trace ids must be 128 bit, received 64 bits"
    );
    let long_span = request_of(vec![span(vec![1; 16], vec![1; 9])]);
    assert_eq!(
        regroup(&long_span, 0).unwrap_err().to_string(),
        "span ids must be 64 bit and not all zero, received 72 bits"
    );
    let zero_span = request_of(vec![span(vec![1; 16], vec![0; 8])]);
    assert!(matches!(
        regroup(&zero_span, 0),
        Err(Error::InvalidSpanId { bits: 64 })
    ));
}

#[test]
fn traces_over_the_size_limit_are_dropped_and_counted() {
    let mut spans = vec![span(vec![1; 16], vec![1; 8])];
    let mut big = span(vec![2; 16], vec![2; 8]);
    big.name = "x".repeat(1000);
    spans.push(big);
    let regrouped = regroup(&request_of(spans), 500).expect("regroups");
    assert_eq!(regrouped.segments.len(), 1);
    assert_eq!(regrouped.spans, 1);
    assert_eq!(regrouped.too_large_spans, 1);
}

#[test]
fn an_empty_request_has_no_segments() {
    let regrouped = regroup(&ExportTraceServiceRequest::default(), 0).expect("ok");
    assert!(regrouped.segments.is_empty());
}

fn string_attribute(key: &str, value: &str) -> contrail_proto::otlp::common::v1::KeyValue {
    use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

#[test]
fn long_attributes_are_cut_everywhere_and_counted_and_short_ones_stay_byte_identical() {
    use contrail_proto::otlp::trace::v1::span::Event;
    let mut request = request_of(vec![
        span(vec![1; 16], vec![1; 8]),
        span(vec![2; 16], vec![2; 8]),
    ]);
    let long = "é".repeat(10);
    request.resource_spans[0].resource = Some(Resource {
        attributes: vec![string_attribute("service.name", &long)],
        ..Resource::default()
    });
    request.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
        name: "lib".to_owned(),
        attributes: vec![string_attribute(&"k".repeat(30), "v")],
        ..InstrumentationScope::default()
    });
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[0].attributes = vec![
        string_attribute("short", "ok"),
        string_attribute("url", &long),
    ];
    spans[0].events = vec![Event {
        name: "exception".to_owned(),
        attributes: vec![string_attribute("stack", &long)],
        ..Event::default()
    }];
    spans[1].attributes = vec![string_attribute("short", "ok")];
    let body = request.encode_to_vec();
    let regrouped = regroup_export_request(
        &body,
        RegroupLimits {
            max_attribute_bytes: 9,
            max_bytes_per_trace: 0,
        },
    )
    .expect("regroups");
    assert_eq!(
        regrouped.truncated_attributes, 4,
        "resource, scope key, span, event"
    );
    let first = regrouped.segments[0].decode_trace().expect("decodes");
    let resource_value = &first.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes[0];
    assert_eq!(
        resource_value.value.as_ref().expect("value"),
        string_attribute("x", "éééé").value.as_ref().expect("value")
    );
    let scope = first.resource_spans[0].scope_spans[0]
        .scope
        .as_ref()
        .expect("scope");
    assert_eq!(scope.attributes[0].key, "k".repeat(9));
    let first_span = &first.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(first_span.attributes[0], string_attribute("short", "ok"));
    assert_eq!(
        first_span.events[0].attributes[0].value,
        string_attribute("x", "éééé").value
    );
    // A span with nothing to cut is copied exactly as it arrived.
    let second = regrouped.segments[1].decode_trace().expect("decodes");
    let original = request.resource_spans[0].scope_spans[0].spans[1].encode_to_vec();
    assert_eq!(
        second.resource_spans[0].scope_spans[0].spans[0].encode_to_vec(),
        original
    );
    assert!(
        body.windows(original.len())
            .any(|window| window == original.as_slice())
    );
}

#[test]
fn malformed_nested_fields_are_refused_like_a_full_decode_would() {
    let valid = request_of(vec![span(vec![1; 16], vec![1; 8])]).encode_to_vec();
    let mut invalid_utf8 = request_of(vec![span(vec![1; 16], vec![1; 8])]);
    invalid_utf8.resource_spans[0].scope_spans[0].spans[0].attributes =
        vec![string_attribute("k", "vvvv")];
    let mut bytes = invalid_utf8.encode_to_vec();
    let position = bytes
        .windows(4)
        .position(|window| window == b"vvvv")
        .expect("value bytes");
    bytes[position] = 0xff;
    for (name, body) in [
        ("invalid utf-8 in an attribute value", bytes),
        ("truncated", valid[..valid.len() - 3].to_vec()),
        ("wrong wire type for resource_spans", vec![0x08, 0x01]),
        ("length past the end", vec![0x0a, 0x7f, 0x00]),
    ] {
        let prost_result = ExportTraceServiceRequest::decode(body.as_slice());
        assert!(prost_result.is_err(), "{name}: prost refuses it too");
        let error = regroup_export_request(&body, RegroupLimits::default()).unwrap_err();
        assert!(matches!(error, Error::Malformed(_)), "{name}: {error}");
        assert!(
            error
                .to_string()
                .starts_with("invalid OTLP protobuf payload"),
            "{error}"
        );
    }
}

/// Corrupts bytes of a real request at random (seeded): the wire-level check accepts exactly
/// what a full prost decode accepts (apart from Tempo's ID rules, checked afterwards).
#[test]
fn random_corruption_is_refused_exactly_when_prost_refuses_it() {
    let body = corpus_request(3).encode_to_vec();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut refused, mut accepted) = (0, 0);
    for _ in 0..2000 {
        let mut corrupted = body.clone();
        for _ in 0..=(next() % 3) {
            let position = (next() % corrupted.len() as u64) as usize;
            corrupted[position] = (next() & 0xff) as u8;
        }
        let prost_ok = ExportTraceServiceRequest::decode(corrupted.as_slice()).is_ok();
        match regroup_export_request(&corrupted, RegroupLimits::default()) {
            Ok(_) | Err(Error::InvalidTraceId { .. } | Error::InvalidSpanId { .. }) => {
                assert!(prost_ok, "accepted what prost refuses: {corrupted:?}");
                accepted += 1;
            }
            Err(Error::Malformed(message)) => {
                assert!(!prost_ok, "refused what prost accepts: {message}");
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        refused > 100 && accepted > 100,
        "both outcomes exercised: {refused} refused, {accepted} accepted"
    );
}

#[test]
fn unknown_fields_are_kept_and_do_not_break_the_segment() {
    let mut body = Vec::new();
    let span_bytes = {
        let mut bytes = span(vec![3; 16], vec![3; 8]).encode_to_vec();
        // field 99, varint 7: unknown to this schema.
        prost::encoding::encode_key(99, prost::encoding::WireType::Varint, &mut bytes);
        prost::encoding::encode_varint(7, &mut bytes);
        bytes
    };
    let mut scope_spans = Vec::new();
    prost::encoding::bytes::encode(2, &span_bytes, &mut scope_spans);
    let mut resource_spans = Vec::new();
    prost::encoding::bytes::encode(2, &scope_spans, &mut resource_spans);
    prost::encoding::bytes::encode(1, &resource_spans, &mut body);
    let regrouped = regroup_export_request(&body, RegroupLimits::default()).expect("regroups");
    let trace = regrouped.segments[0].decode_trace().expect("decodes");
    assert_eq!(trace.resource_spans[0].scope_spans[0].spans[0].name, "op");
}
