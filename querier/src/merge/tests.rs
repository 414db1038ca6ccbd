use contrail_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::tempopb::{ServiceStats, Span as SearchSpan, SpanSet, TraceSearchMetadata};

use super::*;

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(service.into())),
            }),
            ..KeyValue::default()
        }],
        ..Resource::default()
    })
}

fn span(id: u8, kind: i32) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        kind,
        name: format!("span-{id}"),
        ..Span::default()
    }
}

fn part(service: &str, spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: resource(service),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                ..InstrumentationScope::default()
            }),
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }]
}

fn span_names(resource_spans: &[ResourceSpans]) -> Vec<String> {
    let mut names: Vec<String> = resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| span.name.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn parts_merge_with_spans_deduplicated_by_id_and_kind() {
    let (merged, truncated) = combine_trace_parts(
        vec![
            part("a", vec![span(1, 2), span(2, 3)]),
            part("a", vec![span(2, 3), span(3, 1)]),
            // same ID, other kind: kept (Zipkin shares IDs between client and server)
            part("b", vec![span(1, 3)]),
        ],
        0,
    );
    assert!(!truncated);
    assert_eq!(merged.len(), 2, "one ResourceSpans per distinct resource");
    assert_eq!(
        merged[0].scope_spans.len(),
        1,
        "one ScopeSpans per distinct scope"
    );
    assert_eq!(
        span_names(&merged),
        ["span-1", "span-1", "span-2", "span-3"]
    );
}

#[test]
fn the_size_limit_truncates() {
    let spans: Vec<Span> = (0..100).map(|id| span(id, 1)).collect();
    let (all, truncated) = combine_trace_parts(vec![part("a", spans.clone())], 0);
    assert!(!truncated);
    let (cut, truncated) = combine_trace_parts(vec![part("a", spans)], 500);
    assert!(truncated);
    assert!(span_names(&cut).len() < span_names(&all).len());
    assert!(!span_names(&cut).is_empty());
}

fn search_span(id: &str) -> SearchSpan {
    SearchSpan {
        span_id: id.into(),
        ..SearchSpan::default()
    }
}

#[test]
fn search_metadata_merges_times_roots_and_span_sets() {
    let mut into = TraceSearchMetadata {
        trace_id: "abc".into(),
        root_service_name: ROOT_SPAN_NOT_YET_RECEIVED.into(),
        start_time_unix_nano: 2_000_000_000,
        duration_ms: 1000,
        ..TraceSearchMetadata::default()
    };
    into.set_span_sets(vec![SpanSet {
        spans: vec![search_span("1"), search_span("2")],
        matched: 2,
        ..SpanSet::default()
    }]);
    into.service_stats.insert(
        "a".into(),
        ServiceStats {
            span_count: 2,
            error_count: 0,
        },
    );
    let mut other = TraceSearchMetadata {
        trace_id: "abc".into(),
        root_service_name: "frontend".into(),
        root_trace_name: "GET /".into(),
        start_time_unix_nano: 1_000_000_000,
        duration_ms: 500,
        ..TraceSearchMetadata::default()
    };
    other.set_span_sets(vec![SpanSet {
        spans: vec![search_span("2"), search_span("3")],
        matched: 2,
        ..SpanSet::default()
    }]);
    merge_trace_metadata(&mut into, other, 3);
    assert_eq!(into.start_time_unix_nano, 1_000_000_000);
    assert_eq!(
        into.duration_ms, 2000,
        "from the earliest start to the latest end"
    );
    assert_eq!(into.root_service_name, "frontend");
    assert_eq!(into.root_trace_name, "GET /");
    assert_eq!(into.span_sets.len(), 1);
    assert_eq!(into.span_sets[0].matched, 3, "span 2 counted once");
    assert_eq!(into.span_sets[0].spans.len(), 3);
    assert_eq!(into.span_set.as_ref(), into.span_sets.first());
}
