//! Golden JSON (spec §2.3, §4, §9) and wire-format checks for the `tempopb` messages.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
use serde_json::{Value as Json, json};

use super::*;

const T0: u64 = 1_700_000_000_000_000_000;
const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc7, 0x00,
];
const S1: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x00];
const S2: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x01];

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

pub(super) fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        key_strindex: 0,
    }
}

/// Fixture F of spec §9.
pub(super) fn fixture_trace() -> Trace {
    let s1 = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: S1.to_vec(),
        name: "I am a span!".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1_000_000_000,
        attributes: vec![
            string_attr("my.span.attr", "some value"),
            int_attr("http.status_code", 200),
        ],
        status: Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        }),
        ..Default::default()
    };
    let s2 = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: S2.to_vec(),
        parent_span_id: S1.to_vec(),
        name: "child".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: T0 + 100_000_000,
        end_time_unix_nano: T0 + 300_000_000,
        attributes: vec![string_attr("db.system", "postgres")],
        events: vec![Event {
            time_unix_nano: T0 + 150_000_000,
            name: "retry".into(),
            ..Default::default()
        }],
        // Tempo's JSON always has a status object; `{}` decodes as a present, unset status.
        status: Some(Status::default()),
        ..Default::default()
    };
    Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", "my.service")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "my.library".into(),
                    version: "1.0.0".into(),
                    ..Default::default()
                }),
                spans: vec![s1, s2],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap()
}

#[test]
fn trace_by_id_v2_json_matches_c6() {
    let response = TraceByIdResponse {
        trace: Some(fixture_trace()),
        metrics: Some(TraceByIdMetrics {
            inspected_bytes: 557,
            ..Default::default()
        }),
        status: PartialStatus::Complete as i32,
        message: String::new(),
    };
    let expected = json!({
        "trace": {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
            "scopeSpans": [{
                "scope": {"name": "my.library", "version": "1.0.0"},
                "spans": [
                    {
                        "traceId": "W47/95gDgQPSabYzgT/HAA==",
                        "spanId": "7uGbfsPBsQA=",
                        "name": "I am a span!",
                        "kind": "SPAN_KIND_SERVER",
                        "startTimeUnixNano": T0.to_string(),
                        "endTimeUnixNano": (T0 + 1_000_000_000).to_string(),
                        "attributes": [
                            {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                            {"key": "http.status_code", "value": {"intValue": "200"}}
                        ],
                        "status": {"message": "boom", "code": "STATUS_CODE_ERROR"}
                    },
                    {
                        "traceId": "W47/95gDgQPSabYzgT/HAA==",
                        "spanId": "7uGbfsPBsQE=",
                        "parentSpanId": "7uGbfsPBsQA=",
                        "name": "child",
                        "kind": "SPAN_KIND_CLIENT",
                        "startTimeUnixNano": (T0 + 100_000_000).to_string(),
                        "endTimeUnixNano": (T0 + 300_000_000).to_string(),
                        "attributes": [{"key": "db.system", "value": {"stringValue": "postgres"}}],
                        "events": [{"timeUnixNano": (T0 + 150_000_000).to_string(), "name": "retry"}],
                        "status": {}
                    }
                ]
            }]
        }]},
        "metrics": {"inspectedBytes": "557"}
    });
    assert_eq!(to_json(&response), expected);
    let decoded: TraceByIdResponse = serde_json::from_value(expected).unwrap();
    assert_eq!(decoded, response);
}

#[test]
fn span_without_status_still_has_a_status_object() {
    let mut trace = fixture_trace();
    trace.resource_spans[0].scope_spans[0].spans[0].status = None;
    let json = to_json(&trace);
    assert_eq!(
        json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"],
        json!({})
    );
}

#[test]
fn partial_status_is_written_by_name_and_empty_trace_as_object() {
    let response = TraceByIdResponse {
        trace: Some(Trace::default()),
        metrics: Some(TraceByIdMetrics::default()),
        status: PartialStatus::Partial as i32,
        message: "Trace exceeds maximum size of 10 bytes, a partial trace is returned".into(),
    };
    let json = to_json(&response);
    assert_eq!(
        json,
        json!({"trace": {}, "metrics": {}, "status": "PARTIAL",
               "message": "Trace exceeds maximum size of 10 bytes, a partial trace is returned"})
    );
    // Enums are also accepted as numbers.
    let decoded: TraceByIdResponse = serde_json::from_value(json!({"status": 1})).unwrap();
    assert_eq!(decoded.status(), PartialStatus::Partial);
    assert!(serde_json::from_value::<TraceByIdResponse>(json!({"status": "HALF"})).is_err());
}

#[test]
fn v1_trace_json_uses_batches() {
    let trace = fixture_trace();
    let json: Json = serde_json::from_slice(&trace_to_v1_json(&trace).unwrap()).unwrap();
    assert!(json.get("resourceSpans").is_none());
    let batches = json["batches"].as_array().unwrap();
    assert_eq!(
        batches[0]["scopeSpans"][0]["spans"][0]["spanId"],
        "7uGbfsPBsQA="
    );
    assert_eq!(
        trace_from_v1_json(json.to_string().as_bytes()).unwrap(),
        trace
    );
    let v2_shape = to_json(&trace).to_string();
    assert_eq!(trace_from_v1_json(v2_shape.as_bytes()).unwrap(), trace);
    assert_eq!(trace_to_v1_json(&Trace::default()).unwrap(), b"{}");
}

fn search_fixture() -> SearchResponse {
    let span_set = SpanSet {
        spans: vec![Span {
            span_id: "eee19b7ec3c1b100".into(),
            name: "I am a span!".into(),
            start_time_unix_nano: T0,
            duration_nanos: 1_000_000_000,
            attributes: vec![string_attr("my.span.attr", "some value")],
        }],
        matched: 2,
        attributes: vec![],
    };
    SearchResponse {
        traces: vec![TraceSearchMetadata {
            trace_id: "5b8efff798038103d269b633813fc700".into(),
            root_service_name: "my.service".into(),
            root_trace_name: "I am a span!".into(),
            start_time_unix_nano: T0,
            duration_ms: 1000,
            span_set: Some(span_set.clone()),
            span_sets: vec![span_set],
            service_stats: [(
                "my.service".to_owned(),
                ServiceStats {
                    span_count: 2,
                    error_count: 1,
                },
            )]
            .into(),
        }],
        metrics: Some(SearchMetrics {
            inspected_traces: 1,
            inspected_bytes: 4096,
            completed_jobs: 3,
            total_jobs: 3,
            ..Default::default()
        }),
    }
}

#[test]
fn search_response_json_matches_c14() {
    let expected_span_set = json!({
        "spans": [{
            "spanID": "eee19b7ec3c1b100",
            "name": "I am a span!",
            "startTimeUnixNano": T0.to_string(),
            "durationNanos": "1000000000",
            "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
        }],
        "matched": 2
    });
    let expected = json!({
        "traces": [{
            "traceID": "5b8efff798038103d269b633813fc700",
            "rootServiceName": "my.service",
            "rootTraceName": "I am a span!",
            "startTimeUnixNano": T0.to_string(),
            "durationMs": 1000,
            "spanSet": expected_span_set,
            "spanSets": [expected_span_set],
            "serviceStats": {"my.service": {"spanCount": 2, "errorCount": 1}}
        }],
        "metrics": {"inspectedTraces": 1, "inspectedBytes": "4096", "completedJobs": 3, "totalJobs": 3}
    });
    let response = search_fixture();
    assert_eq!(to_json(&response), expected);
    assert_eq!(
        serde_json::from_value::<SearchResponse>(expected).unwrap(),
        response
    );
}

#[test]
fn span_set_mirrors_the_first_span_set() {
    let mut metadata = TraceSearchMetadata::default();
    let first = SpanSet {
        matched: 2,
        ..Default::default()
    };
    metadata.set_span_sets(vec![
        first.clone(),
        SpanSet {
            matched: 1,
            ..Default::default()
        },
    ]);
    assert_eq!(metadata.span_set, Some(first));
    assert_eq!(metadata.span_sets.len(), 2);
    metadata.set_span_sets(vec![]);
    assert_eq!(metadata.span_set, None);
}

#[test]
fn zero_values_are_omitted() {
    let mut response = search_fixture();
    response.traces[0].duration_ms = 0;
    response.traces[0].root_trace_name.clear();
    response.traces[0].service_stats.clear();
    response.metrics = Some(SearchMetrics::default());
    let json = to_json(&response);
    let trace = json["traces"][0].as_object().unwrap();
    for absent in ["durationMs", "rootTraceName", "serviceStats"] {
        assert!(!trace.contains_key(absent), "{absent} in {trace:?}");
    }
    assert_eq!(json["metrics"], json!({}));
    assert_eq!(to_json(&SearchResponse::default()), json!({}));
    // Strict Grafana parsing: newer metrics fields never appear unless set.
    assert!(
        !json["metrics"]
            .as_object()
            .unwrap()
            .contains_key("backendReads")
    );
}

#[test]
fn lenient_input_like_jsonpb() {
    let metadata: TraceSearchMetadata = serde_json::from_value(json!({
        "traceID": "ab", "durationMs": "5", "startTimeUnixNano": 7, "rootServiceName": null, "spanSets": null
    }))
    .unwrap();
    assert_eq!(
        (metadata.duration_ms, metadata.start_time_unix_nano),
        (5, 7)
    );
    assert!(metadata.root_service_name.is_empty() && metadata.span_sets.is_empty());
    assert!(serde_json::from_value::<TraceSearchMetadata>(json!({"durationMs": -1})).is_err());
    assert!(
        serde_json::from_value::<TraceSearchMetadata>(json!({"startTimeUnixNano": "1.5"})).is_err()
    );
}

#[test]
fn additional_metrics_map_values_are_strings() {
    let metrics = SearchMetrics {
        additional_metrics: [("cacheHits".to_owned(), 124)].into(),
        ..Default::default()
    };
    let json = to_json(&metrics);
    assert_eq!(json, json!({"additionalMetrics": {"cacheHits": "124"}}));
    let decoded: SearchMetrics =
        serde_json::from_value(json!({"additionalMetrics": {"a": 5, "b": "-6"}})).unwrap();
    assert_eq!(decoded.additional_metrics.get("a"), Some(&5));
    assert_eq!(decoded.additional_metrics.get("b"), Some(&-6));
}

#[test]
fn query_range_json_matches_spec() {
    let response = QueryRangeResponse {
        series: vec![TimeSeries {
            labels: vec![string_attr("__name__", "count_over_time")],
            samples: vec![
                Sample {
                    value: 2.0,
                    timestamp_ms: 1_700_000_040_000,
                },
                Sample {
                    value: 0.0,
                    timestamp_ms: 1_700_000_100_000,
                },
                Sample {
                    value: f64::NAN,
                    timestamp_ms: 1_700_000_160_000,
                },
            ],
            exemplars: vec![Exemplar {
                labels: vec![string_attr("trace:id", "5b8efff798038103d269b633813fc700")],
                value: 0.31,
                timestamp_ms: 1_700_000_051_234,
            }],
        }],
        metrics: None,
        status: 0,
        message: String::new(),
    };
    let json = to_json(&response);
    assert_eq!(
        json,
        json!({"series": [{
            "labels": [{"key": "__name__", "value": {"stringValue": "count_over_time"}}],
            "samples": [
                {"value": 2.0, "timestampMs": "1700000040000"},
                {"timestampMs": "1700000100000"},
                {"value": "NaN", "timestampMs": "1700000160000"}
            ],
            "exemplars": [{
                "labels": [{"key": "trace:id", "value": {"stringValue": "5b8efff798038103d269b633813fc700"}}],
                "value": 0.31,
                "timestampMs": "1700000051234"
            }]
        }]})
    );
    let decoded: QueryRangeResponse = serde_json::from_value(json).unwrap();
    assert_eq!(decoded.series[0].samples[0], response.series[0].samples[0]);
    assert!(decoded.series[0].samples[2].value.is_nan());
    // The proto name `timestamp_ms` and numeric int64 are accepted on input.
    let sample: Sample =
        serde_json::from_value(json!({"timestamp_ms": 5, "value": "Infinity"})).unwrap();
    assert_eq!(sample.timestamp_ms, 5);
    assert_eq!(sample.value, f64::INFINITY);
}

#[test]
fn instant_and_tag_responses_match_spec() {
    let instant = QueryInstantResponse {
        series: vec![InstantSeries {
            labels: vec![string_attr("__name__", "count_over_time")],
            value: 2.0,
        }],
        ..Default::default()
    };
    assert_eq!(
        to_json(&instant),
        json!({"series": [{"labels": [{"key": "__name__", "value": {"stringValue": "count_over_time"}}], "value": 2.0}]})
    );
    let values = SearchTagValuesV2Response {
        tag_values: vec![TagValue {
            r#type: "int".into(),
            value: "200".into(),
        }],
        metrics: Some(MetadataMetrics {
            inspected_bytes: 10,
            total_jobs: 1,
            ..Default::default()
        }),
    };
    assert_eq!(
        to_json(&values),
        json!({"tagValues": [{"type": "int", "value": "200"}], "metrics": {"inspectedBytes": "10", "totalJobs": 1}})
    );
    let tags = SearchTagsV2Response {
        scopes: vec![SearchTagsV2Scope {
            name: "resource".into(),
            tags: vec!["service.name".into()],
        }],
        metrics: None,
    };
    assert_eq!(
        to_json(&tags),
        json!({"scopes": [{"name": "resource", "tags": ["service.name"]}]})
    );
    let v1 = SearchTagsResponse {
        tag_names: vec!["service.name".into()],
        metrics: None,
    };
    assert_eq!(to_json(&v1), json!({"tagNames": ["service.name"]}));
}

#[test]
fn request_json_uses_tempo_field_names() {
    let request = SearchRequest {
        tags: [("service.name".to_owned(), "x".to_owned())].into(),
        limit: 20,
        start: 100,
        end: 200,
        query: "{}".into(),
        spans_per_span_set: 3,
        ..Default::default()
    };
    assert_eq!(
        to_json(&request),
        json!({"Tags": {"service.name": "x"}, "Limit": 20, "start": 100, "end": 200, "Query": "{}", "SpansPerSpanSet": 3})
    );
    let range = QueryRangeRequest {
        query: "{} | rate()".into(),
        step: 60_000_000_000,
        instant: Some(false),
        ..Default::default()
    };
    assert_eq!(
        to_json(&range),
        json!({"query": "{} | rate()", "step": "60000000000", "instant": false})
    );
    let by_id = TraceByIdRequest {
        trace_id: TRACE_ID.to_vec(),
        ..Default::default()
    };
    assert_eq!(
        to_json(&by_id),
        json!({"traceID": "W47/95gDgQPSabYzgT/HAA=="})
    );
    // URL-safe, unpadded base64 and null fields are accepted on input.
    let decoded: TraceByIdRequest =
        serde_json::from_value(json!({"traceID": "W47_95gDgQPSabYzgT_HAA", "blockStart": null}))
            .unwrap();
    assert_eq!(decoded.trace_id, TRACE_ID);
}
