//! The single binary (`-target=all`, the README's first command) as a user runs it: real
//! OpenTelemetry SDK exporters send a request whose database call was slow; TraceQL over the
//! HTTP API finds which service and which call; the trace comes back by ID; TraceQL metrics
//! count exactly the acknowledged spans per service; bad input gets a 4xx;
//! `/metrics` is valid Prometheus text (checked by `promtool`); and `kill -9` in the middle of
//! an ingest loses no acknowledged span.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use support::*;

/// Ports and folders of one Contrail; restarts reuse them (same WAL, same blocks).
struct Setup {
    dir: tempfile::TempDir,
    api: u16,
    grpc: u16,
    otlp_grpc: u16,
    otlp_http: u16,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let setup = Setup {
            dir,
            api: free_port(),
            grpc: free_port(),
            otlp_grpc: free_port(),
            otlp_http: free_port(),
        };
        let data = setup.dir.path().display().to_string();
        let yaml = format!(
            "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {api}\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {grpc}\n  graceful_shutdown_timeout: 5s\ndistributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{otlp_grpc}\n        http:\n          endpoint: 127.0.0.1:{otlp_http}\nstorage:\n  trace:\n    backend: local\n    local:\n      path: {data}/blocks\n    wal:\n      path: {data}/wal\n",
            api = setup.api,
            grpc = setup.grpc,
            otlp_grpc = setup.otlp_grpc,
            otlp_http = setup.otlp_http,
        );
        std::fs::write(setup.config_path(), yaml).expect("write config");
        setup
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("tempo.yaml")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api)
    }

    /// Starts Contrail and waits for `/ready`.
    async fn start(&self) -> Running {
        Running::start(
            env!("CARGO_BIN_EXE_contrail"),
            &self.config_path(),
            self.api,
        )
        .await
    }
}

async fn search(http: &reqwest::Client, setup: &Setup, query: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&setup.url("/api/search"), [("q", query)])
        .expect("url")
        .to_string();
    get_json(http, url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_service_made_the_request_slow_is_answered_end_to_end() {
    let setup = Setup::new();
    let mut running = setup.start().await;
    let http = reqwest::Client::new();

    let trace_id = emit_slow_checkout(
        format!("http://127.0.0.1:{}", setup.otlp_grpc),
        format!("http://127.0.0.1:{}/v1/traces", setup.otlp_http),
    );

    // Which call under the frontend's request took more than half a second?
    let answer = search(
        &http,
        &setup,
        r#"{ resource.service.name = "frontend" } >> { duration > 500ms }"#,
    )
    .await;
    let traces = answer["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "{answer}");
    let found = &traces[0];
    assert_eq!(found["traceID"], trace_id.trim_start_matches('0'));
    assert_eq!(found["rootServiceName"], "frontend");
    assert_eq!(found["rootTraceName"], "POST /checkout");
    let names: BTreeSet<&str> = found["spanSet"]["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|span| span["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains("SELECT payments"), "{found}");
    // the slow span's service, attribute and duration
    let slow = search(
        &http,
        &setup,
        r#"{ span.db.system = "postgres" && duration > 500ms } | select(resource.service.name)"#,
    )
    .await;
    let span = &slow["traces"][0]["spanSet"]["spans"][0];
    assert_eq!(span["name"], "SELECT payments", "{slow}");
    assert!(
        span["durationNanos"]
            .as_str()
            .and_then(|nanos| nanos.parse::<u64>().ok())
            .is_some_and(|nanos| nanos >= 700_000_000),
        "{span}"
    );
    assert!(slow.to_string().contains("payments"), "{slow}");

    // the whole trace by ID: three spans from two services
    let trace = get_json(&http, setup.url(&format!("/api/traces/{trace_id}"))).await;
    assert_eq!(span_id_list(&trace).len(), 3, "{trace}");

    // TraceQL metrics over HTTP: a stream of load-generator batches, every one acknowledged,
    // then counts and rates per service equal the acknowledged spans, exactly.
    let test_start_s = now_unix_nanos() / 1_000_000_000;
    let batches = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let exporter = export_until_failure(
        format!("http://127.0.0.1:{}", setup.otlp_grpc),
        3,
        Arc::clone(&batches),
        Arc::clone(&stop),
    );
    wait_count(&batches, 20, "acknowledged batches").await;
    stop.store(true, Ordering::SeqCst);
    let sent = exporter.await.expect("exporter");
    assert!(batches.load(Ordering::SeqCst) >= 20);
    let mut expected = sent.by_service.clone();
    *expected.entry("frontend".to_owned()).or_default() += 1; // POST /checkout
    *expected.entry("payments".to_owned()).or_default() += 2; // charge, SELECT payments
    let expected = as_totals(&expected);
    let window = (
        test_start_s - 120,
        now_unix_nanos() / 1_000_000_000 + 60,
        15,
    );
    let api = setup.url("");
    let by_service = "by (resource.service.name)";
    let counts = range_totals(
        &http,
        &api,
        &format!("{{ }} | count_over_time() {by_service}"),
        window,
        1.0,
    )
    .await;
    assert_eq!(counts, expected, "count_over_time per service");
    let rates = range_totals(
        &http,
        &api,
        &format!("{{ }} | rate() {by_service}"),
        window,
        window.2 as f64,
    )
    .await;
    assert_eq!(rates, expected, "rate × step per service");
    let instant = instant_totals(
        &http,
        &api,
        &format!("{{ }} | count_over_time() {by_service}"),
        (window.0, window.1),
    )
    .await;
    assert_eq!(instant, expected, "instant count per service");
    let bad_metrics = http
        .get(setup.url("/api/metrics/query_range"))
        .query(&[("q", "{ } | rate("), ("since", "1h")])
        .send()
        .await
        .expect("get");
    assert_eq!(bad_metrics.status(), 400);
    let message = bad_metrics.text().await.expect("body");
    assert!(message.contains("line 1, col"), "{message}");

    // bad input: a clear 4xx, never a 500
    let bad_otlp = http
        .post(format!("http://127.0.0.1:{}/v1/traces", setup.otlp_http))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff, 0x01])
        .send()
        .await
        .expect("post");
    assert_eq!(bad_otlp.status(), 400);
    let bad_query = http
        .get(setup.url("/api/search"))
        .query(&[("q", "{ duration > }")])
        .send()
        .await
        .expect("get");
    assert_eq!(bad_query.status(), 400);
    let message = bad_query.text().await.expect("body");
    assert!(message.contains("parse error"), "{message}");
    let bad_id = http
        .get(setup.url("/api/traces/not-hex"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad_id.status(), 400);

    let metrics = http
        .get(setup.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("contrail_distributor_spans_received_total"));
    promtool_check(&metrics, setup.dir.path());

    running.signal("-TERM");
    let status = running.wait_exit().await;
    assert!(status.success(), "exit status {status:?}");

    // after a clean restart the trace is still searchable and readable
    let _running = setup.start().await;
    let again = search(&http, &setup, r#"{ name = "SELECT payments" }"#).await;
    assert_eq!(
        again["traces"][0]["traceID"],
        trace_id.trim_start_matches('0'),
        "{again}"
    );
    let trace = get_json(&http, setup.url(&format!("/api/traces/{trace_id}"))).await;
    assert_eq!(span_id_list(&trace).len(), 3, "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_an_ingest_loses_no_acknowledged_span() {
    let setup = Setup::new();
    let running = setup.start().await;
    let http = reqwest::Client::new();
    // kill -9 once 40 batches were acknowledged, while more are in flight
    let batches = Arc::new(AtomicUsize::new(0));
    let exporter = export_until_failure(
        format!("http://127.0.0.1:{}", setup.otlp_grpc),
        1,
        Arc::clone(&batches),
        Arc::new(AtomicBool::new(false)),
    );
    wait_count(&batches, 40, "acknowledged batches").await;
    running.signal("-KILL");
    let mut running = running;
    let _ = running.wait_exit().await;
    let acked = exporter.await.expect("exporter").acked;
    assert!(
        acked.len() >= 200,
        "only {} traces acknowledged",
        acked.len()
    );

    let _running = setup.start().await;
    let (spans, missing) = check_acked(&http, &setup.url(""), &acked).await;
    assert_eq!(
        missing, 0,
        "{missing} of {spans} acknowledged spans lost after kill -9"
    );
}
