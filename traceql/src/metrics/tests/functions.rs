//! One test per first-stage function on hand-built spans (spec §10.2, §10.3).

use super::*;
use crate::metrics::MetricsPlan;

const MS: u64 = 1_000_000;

/// Five spans over three 60 s intervals: (T0, T0+60], (T0+60, T0+120], (T0+120, T0+180].
fn spans() -> Vec<TestSpan> {
    vec![
        span(1, T0 + 10 * SECOND, 100 * MS, "frontend").with("http.status_code", Value::Int(200)),
        // exactly at the end of interval 0: inside it
        span(1, T0 + 60 * SECOND, 1000 * MS, "frontend")
            .with("http.status_code", Value::string("200")),
        span(2, T0 + 70 * SECOND, 200 * MS, "cart"),
        // exactly at the window start: outside
        span(2, T0, 5000 * MS, "cart").with("http.status_code", Value::Int(404)),
        // exactly at the window end: in the last interval
        span(3, T0 + 180 * SECOND, 3 * MS, "cart").with("http.status_code", Value::Int(500)),
    ]
}

fn some(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().map(|value| Some(*value)).collect()
}

#[test]
fn count_over_time_and_rate() {
    let count = run("{ } | count_over_time()", range(3, 60), &spans());
    assert_eq!(keys(&count), ["{__name__=\"count_over_time\"}"]);
    assert_eq!(
        values(&count, "{__name__=\"count_over_time\"}"),
        some(&[2.0, 1.0, 1.0])
    );
    let rate = run("{ } | rate()", range(3, 60), &spans());
    assert_eq!(
        values(&rate, "{__name__=\"rate\"}"),
        some(&[2.0 / 60.0, 1.0 / 60.0, 1.0 / 60.0])
    );
    // instant: one interval [start, end], rate over the whole window (the span at T0 is in)
    let instant = TimeWindow::instant(T0, T0 + 180 * SECOND).unwrap();
    let rate = run("{ } | rate()", instant, &spans());
    assert_eq!(values(&rate, "{__name__=\"rate\"}"), some(&[5.0 / 180.0]));
}

#[test]
fn grouping_labels_follow_tempo() {
    let by_service = run(
        "{ } | count_over_time() by (resource.service.name)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        keys(&by_service),
        [
            "{resource.service.name=\"cart\"}",
            "{resource.service.name=\"frontend\"}"
        ]
    );
    // empty intervals of counts are 0
    assert_eq!(
        values(&by_service, "{resource.service.name=\"frontend\"}"),
        some(&[2.0, 0.0, 0.0])
    );
    assert_eq!(
        values(&by_service, "{resource.service.name=\"cart\"}"),
        some(&[0.0, 1.0, 1.0])
    );

    // typed values: int 200 and string "200" are different series; nil keeps the label as nil
    let by_code = run(
        "{ } | count_over_time() by (span.http.status_code)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        keys(&by_code),
        [
            "{span.http.status_code=\"200\"}",
            "{span.http.status_code=200}",
            "{span.http.status_code=500}",
            "{span.http.status_code=nil}",
        ]
    );
    assert_eq!(
        values(&by_code, "{span.http.status_code=nil}"),
        some(&[0.0, 1.0, 0.0])
    );

    // a nil value drops its label; unscoped `.x` keeps the dot
    let two = run(
        "{ } | count_over_time() by (resource.service.name, .http.status_code)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        keys(&two),
        [
            "{resource.service.name=\"cart\", .http.status_code=500}",
            "{resource.service.name=\"cart\"}",
            "{resource.service.name=\"frontend\", .http.status_code=\"200\"}",
            "{resource.service.name=\"frontend\", .http.status_code=200}",
        ]
    );
    // every value nil: the first label with nil
    let none = run(
        "{ } | rate() by (span.missing, span.other)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(keys(&none), ["{span.missing=nil}"]);
}

#[test]
fn grouping_by_intrinsics() {
    let spans = vec![
        span(1, T0 + 10 * SECOND, MS, "frontend")
            .root()
            .with_attribute(intrinsic(Intrinsic::Name), Value::string("GET /")),
        span(1, T0 + 20 * SECOND, MS, "cart")
            .with_attribute(intrinsic(Intrinsic::Name), Value::string("db")),
        span(2, T0 + 30 * SECOND, MS, "cart")
            .root()
            .with_attribute(intrinsic(Intrinsic::Name), Value::string("GET /")),
    ];
    let by_root = run(
        "{ } | count_over_time() by (rootServiceName)",
        range(1, 60),
        &spans,
    );
    assert_eq!(
        keys(&by_root),
        [
            "{rootServiceName=\"cart\"}",
            "{rootServiceName=\"frontend\"}"
        ]
    );
    assert_eq!(
        values(&by_root, "{rootServiceName=\"frontend\"}"),
        some(&[2.0])
    );
    let by_name = run(
        "{ } | count_over_time() by (span:name)",
        range(1, 60),
        &spans,
    );
    assert_eq!(keys(&by_name), ["{name=\"GET /\"}", "{name=\"db\"}"]);
    assert_eq!(values(&by_name, "{name=\"GET /\"}"), some(&[2.0]));
}

#[test]
fn min_max_sum_avg_over_duration() {
    let name = |function: &str| format!("{{__name__=\"{function}\"}}");
    let min = run("{ } | min_over_time(duration)", range(3, 60), &spans());
    assert_eq!(
        values(&min, &name("min_over_time")),
        some(&[0.1, 0.2, 0.003])
    );
    let max = run("{ } | max_over_time(duration)", range(3, 60), &spans());
    assert_eq!(
        values(&max, &name("max_over_time")),
        some(&[1.0, 0.2, 0.003])
    );
    let sum = run("{ } | sum_over_time(duration)", range(3, 60), &spans());
    assert_eq!(
        values(&sum, &name("sum_over_time")),
        some(&[1.1, 0.2, 0.003])
    );
    let avg = run("{ } | avg_over_time(duration)", range(3, 60), &spans());
    assert_eq!(
        values(&avg, &name("avg_over_time")),
        some(&[0.55, 0.2, 0.003])
    );
}

#[test]
fn over_time_of_an_attribute_ignores_missing_and_non_numeric_values() {
    let name = |function: &str| format!("{{__name__=\"{function}\"}}");
    // interval 0: 200 and the string "200" (not a number); interval 1: nil; interval 2: 500
    let min = run(
        "{ } | min_over_time(span.http.status_code)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        values(&min, &name("min_over_time")),
        vec![Some(200.0), None, Some(500.0)]
    );
    let sum = run(
        "{ } | sum_over_time(span.http.status_code)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        values(&sum, &name("sum_over_time")),
        vec![Some(200.0), None, Some(500.0)]
    );
    let avg = run(
        "{ } | avg_over_time(span.http.status_code) by (resource.service.name)",
        range(3, 60),
        &spans(),
    );
    assert_eq!(
        values(&avg, "{resource.service.name=\"frontend\"}"),
        vec![Some(200.0), None, None]
    );
    // a series whose values are all NaN is omitted
    let floats = vec![
        span(1, T0 + SECOND, MS, "a").with("ratio", Value::Float(0.25)),
        span(2, T0 + 2 * SECOND, MS, "a").with("ratio", Value::Float(0.5)),
        span(3, T0 + 3 * SECOND, MS, "b"),
    ];
    let avg = run(
        "{ } | avg_over_time(span.ratio) by (resource.service.name)",
        range(1, 60),
        &floats,
    );
    assert_eq!(keys(&avg), ["{resource.service.name=\"a\"}"]);
    assert_eq!(
        values(&avg, "{resource.service.name=\"a\"}"),
        some(&[0.375])
    );
}

/// Durations: three in the 2^27 ns bucket (100 ms → 0.134217728 s), one in 2^30 ns (1 s →
/// 1.073741824 s), one of 1 ns (not bucketed).
fn latency_spans() -> Vec<TestSpan> {
    vec![
        span(1, T0 + SECOND, 100 * MS, "api"),
        span(1, T0 + 2 * SECOND, 90 * MS, "api"),
        span(2, T0 + 3 * SECOND, 120 * MS, "api"),
        span(3, T0 + 4 * SECOND, 1000 * MS, "api"),
        span(3, T0 + 5 * SECOND, 1, "api"),
    ]
}

#[test]
fn histogram_over_time_counts_power_of_two_buckets() {
    let result = run(
        "{ } | histogram_over_time(duration)",
        range(1, 60),
        &latency_spans(),
    );
    assert_eq!(
        keys(&result),
        ["{__bucket=0.134217728}", "{__bucket=1.073741824}"]
    );
    assert_eq!(values(&result, "{__bucket=0.134217728}"), some(&[3.0]));
    assert_eq!(values(&result, "{__bucket=1.073741824}"), some(&[1.0]));
    let by = run(
        "{ } | histogram_over_time(duration) by (resource.service.name)",
        range(1, 60),
        &latency_spans(),
    );
    assert_eq!(
        keys(&by)[0],
        "{resource.service.name=\"api\", __bucket=0.134217728}"
    );
    // integer attributes bucket to the next power of two
    let ints = vec![
        span(1, T0 + SECOND, MS, "a").with("size", Value::Int(200)),
        span(2, T0 + SECOND, MS, "a").with("size", Value::Int(256)),
        span(3, T0 + SECOND, MS, "a").with("size", Value::Int(1)),
        span(4, T0 + SECOND, MS, "a").with("size", Value::Float(300.0)),
    ];
    let sizes = run("{ } | histogram_over_time(span.size)", range(1, 60), &ints);
    assert_eq!(keys(&sizes), ["{__bucket=256}"]);
    assert_eq!(values(&sizes, "{__bucket=256}"), some(&[2.0]));
}

#[test]
fn quantile_over_time_interpolates_log2_buckets() {
    let result = run(
        "{ } | quantile_over_time(duration, .5, .99, 1) by (resource.service.name)",
        range(1, 60),
        &latency_spans(),
    );
    assert_eq!(
        keys(&result),
        [
            "{resource.service.name=\"api\", p=0.5}",
            "{resource.service.name=\"api\", p=0.99}",
            "{resource.service.name=\"api\", p=1}",
        ]
    );
    // 4 bucketed samples. p50 covers ceil(0.5·4) = 2 samples: 2 of the 3 in the first bucket,
    // interpolated between 2^26 and 2^27 ns: 2^(26 + 2/3) ns.
    let p50 = 2f64.powf(26.0 + 2.0 / 3.0) / 1e9;
    let got = values(&result, "{resource.service.name=\"api\", p=0.5}")[0].unwrap();
    assert!((got - p50).abs() < 1e-12, "{got} vs {p50}");
    // p99 covers ceil(3.96) = 4 samples: the whole second bucket, its bound
    assert_eq!(
        values(&result, "{resource.service.name=\"api\", p=0.99}"),
        some(&[1.073741824])
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"api\", p=1}"),
        some(&[1.073741824])
    );
    // without by(), only the quantile label
    let plain = run(
        "{ } | quantile_over_time(duration, .99)",
        range(1, 60),
        &latency_spans(),
    );
    assert_eq!(keys(&plain), ["{p=0.99}"]);
}

#[test]
fn quantile_of_an_empty_interval_is_no_sample() {
    let spans = vec![span(1, T0 + SECOND, 100 * MS, "api")];
    let result = run(
        "{ } | quantile_over_time(duration, .5)",
        range(2, 60),
        &spans,
    );
    assert_eq!(values(&result, "{p=0.5}"), vec![Some(0.134217728), None]);
}

#[test]
fn sampling_hints_scale_counts_deterministically() {
    let many: Vec<TestSpan> = (0..2000u32)
        .map(|index| {
            let mut span = span(
                (index % 251) as u8,
                T0 + SECOND + u64::from(index) * MS,
                u64::from(index) + 7,
                "a",
            );
            span.span = (index / 251) as u8;
            span
        })
        .collect();
    let exact = run("{ } | count_over_time()", range(1, 60), &many);
    assert_eq!(
        values(&exact, "{__name__=\"count_over_time\"}"),
        some(&[2000.0])
    );
    let sampled = run(
        "{ } | count_over_time() with (span_sample=0.5)",
        range(1, 60),
        &many,
    );
    let estimate = values(&sampled, "{__name__=\"count_over_time\"}")[0].unwrap();
    assert_eq!(estimate % 2.0, 0.0, "counts are scaled by exactly 1/0.5");
    assert!((1600.0..=2400.0).contains(&estimate), "{estimate}");
    let again = run(
        "{ } | count_over_time() with (span_sample=0.5)",
        range(1, 60),
        &many,
    );
    assert_eq!(sampled.series, again.series, "sampling is deterministic");
    // min/max are never scaled
    let max = run(
        "{ } | max_over_time(duration) with (trace_sample=0.5)",
        range(1, 60),
        &many,
    );
    let top = values(&max, "{__name__=\"max_over_time\"}")[0].unwrap();
    assert!(top <= 2006e-9 && top > 1000e-9, "{top}");
    // sample=true (adaptive) answers exactly
    let adaptive = run(
        "{ } | count_over_time() with (sample=true)",
        range(1, 60),
        &many,
    );
    assert_eq!(
        values(&adaptive, "{__name__=\"count_over_time\"}"),
        some(&[2000.0])
    );
}

#[test]
fn exemplars_point_to_real_spans() {
    let plan = MetricsPlan::parse("{ } | count_over_time() by (resource.service.name)").unwrap();
    let mut request = request(range(3, 60));
    request.max_exemplars = 2;
    let spans = spans();
    let partial = job(&plan, &request, &[batch(&spans)]);
    let result = plan.evaluate(&request, &partial).unwrap();
    let cart = result
        .series
        .get("{resource.service.name=\"cart\"}")
        .unwrap();
    assert!(!cart.exemplars.is_empty());
    for exemplar in &cart.exemplars {
        let source = spans
            .iter()
            .find(|span| {
                trace_id(span.trace).to_hex_trimmed() == exemplar.trace_id
                    && span_id(span.trace, span.span).to_hex() == exemplar.span_id
                    && span.start / 1_000_000 == exemplar.timestamp_ms as u64
            })
            .unwrap_or_else(|| panic!("exemplar {exemplar:?} is not a span"));
        assert_eq!(source.service, "cart");
        // a counting function's exemplar sits on the series value of its interval
        let interval = request.window.interval_of(source.start).unwrap();
        assert_eq!(exemplar.value, cart.values[interval]);
    }
    assert!(cart.exemplars.len() <= 2);
    // exemplars=false in the query turns them off
    let hints = MetricsPlan::parse("{ } | rate() with (exemplars=false)")
        .unwrap()
        .hints;
    assert_eq!(hints.exemplar_limit(100, 100), 0);
    assert_eq!(
        MetricsPlan::parse("{ } | rate() with (exemplars=7)")
            .unwrap()
            .hints
            .exemplar_limit(100, 100),
        7
    );
    assert_eq!(
        MetricsPlan::parse("{ } | rate()")
            .unwrap()
            .hints
            .exemplar_limit(500, 100),
        100
    );
}

#[test]
fn series_cap_makes_the_answer_partial() {
    let spans: Vec<TestSpan> = (0..20u8)
        .map(|index| span(index, T0 + SECOND, MS, "a").with("user", Value::Int(i64::from(index))))
        .collect();
    let plan = MetricsPlan::parse("{ } | count_over_time() by (span.user)").unwrap();
    let mut request = request(range(1, 60));
    request.max_series = 5;
    let partial = job(&plan, &request, &[batch(&spans)]);
    let result = plan.evaluate(&request, &partial).unwrap();
    assert_eq!(result.series.series.len(), 5);
    assert!(result.series.truncated);
    let response = result.to_range_response();
    assert_eq!(
        response.status,
        contrail_proto::tempopb::PartialStatus::Partial as i32
    );
    assert!(
        response.message.contains("maximum of 5 series"),
        "{}",
        response.message
    );
    // quantiles count one series per quantile
    let plan =
        MetricsPlan::parse("{ } | quantile_over_time(duration, .5, .9) by (span.user)").unwrap();
    request.max_series = 6;
    let partial = job(&plan, &request, &[batch(&spans)]);
    let result = plan.evaluate(&request, &partial).unwrap();
    assert_eq!(result.series.series.len(), 6);
    assert!(result.series.truncated);
}
