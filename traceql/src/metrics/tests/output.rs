//! The `tempopb` answers and their JSON (spec tempo-api.md §4.11, §4.12).

use serde_json::json;

use super::*;
use crate::metrics::MetricsPlan;

#[test]
fn range_response_json_matches_the_spec() {
    let spans = vec![
        span(1, T0 + 10 * SECOND, 1_000, "frontend"),
        span(2, T0 + 130 * SECOND, 1_000, "frontend"),
    ];
    let result = run(
        "{ } | count_over_time() by (resource.service.name)",
        range(3, 60),
        &spans,
    );
    let json = serde_json::to_value(result.to_range_response()).unwrap();
    let ms = |seconds: u64| ((T0 + seconds * SECOND) / 1_000_000).to_string();
    assert_eq!(
        json,
        json!({
            "series": [{
                "labels": [{"key": "resource.service.name", "value": {"stringValue": "frontend"}}],
                "samples": [
                    {"value": 1.0, "timestampMs": ms(60)},
                    {"timestampMs": ms(120)},
                    {"value": 1.0, "timestampMs": ms(180)}
                ]
            }],
            "metrics": {"inspectedSpans": "2"}
        })
    );
}

#[test]
fn nan_samples_and_empty_series_are_omitted() {
    let spans = vec![
        span(1, T0 + 10 * SECOND, 1_000, "a").with("x", Value::Int(3)),
        span(2, T0 + 100 * SECOND, 1_000, "b"),
    ];
    let result = run(
        "{ } | min_over_time(span.x) by (resource.service.name)",
        range(2, 60),
        &spans,
    );
    let response = result.to_range_response();
    assert_eq!(response.series.len(), 1);
    assert_eq!(response.series[0].samples.len(), 1);
    assert_eq!(response.series[0].samples[0].value, 3.0);
}

#[test]
fn instant_response_has_one_value_per_series_and_typed_labels() {
    let spans = vec![
        span(1, T0 + 10 * SECOND, 1_000, "a").with("code", Value::Int(200)),
        span(2, T0 + 20 * SECOND, 1_000, "a").with("code", Value::Int(200)),
        span(3, T0 + 30 * SECOND, 100_000_000, "a").with("ok", Value::Bool(true)),
    ];
    let window = TimeWindow::instant(T0, T0 + 60 * SECOND).unwrap();
    let result = run("{ } | count_over_time() by (span.code)", window, &spans);
    let json = serde_json::to_value(result.to_instant_response()).unwrap();
    assert_eq!(
        json["series"],
        json!([
            {"labels": [{"key": "span.code", "value": {"intValue": "200"}}], "value": 2.0},
            {"labels": [{"key": "span.code", "value": {"stringValue": "nil"}}], "value": 1.0}
        ])
    );
    let result = run(
        "{ } | quantile_over_time(duration, .9) by (span.ok)",
        window,
        &spans,
    );
    let json = serde_json::to_value(result.to_instant_response()).unwrap();
    assert_eq!(
        json["series"][1]["labels"],
        json!([
            {"key": "span.ok", "value": {"boolValue": true}},
            {"key": "p", "value": {"doubleValue": 0.9}}
        ])
    );
}

#[test]
fn exemplars_are_labelled_with_trace_and_span_ids() {
    let plan = MetricsPlan::parse("{ } | max_over_time(duration)").unwrap();
    let mut request = request(range(1, 60));
    request.max_exemplars = 1;
    let spans = vec![span(9, T0 + 10 * SECOND, 2 * SECOND, "a")];
    let partial = job(&plan, &request, &[batch(&spans)]);
    let result = plan.evaluate(&request, &partial).unwrap();
    let json = serde_json::to_value(result.to_range_response()).unwrap();
    assert_eq!(
        json["series"][0]["exemplars"],
        json!([{
            "labels": [
                {"key": "trace:id", "value": {"stringValue": trace_id(9).to_hex_trimmed()}},
                {"key": "span:id", "value": {"stringValue": span_id(9, 0).to_hex()}}
            ],
            "value": 2.0,
            "timestampMs": ((T0 + 10 * SECOND) / 1_000_000).to_string()
        }])
    );
}
