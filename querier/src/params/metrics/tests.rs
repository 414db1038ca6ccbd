//! Metrics parameters: Tempo's time forms, durations and steps; windows resolved at the clock
//! with the defaults and limits of spec §4.11.

use std::time::Duration;

use super::*;

const NOW: u64 = 1_700_000_100 * NANOS_PER_SECOND;

fn limits() -> MetricsLimits {
    MetricsLimits {
        max_duration: Duration::from_secs(24 * 3600),
        max_exemplars: 100,
        max_series: 1000,
    }
}

fn request(raw: &str, instant: bool) -> Result<MetricsQueryRequest> {
    parse_metrics(&QueryParams::parse(Some(raw)), instant, 1 << 20)
}

#[test]
fn times_come_in_every_form_tempo_accepts() {
    assert_eq!(parse_metrics_time("start", "1700000100").unwrap(), NOW);
    assert_eq!(
        parse_metrics_time("start", "1700000100000000001").unwrap(),
        NOW + 1
    );
    assert_eq!(
        parse_metrics_time("start", "1700000100.25").unwrap(),
        NOW + 250_000_000
    );
    assert_eq!(
        parse_metrics_time("start", "2023-11-14T22:15:00Z").unwrap(),
        NOW
    );
    assert_eq!(
        parse_metrics_time("end", "2023-11-14T22:15:00.5+00:00").unwrap(),
        NOW + 500_000_000
    );
    for bad in ["", "soon", "-5", "1e400", "2023-13-40T00:00:00Z"] {
        let error = parse_metrics_time("end", bad).unwrap_err().to_string();
        assert!(
            error.starts_with("could not parse 'end' parameter"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn durations_are_prometheus_or_go() {
    let seconds = |text: &str| parse_prometheus_duration(text).unwrap().as_secs();
    assert_eq!(seconds("15m"), 900);
    assert_eq!(seconds("1d"), 86_400);
    assert_eq!(seconds("1w"), 604_800);
    assert_eq!(seconds("1h30m"), 5_400);
    assert_eq!(seconds("1.5h"), 5_400);
    assert_eq!(
        parse_prometheus_duration("250ms").unwrap(),
        Duration::from_millis(250)
    );
    assert!(parse_prometheus_duration("forever").is_err());
    assert!(parse_prometheus_duration("5").is_err());
}

#[test]
fn defaults_need_the_clock_and_align_to_the_step() {
    let parsed = request("q=%7B%7D%20%7C%20rate()", false).unwrap();
    let window = parsed.window(NOW, &limits()).unwrap();
    // end = now, start = now - 1h, default step 15s (3600 s / 240), plus one leading interval.
    assert_eq!(window.end_unix_nano(), NOW);
    assert_eq!(window.step_nano(), 15 * NANOS_PER_SECOND);
    assert_eq!(
        window.start_unix_nano(),
        NOW - 3600 * NANOS_PER_SECOND - 15 * NANOS_PER_SECOND
    );
    let since = request("q=%7B%7D%20%7C%20rate()&since=10m&step=60", false).unwrap();
    let window = since.window(NOW, &limits()).unwrap();
    assert_eq!(window.step_nano(), 60 * NANOS_PER_SECOND);
    assert_eq!(window.intervals(), 11);
    let instant = request("query=%7B%7D%20%7C%20rate()&since=10m&step=60", true).unwrap();
    assert_eq!(instant.step_nano, None, "an instant query has no step");
    let window = instant.window(NOW, &limits()).unwrap();
    assert!(window.is_instant());
    assert_eq!(window.start_unix_nano(), NOW - 600 * NANOS_PER_SECOND);
}

#[test]
fn q_wins_over_query_and_caps_apply() {
    let parsed = request(
        "q=%7B%7D%20%7C%20rate()&query=%7B%7D%20%7C%20count_over_time()&exemplars=500&maxSeries=5",
        false,
    )
    .unwrap();
    assert_eq!(parsed.query, "{} | rate()");
    let plan = contrail_traceql::metrics::MetricsPlan::new(&parsed.root).unwrap();
    assert_eq!(parsed.exemplar_limit(&plan.hints, &limits()), 100);
    assert_eq!(parsed.series_cap(&limits()), 5);
    let hinted = request("q=%7B%7D%20%7C%20rate()%20with(exemplars%3Dfalse)", false).unwrap();
    let plan = contrail_traceql::metrics::MetricsPlan::new(&hinted.root).unwrap();
    assert_eq!(hinted.exemplar_limit(&plan.hints, &limits()), 0);
}

#[test]
fn bad_parameters_name_the_fault() {
    let cases = [
        ("", "q is required"),
        ("q=%7B%20status%20%3D%20error%20%7D", "not a metrics query"),
        ("q=%7B%7D%20%7C%20rate(", "invalid TraceQL query"),
        ("q=%7B%7D%20%7C%20rate()&step=0s", "must be greater than 0"),
        ("q=%7B%7D%20%7C%20rate()&step=-1", "must not be negative"),
        ("q=%7B%7D%20%7C%20rate()&step=abc", "invalid step"),
        ("q=%7B%7D%20%7C%20rate()&since=x", "invalid since"),
        ("q=%7B%7D%20%7C%20rate()&maxSeries=-1", "invalid maxSeries"),
    ];
    for (raw, expected) in cases {
        let error = request(raw, false).unwrap_err();
        assert_eq!(error.code().http_status(), 400, "{raw}");
        assert!(error.to_string().contains(expected), "{raw}: {error}");
    }
    let too_long = parse_metrics(
        &QueryParams::parse(Some("q=%7B%7D%20%7C%20rate()")),
        false,
        4,
    )
    .unwrap_err();
    assert!(too_long.to_string().contains("maximum size of 4 bytes"));
    let window_errors = [
        (
            "q=%7B%7D%20%7C%20rate()&start=200&end=100",
            "end must be greater than start",
        ),
        (
            "q=%7B%7D%20%7C%20rate()&since=25h",
            "exceeds the maximum allowed duration of 24h0m0s",
        ),
        (
            "q=%7B%7D%20%7C%20rate()&since=24h&step=1s",
            "step of 1s is too small, minimum step for given range is 8.64s",
        ),
    ];
    for (raw, expected) in window_errors {
        let error = request(raw, false)
            .unwrap()
            .window(NOW, &limits())
            .unwrap_err();
        assert_eq!(error.code().http_status(), 400, "{raw}");
        assert!(error.to_string().contains(expected), "{raw}: {error}");
    }
}
