//! Regrouping keeps every span exactly once, under its own resource and scope, one segment per
//! trace; bad IDs refuse the request; oversize traces are dropped and counted.

use std::collections::BTreeMap;

use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::common::v1::InstrumentationScope;
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::regroup_export_request;
use crate::error::Error;

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

fn corpus_request(traces: usize) -> ExportTraceServiceRequest {
    Generator::new(CorpusConfig::default()).next_request(traces)
}

#[test]
fn every_span_lands_once_in_its_traces_segment_with_its_resource_and_scope() {
    let request = corpus_request(60);
    let expected = flatten(&request.resource_spans);
    let regrouped = regroup_export_request(&request, 0).expect("regroups");
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
    let regrouped = regroup_export_request(&request, 0).expect("regroups");
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
    let error = regroup_export_request(&short_trace, 0).unwrap_err();
    assert!(matches!(error, Error::InvalidTraceId { bits: 64 }));
    assert_eq!(
        error.to_string(),
        "trace ids must be 128 bit, received 64 bits"
    );
    let long_span = request_of(vec![span(vec![1; 16], vec![1; 9])]);
    assert_eq!(
        regroup_export_request(&long_span, 0)
            .unwrap_err()
            .to_string(),
        "span ids must be 64 bit and not all zero, received 72 bits"
    );
    let zero_span = request_of(vec![span(vec![1; 16], vec![0; 8])]);
    assert!(matches!(
        regroup_export_request(&zero_span, 0),
        Err(Error::InvalidSpanId { bits: 64 })
    ));
}

#[test]
fn traces_over_the_size_limit_are_dropped_and_counted() {
    let mut spans = vec![span(vec![1; 16], vec![1; 8])];
    let mut big = span(vec![2; 16], vec![2; 8]);
    big.name = "x".repeat(1000);
    spans.push(big);
    let regrouped = regroup_export_request(&request_of(spans), 500).expect("regroups");
    assert_eq!(regrouped.segments.len(), 1);
    assert_eq!(regrouped.spans, 1);
    assert_eq!(regrouped.too_large_spans, 1);
}

#[test]
fn an_empty_request_has_no_segments() {
    let regrouped = regroup_export_request(&ExportTraceServiceRequest::default(), 0).expect("ok");
    assert!(regrouped.segments.is_empty());
}
