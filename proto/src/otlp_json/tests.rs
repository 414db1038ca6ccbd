use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::{ErrorCode, SpanId, TraceId};

/// Fixture F of spec §9 as an OTel SDK would send it, extended with every AnyValue kind, a link
/// and an event with attributes.
fn realistic_payload() -> Value {
    serde_json::from_str(REALISTIC_PAYLOAD).unwrap()
}

const REALISTIC_PAYLOAD: &str = r#"{"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "my.service"}},
            {"key": "host.cores", "value": {"intValue": 8}},
            {"key": "process.pid", "value": {"intValue": "4242"}}
        ], "droppedAttributesCount": 0},
        "scopeSpans": [{
            "scope": {"name": "my.library", "version": "1.0.0", "attributes": [{"key": "lib", "value": {"boolValue": true}}]},
            "spans": [
                {
                    "traceId": "5B8EFFF798038103D269B633813FC700",
                    "spanId": "EEE19B7EC3C1B100",
                    "parentSpanId": "",
                    "traceState": "vendor=1",
                    "flags": 257,
                    "name": "I am a span!",
                    "kind": 2,
                    "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": 1700000001000000000,
                    "attributes": [
                        {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                        {"key": "http.status_code", "value": {"intValue": 200}},
                        {"key": "ratio", "value": {"doubleValue": 0.25}},
                        {"key": "ok", "value": {"boolValue": false}},
                        {"key": "raw", "value": {"bytesValue": "/wA="}},
                        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {"doubleValue": 1.5}]}}},
                        {"key": "nested", "value": {"kvlistValue": {"values": [
                            {"key": "inner", "value": {"kvlistValue": {"values": [{"key": "deep", "value": {"boolValue": true}}]}}}
                        ]}}},
                        {"key": "big", "value": {"intValue": "-9223372036854775808"}}
                    ],
                    "links": [{
                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                        "spanId": "b7ad6b7169203331",
                        "attributes": [{"key": "link.kind", "value": {"stringValue": "follows"}}],
                        "flags": 1
                    }],
                    "status": {"code": 2, "message": "boom"}
                },
                {
                    "traceId": "5b8efff798038103d269b633813fc700",
                    "spanId": "eee19b7ec3c1b101",
                    "parentSpanId": "eee19b7ec3c1b100",
                    "name": "child",
                    "kind": 3,
                    "startTimeUnixNano": "1700000000100000000",
                    "endTimeUnixNano": "1700000000300000000",
                    "attributes": [{"key": "db.system", "value": {"stringValue": "postgres"}}],
                    "events": [{
                        "timeUnixNano": "1700000000150000000",
                        "name": "retry",
                        "attributes": [{"key": "attempt", "value": {"intValue": "2"}}]
                    }],
                    "status": {}
                }
            ]
        }]
    }]}"#;

fn decode(value: &Value) -> ExportTraceServiceRequest {
    decode_export_request_json(value.to_string().as_bytes()).unwrap()
}

#[test]
fn decodes_a_realistic_payload() {
    let request = decode(&realistic_payload());
    let resource_spans = &request.resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    assert_eq!(
        resource.attributes[1].value.as_ref().unwrap().value,
        Some(Any::IntValue(8))
    );
    assert_eq!(
        resource.attributes[2].value.as_ref().unwrap().value,
        Some(Any::IntValue(4242))
    );
    let spans = &resource_spans.scope_spans[0].spans;
    let s1 = &spans[0];
    assert_eq!(
        TraceId::from_bytes(&s1.trace_id).unwrap().to_hex(),
        "5b8efff798038103d269b633813fc700"
    );
    assert_eq!(
        SpanId::from_bytes(&s1.span_id).unwrap().to_hex(),
        "eee19b7ec3c1b100"
    );
    assert!(s1.parent_span_id.is_empty());
    assert_eq!(
        (s1.kind(), s1.flags, s1.trace_state.as_str()),
        (SpanKind::Server, 257, "vendor=1")
    );
    assert_eq!(s1.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(s1.end_time_unix_nano, 1_700_000_001_000_000_000);
    let values: Vec<_> = s1
        .attributes
        .iter()
        .map(|kv| kv.value.as_ref().unwrap().value.clone().unwrap())
        .collect();
    assert_eq!(values[1], Any::IntValue(200));
    assert_eq!(values[2], Any::DoubleValue(0.25));
    assert_eq!(values[3], Any::BoolValue(false));
    assert_eq!(values[4], Any::BytesValue(vec![0xff, 0x00]));
    let Any::ArrayValue(array) = &values[5] else {
        panic!("{:?}", values[5])
    };
    assert_eq!(array.values.len(), 3);
    let Any::KvlistValue(list) = &values[6] else {
        panic!("{:?}", values[6])
    };
    assert_eq!(list.values[0].key, "inner");
    assert_eq!(values[7], Any::IntValue(i64::MIN));
    assert_eq!(
        s1.links[0].span_id,
        [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
    );
    assert_eq!(s1.links[0].flags, 1);
    assert_eq!(s1.status.as_ref().unwrap().code(), StatusCode::Error);
    let s2 = &spans[1];
    assert_eq!(s2.parent_span_id, s1.span_id);
    assert_eq!(s2.events[0].name, "retry");
    assert_eq!(
        s2.events[0].attributes[0].value.as_ref().unwrap().value,
        Some(Any::IntValue(2))
    );
}

#[test]
fn encode_then_decode_round_trips() {
    let request = decode(&realistic_payload());
    let encoded = encode_export_request_json(&request).unwrap();
    assert_eq!(decode_export_request_json(&encoded).unwrap(), request);
    let json: Value = serde_json::from_slice(&encoded).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc700");
    assert_eq!(span["spanId"], "eee19b7ec3c1b100");
    assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
    assert_eq!(span["attributes"][1]["value"], json!({"intValue": "200"}));
    assert!(
        !encoded.windows(4).any(|window| window == b"null"),
        "{}",
        String::from_utf8_lossy(&encoded)
    );
}

#[test]
fn accepts_snake_case_enum_names_nulls_and_empty_lists() {
    let request = decode(&json!({"resource_spans": [{
        "resource": null,
        "scope_spans": [{"spans": [{
            "trace_id": "5b8efff798038103d269b633813fc700",
            "span_id": "eee19b7ec3c1b100",
            "kind": "SPAN_KIND_CONSUMER",
            "start_time_unix_nano": "5",
            "attributes": [
                {"key": "empty.array", "value": {"array_value": {}}},
                {"key": "empty.list", "value": {"kvlistValue": {}}},
                {"key": "nothing", "value": null},
                {"key": "quoted.double", "value": {"doubleValue": "2.5"}}
            ],
            "events": null,
            "dropped_attributes_count": "3",
            "flags": "256",
            "status": {"code": "STATUS_CODE_OK", "message": null}
        }]}]
    }]}));
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        SpanId::from_bytes(&span.span_id).unwrap().to_hex(),
        "eee19b7ec3c1b100"
    );
    assert_eq!(span.kind(), SpanKind::Consumer);
    assert_eq!(span.start_time_unix_nano, 5);
    assert_eq!((span.dropped_attributes_count, span.flags), (3, 256));
    assert_eq!(span.status.as_ref().unwrap().code(), StatusCode::Ok);
    let Some(Any::ArrayValue(array)) = &span.attributes[0].value.as_ref().unwrap().value else {
        panic!()
    };
    assert!(array.values.is_empty());
    let Some(Any::KvlistValue(list)) = &span.attributes[1].value.as_ref().unwrap().value else {
        panic!()
    };
    assert!(list.values.is_empty());
    assert_eq!(
        span.attributes[2],
        KeyValue {
            key: "nothing".into(),
            value: None,
            key_strindex: 0
        }
    );
    assert_eq!(
        span.attributes[3].value,
        Some(AnyValue {
            value: Some(Any::DoubleValue(2.5))
        })
    );
}

#[test]
fn attribute_keys_with_underscores_are_untouched() {
    let request = decode(&json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "attributes": [{"key": "my_attr", "value": {"kvlistValue": {"values": [{"key": "kind", "value": {"stringValue": "SPAN_KIND_SERVER"}}]}}}]
    }]}]}]}));
    let attribute = &request.resource_spans[0].scope_spans[0].spans[0].attributes[0];
    assert_eq!(attribute.key, "my_attr");
    let Some(Any::KvlistValue(list)) = &attribute.value.as_ref().unwrap().value else {
        panic!()
    };
    assert_eq!(list.values[0].key, "kind");
    assert_eq!(
        list.values[0].value.as_ref().unwrap().value,
        Some(Any::StringValue("SPAN_KIND_SERVER".into()))
    );
}

#[test]
fn rejects_bad_payloads_with_bad_request() {
    let cases = [
        (
            json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SPAN_KIND_BOGUS"}]}]}]}),
            "unknown kind value",
        ),
        (
            json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}),
            "invalid OTLP/JSON payload",
        ),
        (
            json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"flags": "lots"}]}]}]}),
            "flags value \"lots\"",
        ),
        (
            json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "x", "value": {"doubleValue": "NaN"}}]}]}]}]}),
            "doubleValue value \"NaN\"",
        ),
        (
            json!({"resourceSpans": "nope"}),
            "invalid OTLP/JSON payload",
        ),
    ];
    for (payload, expected) in cases {
        let error = decode_export_request_json(payload.to_string().as_bytes()).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(error.code(), ErrorCode::BadRequest);
    }
    assert!(decode_export_request_json(b"{not json").is_err());
    assert_eq!(
        decode_export_request_json(b"{}").unwrap(),
        ExportTraceServiceRequest::default()
    );
}

#[test]
fn response_encodes_as_empty_object_or_partial_success() {
    assert_eq!(
        encode_export_response_json(&ExportTraceServiceResponse::default()).unwrap(),
        b"{}"
    );
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "span ids must be 64 bit".into(),
        }),
    };
    let json: Value =
        serde_json::from_slice(&encode_export_response_json(&partial).unwrap()).unwrap();
    assert_eq!(
        json["partialSuccess"]["errorMessage"],
        "span ids must be 64 bit"
    );
    let rejected = &json["partialSuccess"]["rejectedSpans"];
    assert!(
        rejected == &json!(2) || rejected == &json!("2"),
        "{rejected}"
    );
}

#[test]
fn non_finite_doubles_are_an_error_when_encoding() {
    let mut request = decode(&realistic_payload());
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.attributes[2].value = Some(AnyValue {
        value: Some(Any::DoubleValue(f64::INFINITY)),
    });
    let error = encode_export_request_json(&request).unwrap_err();
    assert!(error.to_string().contains("doubleValue"), "{error}");
}

mod round_trip {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;

    use super::super::*;

    fn attribute() -> impl Strategy<Value = KeyValue> {
        let value = prop_oneof![
            any::<String>().prop_map(Any::StringValue),
            any::<bool>().prop_map(Any::BoolValue),
            any::<i64>().prop_map(Any::IntValue),
            any::<f64>()
                .prop_filter("finite", |number| number.is_finite())
                .prop_map(Any::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Any::BytesValue),
        ];
        (any::<String>(), value).prop_map(|(key, value)| KeyValue {
            key,
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        })
    }

    prop_compose! {
        fn span()(
            trace_id in proptest::collection::vec(any::<u8>(), 16),
            span_id in proptest::collection::vec(any::<u8>(), 8),
            parent_span_id in proptest::collection::vec(any::<u8>(), 0..=8),
            name in any::<String>(),
            kind in 0i32..6,
            times in any::<(u64, u64, u64)>(),
            attributes in proptest::collection::vec(attribute(), 0..4),
            code in 0i32..3,
        ) -> Span {
            Span {
                trace_id: trace_id.clone(),
                span_id,
                parent_span_id,
                name,
                kind,
                start_time_unix_nano: times.0,
                end_time_unix_nano: times.1,
                attributes: attributes.clone(),
                events: vec![Event { time_unix_nano: times.2, name: "e".into(), attributes: attributes.clone(), dropped_attributes_count: 1 }],
                links: vec![Link { trace_id, span_id: vec![9; 8], attributes, ..Default::default() }],
                status: Some(Status { code, message: String::new() }),
                ..Default::default()
            }
        }
    }

    proptest! {
        #[test]
        fn encode_decode_is_identity(spans in proptest::collection::vec(span(), 0..4)) {
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }],
            };
            let encoded = encode_export_request_json(&request).unwrap();
            prop_assert_eq!(decode_export_request_json(&encoded).unwrap(), request);
        }
    }
}
