//! Spec §9 fixture F through the public API: OTLP/HTTP JSON in (hex IDs), Tempo query JSON and
//! protobuf out (base64 IDs, enum names), search-result IDs as hex.

use contrail_proto::otlp::trace::v1::span::SpanKind;
use contrail_proto::otlp::trace::v1::status::StatusCode;
use contrail_proto::otlp_json::decode_export_request_json;
use contrail_proto::tempopb::{self, PartialStatus, Trace, TraceByIdResponse};
use contrail_proto::{SpanId, TraceId};
use prost::Message;
use serde_json::Value;

const T0: u64 = 1_700_000_000_000_000_000;

fn fixture_json() -> String {
    format!(
        r#"{{"resourceSpans":[{{
            "resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"my.service"}}}}]}},
            "scopeSpans":[{{
                "scope":{{"name":"my.library","version":"1.0.0"}},
                "spans":[
                    {{"traceId":"5B8EFFF798038103D269B633813FC700","spanId":"EEE19B7EC3C1B100",
                      "name":"I am a span!","kind":2,
                      "startTimeUnixNano":"{t0}","endTimeUnixNano":"{t1}",
                      "attributes":[{{"key":"my.span.attr","value":{{"stringValue":"some value"}}}},
                                    {{"key":"http.status_code","value":{{"intValue":200}}}}],
                      "status":{{"code":2,"message":"boom"}}}},
                    {{"traceId":"5B8EFFF798038103D269B633813FC700","spanId":"EEE19B7EC3C1B101",
                      "parentSpanId":"EEE19B7EC3C1B100","name":"child","kind":3,
                      "startTimeUnixNano":"{t2}","endTimeUnixNano":"{t3}",
                      "attributes":[{{"key":"db.system","value":{{"stringValue":"postgres"}}}}],
                      "events":[{{"timeUnixNano":"{t4}","name":"retry"}}]}}
                ]}}]}}]}}"#,
        t0 = T0,
        t1 = T0 + 1_000_000_000,
        t2 = T0 + 100_000_000,
        t3 = T0 + 300_000_000,
        t4 = T0 + 150_000_000,
    )
}

fn fixture_trace() -> Trace {
    Trace::from(decode_export_request_json(fixture_json().as_bytes()).unwrap())
}

#[test]
fn c5_protobuf_trace_by_id_response() {
    let response = TraceByIdResponse {
        trace: Some(fixture_trace()),
        ..Default::default()
    };
    let decoded = TraceByIdResponse::decode(response.encode_to_vec().as_slice()).unwrap();
    assert_ne!(decoded.status(), PartialStatus::Partial);
    let trace = decoded.trace.unwrap();
    assert_eq!(trace.span_count(), 2);
    let spans = &trace.resource_spans[0].scope_spans[0].spans;
    assert_eq!(
        TraceId::from_bytes(&spans[0].trace_id).unwrap().to_hex(),
        "5b8efff798038103d269b633813fc700"
    );
    assert_eq!(spans[0].kind(), SpanKind::Server);
    assert_eq!(spans[0].status.as_ref().unwrap().code(), StatusCode::Error);
    assert_eq!(spans[1].parent_span_id, spans[0].span_id);
    assert_eq!(spans[1].events[0].name, "retry");
}

#[test]
fn c6_json_trace_by_id_response() {
    let response = TraceByIdResponse {
        trace: Some(fixture_trace()),
        ..Default::default()
    };
    let json: Value = serde_json::to_value(&response).unwrap();
    let span = &json["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "W47/95gDgQPSabYzgT/HAA==");
    assert_eq!(span["spanId"], "7uGbfsPBsQA=");
    assert_eq!(span["kind"], "SPAN_KIND_SERVER");
    assert_eq!(span["startTimeUnixNano"], T0.to_string());
    assert_eq!(
        span["attributes"][1]["value"],
        serde_json::json!({"intValue": "200"})
    );
    assert_eq!(
        json["trace"]["resourceSpans"][0]["scopeSpans"][0]["scope"],
        serde_json::json!({"name": "my.library", "version": "1.0.0"})
    );
    let child = &json["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    assert_eq!(child["spanId"], "7uGbfsPBsQE=");
}

#[test]
fn c8_v1_json_uses_batches() {
    let json: Value =
        serde_json::from_slice(&tempopb::trace_to_v1_json(&fixture_trace()).unwrap()).unwrap();
    assert!(json["batches"].is_array());
    assert!(json.get("resourceSpans").is_none());
}

#[test]
fn c14_search_ids_are_hex() {
    let trace = fixture_trace();
    let span = &trace.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        TraceId::from_bytes(&span.trace_id)
            .unwrap()
            .to_hex_trimmed(),
        "5b8efff798038103d269b633813fc700"
    );
    assert_eq!(
        SpanId::from_bytes(&span.span_id).unwrap().to_hex(),
        "eee19b7ec3c1b100"
    );
}
