//! Wire-format checks for the `tempopb` messages: field numbers against the spec, byte identity
//! with OTLP, and every AnyValue kind through jsonpb.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::json;

use super::tests::{fixture_trace, int_attr, to_json};
use super::*;

#[test]
fn trace_is_wire_identical_to_otlp_traces_data() {
    let trace = fixture_trace();
    let bytes = trace.encode_to_vec();
    let traces_data = TracesData::decode(bytes.as_slice()).unwrap();
    assert_eq!(traces_data.resource_spans, trace.resource_spans);
    assert_eq!(
        Trace::decode(traces_data.encode_to_vec().as_slice()).unwrap(),
        trace
    );
}

/// The first tag byte of a one-field message: `(field_number << 3) | wire_type`.
fn first_tag<M: Message>(message: &M) -> u64 {
    let bytes = message.encode_to_vec();
    prost::encoding::decode_varint(&mut bytes.as_slice()).unwrap()
}

#[test]
fn field_numbers_match_spec() {
    const VARINT: u64 = 0;
    const LEN: u64 = 2;
    const FIXED64: u64 = 1;
    let tag = |field: u64, wire_type: u64| (field << 3) | wire_type;
    assert_eq!(
        first_tag(&SearchRequest {
            query: "{}".into(),
            ..Default::default()
        }),
        tag(8, LEN)
    );
    assert_eq!(
        first_tag(&SearchRequest {
            spans_per_span_set: 3,
            ..Default::default()
        }),
        tag(9, VARINT)
    );
    assert_eq!(
        first_tag(&SearchRequest {
            end: 3,
            ..Default::default()
        }),
        tag(6, VARINT)
    );
    assert_eq!(
        first_tag(&TraceSearchMetadata {
            duration_ms: 1,
            ..Default::default()
        }),
        tag(5, VARINT)
    );
    assert_eq!(
        first_tag(&TraceSearchMetadata {
            span_sets: vec![SpanSet::default()],
            ..Default::default()
        }),
        tag(7, LEN)
    );
    assert_eq!(
        first_tag(&TraceSearchMetadata {
            service_stats: [(String::new(), ServiceStats::default())].into(),
            ..Default::default()
        }),
        tag(8, LEN)
    );
    assert_eq!(
        first_tag(&SearchMetrics {
            inspected_spans: 1,
            ..Default::default()
        }),
        tag(7, VARINT)
    );
    assert_eq!(
        first_tag(&SearchMetrics {
            additional_metrics: [(String::new(), 1)].into(),
            ..Default::default()
        }),
        tag(10, LEN)
    );
    assert_eq!(
        first_tag(&SearchTagValuesRequest {
            start: 1,
            ..Default::default()
        }),
        tag(4, VARINT)
    );
    assert_eq!(
        first_tag(&SearchTagValuesRequest {
            stale_value_threshold: 1,
            ..Default::default()
        }),
        tag(7, VARINT)
    );
    assert_eq!(
        first_tag(&MetadataMetrics {
            total_block_bytes: 1,
            ..Default::default()
        }),
        tag(5, VARINT)
    );
    assert_eq!(
        first_tag(&QueryRangeRequest {
            block_id: "b".into(),
            ..Default::default()
        }),
        tag(8, LEN)
    );
    assert_eq!(
        first_tag(&QueryRangeRequest {
            exemplars: 1,
            ..Default::default()
        }),
        tag(16, VARINT)
    );
    assert_eq!(
        first_tag(&QueryRangeRequest {
            instant: Some(false),
            ..Default::default()
        }),
        tag(18, VARINT)
    );
    assert_eq!(
        first_tag(&QueryRangeRequest {
            skip_ast_transformations: vec![String::new()],
            ..Default::default()
        }),
        tag(19, LEN)
    );
    assert_eq!(
        first_tag(&TimeSeries {
            exemplars: vec![Exemplar::default()],
            ..Default::default()
        }),
        tag(4, LEN)
    );
    assert_eq!(
        first_tag(&Sample {
            value: 1.0,
            timestamp_ms: 0
        }),
        tag(1, FIXED64)
    );
    assert_eq!(
        first_tag(&Sample {
            value: 0.0,
            timestamp_ms: 1
        }),
        tag(2, VARINT)
    );
    assert_eq!(
        first_tag(&QueryInstantResponse {
            message: "m".into(),
            ..Default::default()
        }),
        tag(4, LEN)
    );
    assert_eq!(
        first_tag(&TraceByIdResponse {
            status: 1,
            ..Default::default()
        }),
        tag(3, VARINT)
    );
    assert_eq!(
        first_tag(&TraceByIdRequest {
            allow_partial_trace: true,
            ..Default::default()
        }),
        tag(6, VARINT)
    );
    assert_eq!(
        first_tag(&PushBytesRequest {
            skip_metrics_generation: true,
            ..Default::default()
        }),
        tag(5, VARINT)
    );
    assert_eq!(
        first_tag(&DedicatedColumn {
            options: 2,
            ..Default::default()
        }),
        tag(4, VARINT)
    );
}

#[test]
fn all_any_value_kinds_round_trip_through_jsonpb() {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    let any = |value| Some(AnyValue { value: Some(value) });
    let attributes = vec![
        KeyValue {
            key: "s".into(),
            value: any(Value::StringValue(String::new())),
            key_strindex: 0,
        },
        KeyValue {
            key: "b".into(),
            value: any(Value::BoolValue(false)),
            key_strindex: 0,
        },
        KeyValue {
            key: "i".into(),
            value: any(Value::IntValue(-9_007_199_254_740_993)),
            key_strindex: 0,
        },
        KeyValue {
            key: "d".into(),
            value: any(Value::DoubleValue(-0.5)),
            key_strindex: 0,
        },
        KeyValue {
            key: "by".into(),
            value: any(Value::BytesValue(vec![0xff, 0x00])),
            key_strindex: 0,
        },
        KeyValue {
            key: "a".into(),
            value: any(Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1)),
                    },
                    AnyValue::default(),
                ],
            })),
            key_strindex: 0,
        },
        KeyValue {
            key: "kv".into(),
            value: any(Value::KvlistValue(KeyValueList {
                values: vec![int_attr("n", 2)],
            })),
            key_strindex: 0,
        },
        KeyValue {
            key: "empty".into(),
            value: None,
            key_strindex: 0,
        },
    ];
    let set = SpanSet {
        attributes,
        ..Default::default()
    };
    let json = to_json(&set);
    assert_eq!(
        json,
        json!({"attributes": [
            {"key": "s", "value": {"stringValue": ""}},
            {"key": "b", "value": {"boolValue": false}},
            {"key": "i", "value": {"intValue": "-9007199254740993"}},
            {"key": "d", "value": {"doubleValue": -0.5}},
            {"key": "by", "value": {"bytesValue": "/wA="}},
            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}, {}]}}},
            {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "2"}}]}}},
            {"key": "empty"}
        ]})
    );
    assert_eq!(serde_json::from_value::<SpanSet>(json).unwrap(), set);
}
