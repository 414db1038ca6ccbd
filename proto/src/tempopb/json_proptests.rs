//! Property tests: every value survives a `jsonpb` JSON round trip, including 64-bit integers
//! beyond 2^53, non-finite doubles, unknown enum numbers and arbitrary bytes.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};
use proptest::prelude::*;

use super::*;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let json = serde_json::to_string(value).unwrap();
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("{error}: {json}"))
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        any::<f64>()
            .prop_filter("NaN != NaN", |number| !number.is_nan())
            .prop_map(Value::DoubleValue),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::BytesValue),
    ];
    leaf.prop_map(|value| AnyValue { value: Some(value) })
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    (any::<String>(), proptest::option::of(any_value())).prop_map(|(key, value)| KeyValue {
        key,
        value,
        key_strindex: 0,
    })
}

prop_compose! {
    fn otlp_span()(
        trace_id in proptest::collection::vec(any::<u8>(), 16),
        span_id in proptest::collection::vec(any::<u8>(), 8),
        parent_span_id in proptest::collection::vec(any::<u8>(), 0..=8),
        name in any::<String>(),
        kind in 0i32..8,
        start_time_unix_nano in any::<u64>(),
        end_time_unix_nano in any::<u64>(),
        flags in any::<u32>(),
        attributes in proptest::collection::vec(key_value(), 0..4),
        code in 0i32..5,
        message in any::<String>(),
    ) -> OtlpSpan {
        OtlpSpan {
            trace_id, span_id, parent_span_id, name, kind, start_time_unix_nano, end_time_unix_nano, flags, attributes,
            status: Some(Status { code, message }),
            ..Default::default()
        }
    }
}

proptest! {
    #[test]
    fn search_metrics_round_trip(
        counters in any::<(u32, u64, u32, u32, u32, u64, u64, u64, u64)>(),
        additional in proptest::collection::btree_map(any::<String>(), any::<i64>(), 0..4),
    ) {
        let metrics = SearchMetrics {
            inspected_traces: counters.0,
            inspected_bytes: counters.1,
            total_blocks: counters.2,
            completed_jobs: counters.3,
            total_jobs: counters.4,
            total_block_bytes: counters.5,
            inspected_spans: counters.6,
            backend_reads: counters.7,
            backend_bytes: counters.8,
            additional_metrics: additional,
        };
        prop_assert_eq!(round_trip(&metrics), metrics);
    }

    #[test]
    fn samples_round_trip(value in any::<f64>(), timestamp_ms in any::<i64>()) {
        let sample = Sample { value, timestamp_ms };
        let decoded = round_trip(&sample);
        prop_assert_eq!(decoded.timestamp_ms, timestamp_ms);
        prop_assert!(decoded.value == value || (value.is_nan() && decoded.value.is_nan()));
    }

    #[test]
    fn search_metadata_round_trips(
        trace_id in "[0-9a-f]{1,32}",
        root_service_name in any::<String>(),
        start_time_unix_nano in any::<u64>(),
        duration_ms in any::<u32>(),
        duration_nanos in any::<u64>(),
        attributes in proptest::collection::vec(key_value(), 0..4),
    ) {
        let span_set = SpanSet {
            spans: vec![Span { span_id: "0102030405060708".into(), duration_nanos, attributes, ..Default::default() }],
            matched: 1,
            attributes: vec![],
        };
        let metadata = TraceSearchMetadata {
            trace_id, root_service_name, start_time_unix_nano, duration_ms,
            span_set: Some(span_set.clone()),
            span_sets: vec![span_set],
            ..Default::default()
        };
        prop_assert_eq!(round_trip(&metadata), metadata);
    }

    #[test]
    fn otlp_spans_round_trip(spans in proptest::collection::vec(otlp_span(), 0..4)) {
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        };
        prop_assert_eq!(round_trip(&trace), trace);
    }
}
