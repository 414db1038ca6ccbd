//! `compare()` on a known split (spec §10.5).

use super::*;
use crate::metrics::MetricsPlan;

fn route_spans() -> Vec<(TestSpan, bool)> {
    let route = |trace: u8, service: &'static str, route: &str| {
        span(trace, T0 + u64::from(trace) * SECOND, 1_000, service)
            .with("route", Value::string(route))
    };
    // (span, matches the filter)
    vec![
        (route(1, "api", "/a"), true),
        (route(2, "api", "/a"), false),
        (route(3, "api", "/b"), false),
        (route(4, "db", "/c"), true),
        (route(5, "api", "/a"), false),
        (route(6, "db", "/d"), false),
    ]
}

fn run_compare(query: &str, spans: &[(TestSpan, bool)]) -> crate::metrics::MetricsResult {
    let plan = MetricsPlan::parse(query).unwrap();
    let window = TimeWindow::instant(T0, T0 + 60 * SECOND).unwrap();
    let request = request(window);
    let only: Vec<TestSpan> = spans.iter().map(|(span, _)| span.clone()).collect();
    let batch = batch(&only);
    // the batch keeps trace order, and every test trace has one span: rows follow `spans`
    let matches: Vec<bool> = spans.iter().map(|(_, matched)| *matched).collect();
    let mut accumulator = plan.accumulator(&request);
    accumulator
        .observe_compare(0, &SpanRows::all(&batch), &matches)
        .unwrap();
    assert!(accumulator.observe(0, &SpanRows::all(&batch)).is_err());
    let partial = accumulator.finish();
    plan.evaluate(&request, &partial).unwrap()
}

#[test]
fn compare_splits_selection_and_baseline_with_top_n() {
    let result = run_compare("{ } | compare({ status = error }, 2)", &route_spans());
    let expected: Vec<(&str, f64)> = vec![
        (
            "{__meta_error=\"__too_many_values__\", span.route=nil}",
            0.0,
        ),
        (
            "{__meta_type=\"baseline\", resource.service.name=\"api\"}",
            3.0,
        ),
        (
            "{__meta_type=\"baseline\", resource.service.name=\"db\"}",
            1.0,
        ),
        ("{__meta_type=\"baseline\", span.route=\"/a\"}", 2.0),
        // tie between /b and /d broken by label text
        ("{__meta_type=\"baseline\", span.route=\"/b\"}", 1.0),
        (
            "{__meta_type=\"baseline_total\", resource.service.name=nil}",
            4.0,
        ),
        ("{__meta_type=\"baseline_total\", span.route=nil}", 4.0),
        (
            "{__meta_type=\"selection\", resource.service.name=\"api\"}",
            1.0,
        ),
        (
            "{__meta_type=\"selection\", resource.service.name=\"db\"}",
            1.0,
        ),
        ("{__meta_type=\"selection\", span.route=\"/a\"}", 1.0),
        ("{__meta_type=\"selection\", span.route=\"/c\"}", 1.0),
        (
            "{__meta_type=\"selection_total\", resource.service.name=nil}",
            2.0,
        ),
        ("{__meta_type=\"selection_total\", span.route=nil}", 2.0),
    ];
    let got: Vec<(String, f64)> = result
        .series
        .series
        .iter()
        .map(|series| (series.key(), series.values[0]))
        .collect();
    let expected: Vec<(String, f64)> = expected
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    assert_eq!(got, expected);
    // the instant answer has every series; the error series has value 0 (no `value` key)
    let response = result.to_instant_response();
    assert_eq!(response.series.len(), 13);
}

#[test]
fn compare_window_limits_the_selection() {
    // only spans starting in [T0+1s, T0+2s) can be selected: trace 4 (db, /c) falls back to
    // the baseline
    let query = format!(
        "{{ }} | compare({{ status = error }}, 10, {}, {})",
        T0 + SECOND,
        T0 + 2 * SECOND
    );
    let result = run_compare(&query, &route_spans());
    assert_eq!(
        values(
            &result,
            "{__meta_type=\"selection_total\", resource.service.name=nil}"
        ),
        vec![Some(1.0)]
    );
    assert_eq!(
        values(
            &result,
            "{__meta_type=\"baseline\", resource.service.name=\"db\"}"
        ),
        vec![Some(2.0)]
    );
    assert!(
        keys(&result)
            .iter()
            .all(|key| !key.contains("__meta_error"))
    );
}

#[test]
fn compare_merges_exactly_across_partials() {
    let spans = route_spans();
    let plan = MetricsPlan::parse("{ } | compare({ status = error }, 1)").unwrap();
    let window = TimeWindow::instant(T0, T0 + 60 * SECOND).unwrap();
    let request = request(window);
    let whole = run_compare("{ } | compare({ status = error }, 1)", &spans);
    // one partial per span, merged in reverse
    let mut merged: Option<QueryPartial> = None;
    for (span, matched) in spans.iter().rev() {
        let batch = batch(std::slice::from_ref(span));
        let mut accumulator = plan.accumulator(&request);
        accumulator
            .observe_compare(0, &SpanRows::all(&batch), &[*matched])
            .unwrap();
        let partial = accumulator.finish();
        match &mut merged {
            Some(into) => into.merge(&partial).unwrap(),
            None => merged = Some(partial),
        }
    }
    let split = plan.evaluate(&request, &merged.unwrap()).unwrap();
    assert_eq!(split.series, whole.series);
}
