//! The single binary (`-target=all`, the README's first command) as a user runs it: real
//! OpenTelemetry SDK exporters send a request whose database call was slow; TraceQL over the
//! HTTP API finds which service and which call; the trace comes back by ID; bad input gets a 4xx;
//! `/metrics` is valid Prometheus text (checked by `promtool`); and `kill -9` in the middle of
//! an ingest loses no acknowledged span.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

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
        let child = Command::new(env!("CARGO_BIN_EXE_contrail"))
            .arg(format!("-config.file={}", self.config_path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("contrail starts");
        let mut running = Running(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http.get(self.url("/ready")).send().await;
            if ready.as_ref().is_ok_and(|answer| answer.status() == 200) {
                return running;
            }
            assert!(Instant::now() < deadline, "never ready: {ready:?}");
            assert!(
                running.0.try_wait().expect("wait").is_none(),
                "contrail exited early"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Running(Child);

impl Running {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "contrail did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provider(service: &str, exporter: opentelemetry_otlp::SpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .with_simple_exporter(exporter)
        .build()
}

/// A checkout request: `frontend` serves `POST /checkout`, calls `payments` (`charge`), which
/// runs a slow `SELECT` against postgres. Returns the trace ID (hex).
fn emit_slow_checkout(grpc_endpoint: String, http_endpoint: String) -> String {
    std::thread::spawn(move || {
        // tonic needs a reactor when the exporter is built and while it exports
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let _guard = runtime.enter();
        let frontend = provider(
            "frontend",
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(grpc_endpoint)
                .build()
                .expect("grpc exporter"),
        );
        let payments = provider(
            "payments",
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(http_endpoint)
                .build()
                .expect("http exporter"),
        );
        let front = frontend.tracer("shop");
        let back = payments.tracer("payments");
        let trace_id = front.in_span("POST /checkout", |cx| {
            cx.span()
                .set_attribute(KeyValue::new("http.request.method", "POST"));
            back.in_span("charge", |_| {
                back.in_span("SELECT payments", |cx| {
                    cx.span()
                        .set_attribute(KeyValue::new("db.system", "postgres"));
                    std::thread::sleep(Duration::from_millis(700));
                });
            });
            cx.span().span_context().trace_id().to_string()
        });
        payments.force_flush().expect("payments flushed");
        frontend.force_flush().expect("frontend flushed");
        payments.shutdown().expect("payments shut down");
        frontend.shutdown().expect("frontend shut down");
        trace_id
    })
    .join()
    .expect("exporter thread")
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let answer = http.get(&url).send().await.expect("request");
    let status = answer.status();
    let body = answer.text().await.expect("body");
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).expect("json")
}

async fn search(http: &reqwest::Client, setup: &Setup, query: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&setup.url("/api/search"), [("q", query)])
        .expect("url")
        .to_string();
    get_json(http, url).await
}

fn span_ids(trace: &Value) -> BTreeSet<String> {
    trace["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|batch| batch["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|scope| scope["spans"].as_array().into_iter().flatten())
        .map(|span| span["spanId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn promtool_check(text: &str, dir: &Path) {
    let file = dir.join("metrics.txt");
    std::fs::write(&file, text).expect("write metrics");
    let output = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("promtool runs (scripts/test.sh installs it: apt-get install prometheus)");
    // promtool exits 1 on lint warnings (e.g. missing HELP) and 3 on a parse error
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || !stderr.contains("error while linting"),
        "promtool: {stderr}"
    );
    assert!(output.status.code() != Some(3), "promtool: {stderr}");
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
    assert_eq!(span_ids(&trace).len(), 3, "{trace}");

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
    assert_eq!(span_ids(&trace).len(), 3, "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_an_ingest_loses_no_acknowledged_span() {
    let setup = Setup::new();
    let mut running = setup.start().await;
    let http = reqwest::Client::new();

    // Export batches without pause; kill -9 once 40 were acknowledged, while more are in flight.
    let endpoint = format!("http://127.0.0.1:{}", setup.otlp_grpc);
    let acked_batches = Arc::new(AtomicUsize::new(0));
    let exporter = tokio::spawn({
        let acked_batches = Arc::clone(&acked_batches);
        async move {
            let mut client = TraceServiceClient::connect(endpoint)
                .await
                .expect("connect");
            let mut generator = contrail_loadgen::corpus::Generator::new(Default::default());
            let mut acked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            loop {
                let request = generator.next_request(5);
                let mut spans: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for span in request
                    .resource_spans
                    .iter()
                    .flat_map(|resource| &resource.scope_spans)
                    .flat_map(|scope| &scope.spans)
                {
                    spans
                        .entry(hex(&span.trace_id))
                        .or_default()
                        .insert(hex(&span.span_id));
                }
                if client.export(request).await.is_err() {
                    return acked;
                }
                for (trace, ids) in spans {
                    acked.entry(trace).or_default().extend(ids);
                }
                acked_batches.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_batches.load(Ordering::SeqCst) < 40 {
        assert!(
            Instant::now() < deadline,
            "40 batches were never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.signal("-KILL");
    let _ = running.wait_exit().await;
    let acked = exporter.await.expect("exporter");
    assert!(
        acked.len() >= 20,
        "only {} traces acknowledged",
        acked.len()
    );

    let _running = setup.start().await;
    let mut lost = 0usize;
    for (trace_id, wanted) in &acked {
        let trace = get_json(&http, setup.url(&format!("/api/traces/{trace_id}"))).await;
        let found: BTreeSet<String> = span_ids(&trace)
            .into_iter()
            .map(|id| base64_to_hex(&id))
            .collect();
        lost += wanted.difference(&found).count();
    }
    let spans: usize = acked.values().map(BTreeSet::len).sum();
    assert_eq!(
        lost, 0,
        "{lost} of {spans} acknowledged spans lost after kill -9"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `/api/traces` is OTLP/JSON as Tempo returns it: IDs in base64.
fn base64_to_hex(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET
            .iter()
            .position(|known| *known == byte)
            .expect("base64") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    hex(&out)
}
