//! The answer as Tempo's `SearchResponse` (../shared/spec/tempo-api.md §4.6, traceql.md §9):
//! trace IDs trimmed hex, `<root span not yet received>` for an unknown root, `durationMs`
//! truncated, spans per spanset capped at `spss` (0 = all) with `matched` counting them all,
//! span attributes keyed by their bare name with intrinsics as strings and durations as Go
//! duration strings.

use contrail_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use contrail_proto::tempopb;

use crate::search::result::TraceResult;
use crate::value::{Value, format_go_duration};

/// What Tempo shows when the root span of a trace is unknown.
pub const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";

fn any_value(value: &Value) -> Option<any_value::Value> {
    Some(match value {
        Value::Nil => return None,
        Value::Bool(value) => any_value::Value::BoolValue(*value),
        Value::Int(value) => any_value::Value::IntValue(*value),
        Value::Float(value) => any_value::Value::DoubleValue(*value),
        Value::String(text) => any_value::Value::StringValue(text.to_string()),
        Value::Duration(nanos) => any_value::Value::StringValue(format_go_duration(*nanos)),
        Value::Status(_) | Value::Kind(_) => any_value::Value::StringValue(value.to_string()),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items
                .iter()
                .map(|item| AnyValue {
                    value: any_value(item),
                })
                .collect(),
        }),
    })
}

/// `key: value` as an OTLP `KeyValue`.
pub fn key_value(key: &str, value: &Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: any_value(value),
        }),
        ..Default::default()
    }
}

/// One trace of the response.
pub fn trace_metadata(
    result: &TraceResult,
    spans_per_spanset: usize,
) -> tempopb::TraceSearchMetadata {
    let span_sets = result
        .spansets
        .iter()
        .map(|set| {
            let shown = if spans_per_spanset == 0 {
                set.spans.len()
            } else {
                spans_per_spanset.min(set.spans.len())
            };
            tempopb::SpanSet {
                spans: set.spans[..shown]
                    .iter()
                    .map(|span| tempopb::Span {
                        span_id: span.span_id.to_hex(),
                        name: span.name.as_deref().unwrap_or_default().to_owned(),
                        start_time_unix_nano: span.start_unix_nano,
                        duration_nanos: span.duration_nano,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|(key, value)| key_value(key, value))
                            .collect(),
                    })
                    .collect(),
                matched: set.spans.len() as u32,
                attributes: set
                    .attributes
                    .iter()
                    .map(|(key, value)| key_value(key, value))
                    .collect(),
            }
        })
        .collect();
    let duration_nanos = result.end_unix_nano.saturating_sub(result.start_unix_nano);
    let mut metadata = tempopb::TraceSearchMetadata {
        trace_id: result.trace_id.to_hex_trimmed(),
        root_service_name: result
            .root_service_name
            .as_deref()
            .unwrap_or(ROOT_NOT_RECEIVED)
            .to_owned(),
        root_trace_name: result
            .root_span_name
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        start_time_unix_nano: result.start_unix_nano,
        duration_ms: u32::try_from(duration_nanos / 1_000_000).unwrap_or(u32::MAX),
        service_stats: result
            .service_stats
            .iter()
            .map(|stats| {
                (
                    stats.service_name.to_string(),
                    tempopb::ServiceStats {
                        span_count: stats.span_count,
                        error_count: stats.error_count,
                    },
                )
            })
            .collect(),
        ..Default::default()
    };
    metadata.set_span_sets(span_sets);
    metadata
}
