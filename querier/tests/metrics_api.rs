//! `/api/metrics/query_range` and `/api/metrics/query` over HTTP: real `vc1` blocks on local
//! disk (the engine's block jobs) plus recent data from the ingesters' stand-in (the same
//! engine over a `MemorySource`), with a manual clock. Counts and rates by
//! `resource.service.name` equal the ones written out by hand below, whatever the job size;
//! spans held by both an uploaded block and an ingester are counted once; bad requests are 400s
//! naming the fault.
//!
//! The data (`NOW` = the clock, the cut between blocks and recent data at `NOW − 15m`):
//! - block 1 (old): one `cart` trace of 3 spans at `NOW − 50m + 10s`; two `shop` traces at
//!   `NOW − 40m + 5s`; one `db` trace at `NOW − 25m + 1s`;
//! - block 2 (just uploaded, still held by the ingester too): `cart` at `NOW − 20m + 3s`
//!   (before the cut) and two at `NOW − 10m + 7s`; `db` at `NOW − 5m + 2s`;
//! - the ingester: everything of block 2, plus live `shop` ×2 at `NOW − 2m + 1s` and `cart` at
//!   `NOW − 1m`.
//!
//! By hand, per 5-minute interval (ends, relative to `NOW`): cart 3 at −45m, 1 at −15m, 2 at
//! −5m, 1 at 0; shop 2 at −35m, 2 at 0; db 1 at −20m, 1 at 0. Totals: cart 7, shop 4, db 2.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytesize::ByteSize;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::tempopb::{QueryInstantResponse, QueryRangeResponse};
use contrail_proto::{ManualClock, TenantId};
use contrail_querier::QueryFrontendConfig;
use serde_json::Value;
use support::{ServerOptions, TestServer, write_block};

const NOW_S: u64 = 1_700_000_100;
const SECOND: u64 = 1_000_000_000;
const NOW: u64 = NOW_S * SECOND;

fn tenant() -> TenantId {
    TenantId::single_tenant()
}

/// One trace of `service` with a span at each of `starts` (seconds before `NOW`, then plus
/// `plus` seconds).
fn trace(id: u8, service: &str, spans: usize, minutes_ago: u64, plus_secs: u64) -> ResourceSpans {
    let start = NOW - minutes_ago * 60 * SECOND + plus_secs * SECOND;
    let mut trace_id = vec![0u8; 16];
    trace_id[0] = 0x42;
    trace_id[15] = id;
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
                ..KeyValue::default()
            }],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (0..spans)
                .map(|position| Span {
                    trace_id: trace_id.clone(),
                    span_id: vec![id, 0, 0, 0, 0, 0, 0, position as u8 + 1],
                    parent_span_id: if position == 0 {
                        Vec::new()
                    } else {
                        vec![id, 0, 0, 0, 0, 0, 0, 1]
                    },
                    name: format!("op-{position}"),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 20_000_000,
                    ..Span::default()
                })
                .collect(),
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

fn old_block() -> Vec<ResourceSpans> {
    vec![
        trace(1, "cart", 3, 50, 10),
        trace(2, "shop", 1, 40, 5),
        trace(3, "shop", 1, 40, 5),
        trace(4, "db", 1, 25, 1),
    ]
}

fn uploaded_block() -> Vec<ResourceSpans> {
    vec![
        trace(5, "cart", 1, 20, 3),
        trace(6, "cart", 1, 10, 7),
        trace(7, "cart", 1, 10, 7),
        trace(8, "db", 1, 5, 2),
    ]
}

fn live() -> Vec<ResourceSpans> {
    vec![
        trace(9, "shop", 1, 2, 1),
        trace(10, "shop", 1, 2, 1),
        trace(11, "cart", 1, 1, 0),
    ]
}

/// Interval end (minutes before `NOW`) → count, per service, as written in the module docs:
/// every 5-minute interval of the hour (plus the frontend's leading one), 0 where nothing
/// started.
fn by_hand() -> BTreeMap<&'static str, Vec<(u64, f64)>> {
    let counts = |nonzero: &[(u64, f64)]| -> Vec<(u64, f64)> {
        (0..=12)
            .rev()
            .map(|step| {
                let at = step * 5;
                let count = nonzero
                    .iter()
                    .find(|(minutes, _)| *minutes == at)
                    .map_or(0.0, |(_, count)| *count);
                (at, count)
            })
            .collect()
    };
    BTreeMap::from([
        ("cart", counts(&[(45, 3.0), (15, 1.0), (5, 2.0), (0, 1.0)])),
        ("shop", counts(&[(35, 2.0), (0, 2.0)])),
        ("db", counts(&[(20, 1.0), (0, 1.0)])),
    ])
}

async fn server(target_bytes_per_job: ByteSize) -> TestServer {
    let mut frontend = QueryFrontendConfig::default();
    frontend.metrics.target_bytes_per_job = target_bytes_per_job;
    let server = TestServer::start(ServerOptions {
        frontend,
        engine: true,
        clock: Some(Arc::new(ManualClock::new(NOW))),
        ..ServerOptions::default()
    })
    .await;
    write_block(server.store.clone(), &tenant(), old_block()).await;
    write_block(server.store.clone(), &tenant(), uploaded_block()).await;
    for resource_spans in uploaded_block().into_iter().chain(live()) {
        server
            .recent
            .add_trace(tenant().as_str(), vec![resource_spans]);
    }
    server
}

async fn get(server: &TestServer, path_and_query: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(server.url(path_and_query))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn escape(query: &str) -> String {
    form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

/// Service → (minutes before `NOW` of the sample, value).
fn samples(response: &QueryRangeResponse) -> BTreeMap<String, Vec<(u64, f64)>> {
    response
        .series
        .iter()
        .map(|series| {
            assert_eq!(series.labels.len(), 1);
            assert_eq!(series.labels[0].key, "resource.service.name");
            let Some(any_value::Value::StringValue(service)) = series.labels[0]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
            else {
                panic!("a string label: {:?}", series.labels[0]);
            };
            let points = series
                .samples
                .iter()
                .map(|sample| {
                    let at = u64::try_from(sample.timestamp_ms).unwrap();
                    ((NOW_S * 1000 - at) / 60_000, sample.value)
                })
                .collect();
            (service, points)
        })
        .collect()
}

fn range_url(function: &str, extra: &str) -> String {
    format!(
        "/api/metrics/query_range?q={}&start={}&end={NOW_S}&step=5m{extra}",
        escape(&format!("{{ }} | {function} by (resource.service.name)")),
        NOW_S - 3600,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_rates_by_service_equal_the_counts_by_hand() {
    // One job per block, then one per row group: the same answer.
    for target in [ByteSize::gib(1), ByteSize::b(1)] {
        let server = server(target).await;
        let (status, body) = get(&server, &range_url("count_over_time()", "")).await;
        assert_eq!(status, 200, "{body}");
        let response: QueryRangeResponse = serde_json::from_str(&body).unwrap();
        let expected: BTreeMap<String, Vec<(u64, f64)>> = by_hand()
            .into_iter()
            .map(|(service, points)| (service.to_owned(), points))
            .collect();
        assert_eq!(
            samples(&response),
            expected,
            "count_over_time, target {target}"
        );

        let (status, body) = get(&server, &range_url("rate()", "")).await;
        assert_eq!(status, 200, "{body}");
        let response: QueryRangeResponse = serde_json::from_str(&body).unwrap();
        let rates: BTreeMap<String, Vec<(u64, f64)>> = by_hand()
            .into_iter()
            .map(|(service, points)| {
                let per_second = points
                    .into_iter()
                    .map(|(at, count)| (at, count / 300.0))
                    .collect();
                (service.to_owned(), per_second)
            })
            .collect();
        assert_eq!(samples(&response), rates, "rate, target {target}");

        // The ingester was asked only for spans from the cut on.
        let jobs = server.recent.metrics_jobs.lock().unwrap().clone();
        assert!(!jobs.is_empty());
        assert!(
            jobs.iter()
                .all(|job| job.span_start_first == NOW - 15 * 60 * SECOND)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_follows_tempo_and_exemplars_point_at_spans() {
    let server = server(ByteSize::gib(1)).await;
    let (status, body) = get(&server, &range_url("count_over_time()", "&exemplars=5")).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let series = json["series"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    let cart = series
        .iter()
        .find(|series| series["labels"][0]["value"]["stringValue"] == "cart")
        .unwrap();
    assert_eq!(cart["labels"][0]["key"], "resource.service.name");
    let samples = cart["samples"].as_array().unwrap();
    assert_eq!(
        samples.len(),
        13,
        "one sample per interval, the leading one included"
    );
    assert_eq!(
        samples[0],
        serde_json::json!({ "timestampMs": ((NOW_S - 60 * 60) * 1000).to_string() }),
        "a zero value is omitted, int64 is a string"
    );
    assert_eq!(
        samples[3],
        serde_json::json!({ "timestampMs": ((NOW_S - 45 * 60) * 1000).to_string(), "value": 3.0 }),
        "the interval's end"
    );
    let exemplars = cart["exemplars"].as_array().unwrap();
    assert!(!exemplars.is_empty() && exemplars.len() <= 5);
    for exemplar in exemplars {
        assert_eq!(exemplar["labels"][0]["key"], "trace:id");
        let trace_id = exemplar["labels"][0]["value"]["stringValue"]
            .as_str()
            .unwrap();
        assert!(trace_id.starts_with("42"), "{trace_id}");
        assert_eq!(exemplar["labels"][1]["key"], "span:id");
    }
    assert!(
        json.get("status").is_none(),
        "complete answers carry no status"
    );

    // A cap of one series: PARTIAL with the reason.
    let (status, body) = get(&server, &range_url("count_over_time()", "&maxSeries=1")).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "PARTIAL");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 1 series")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instant_query_has_one_value_per_service() {
    let server = server(ByteSize::gib(1)).await;
    let query = escape("{ } | count_over_time() by (resource.service.name)");
    let url = format!(
        "/api/metrics/query?q={query}&start={}&end={NOW_S}",
        NOW_S - 3600
    );
    let (status, body) = get(&server, &url).await;
    assert_eq!(status, 200, "{body}");
    let response: QueryInstantResponse = serde_json::from_str(&body).unwrap();
    let mut values: Vec<(String, f64)> = response
        .series
        .iter()
        .map(|series| {
            let Some(any_value::Value::StringValue(service)) = series.labels[0]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
            else {
                panic!("a string label");
            };
            (service, series.value)
        })
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        values,
        [
            ("cart".to_owned(), 7.0),
            ("db".to_owned(), 2.0),
            ("shop".to_owned(), 4.0)
        ]
    );
    // `since` instead of `start`: the last 10 minutes hold cart 2+1, shop 2, db 1.
    let url = format!("/api/metrics/query?query={query}&since=10m");
    let (status, body) = get(&server, &url).await;
    assert_eq!(status, 200, "{body}");
    let response: QueryInstantResponse = serde_json::from_str(&body).unwrap();
    let mut values: Vec<f64> = response.series.iter().map(|series| series.value).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [1.0, 2.0, 3.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400s_naming_the_fault() {
    let server = server(ByteSize::gib(1)).await;
    let rate = escape("{ } | rate()");
    let start = NOW_S - 3600;
    let cases = [
        (
            format!(
                "/api/metrics/query_range?q={}&start={start}&end={NOW_S}",
                escape("{ } | rate(")
            ),
            "invalid TraceQL query",
        ),
        (
            format!(
                "/api/metrics/query_range?q={}&start={start}&end={NOW_S}",
                escape("{ status = error }")
            ),
            "not a metrics query",
        ),
        (
            format!("/api/metrics/query_range?start={start}&end={NOW_S}"),
            "q is required",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&start={start}&end={NOW_S}&step=0"),
            "step: must be greater than 0",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&start={start}&end={NOW_S}&step=-5"),
            "step: must not be negative",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&start={NOW_S}&end={start}"),
            "end must be greater than start",
        ),
        (
            format!(
                "/api/metrics/query_range?q={rate}&start={}&end={NOW_S}",
                NOW_S - 25 * 3600
            ),
            "metrics query time range exceeds the maximum allowed duration of 24h0m0s",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&start={start}&end={NOW_S}&step=100ms"),
            "step of 100ms is too small, minimum step for given range is 360ms",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&start=yesterday&end={NOW_S}"),
            "could not parse 'start' parameter",
        ),
        (
            format!("/api/metrics/query_range?q={rate}&since=forever"),
            "invalid since",
        ),
        (
            format!("/api/metrics/query?q={rate}&start={start}&end={NOW_S}&exemplars=many"),
            "invalid exemplars",
        ),
    ];
    for (url, expected) in cases {
        let (status, body) = get(&server, &url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body.contains(expected),
            "{url}: {body:?} should say {expected:?}"
        );
    }
    // RFC 3339 and nanosecond bounds are accepted.
    let url = format!(
        "/api/metrics/query_range?q={rate}&start=2023-11-14T21:15:00Z&end={}",
        NOW
    );
    let (status, body) = get(&server, &url).await;
    assert_eq!(status, 200, "{body}");
}
