//! What the end-to-end tests share: spawning Contrail's binaries on loopback, real
//! OpenTelemetry SDK exporters, an exporter of load-generator batches that records what was
//! acknowledged, and readers of the HTTP API's answers.
#![allow(dead_code, unreachable_pub)]

pub mod s3;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use contrail_proto::otlp::common::v1::any_value;
use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

pub struct Running(Child);

impl Running {
    /// Starts `binary` with `config` and waits until `http://127.0.0.1:{api}/ready` is 200.
    pub async fn start(binary: &str, config: &Path, api: u16) -> Running {
        let child = Command::new(binary)
            .arg(format!("-config.file={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("contrail starts");
        let mut running = Running(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{api}/ready"))
                .send()
                .await;
            if ready.as_ref().is_ok_and(|answer| answer.status() == 200) {
                return running;
            }
            assert!(Instant::now() < deadline, "{binary} never ready: {ready:?}");
            assert!(
                running.0.try_wait().expect("wait").is_none(),
                "{binary} exited early"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
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

pub fn provider(service: &str, exporter: opentelemetry_otlp::SpanExporter) -> SdkTracerProvider {
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
pub fn emit_slow_checkout(grpc_endpoint: String, http_endpoint: String) -> String {
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

pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let answer = http.get(&url).send().await.expect("request");
    let status = answer.status();
    let body = answer.text().await.expect("body");
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).expect("json")
}

pub fn span_ids(trace: &Value) -> BTreeSet<String> {
    trace["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|batch| batch["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|scope| scope["spans"].as_array().into_iter().flatten())
        .map(|span| span["spanId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Trace ID (hex) → span IDs (hex) of what the server acknowledged.
pub type Acked = BTreeMap<String, BTreeSet<String>>;

/// What an exporter got acknowledged: the spans by trace, and how many acknowledged spans each
/// service (`resource.service.name`) sent.
#[derive(Debug, Default)]
pub struct Sent {
    pub acked: Acked,
    pub by_service: BTreeMap<String, u64>,
}

/// Now, unix nanoseconds.
pub fn now_unix_nanos() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos(),
    )
    .expect("nanoseconds fit")
}

/// Exports load-generator batches of 5 traces to `endpoint` (OTLP gRPC) without pause until an
/// export fails or `stop` is set; counts acknowledged batches in `acked_batches`. Spans start
/// at the wall clock of the first batch (within milliseconds), so metrics windows around now
/// hold them.
pub fn export_until_failure(
    endpoint: String,
    seed: u64,
    acked_batches: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Sent> {
    tokio::spawn(async move {
        let mut client = TraceServiceClient::connect(endpoint)
            .await
            .expect("connect");
        let mut generator =
            contrail_loadgen::corpus::Generator::new(contrail_loadgen::corpus::CorpusConfig {
                seed,
                start_time_unix_nano: now_unix_nanos(),
                traces_per_second: 10_000.0,
            });
        let mut acked = Acked::new();
        let mut services: BTreeMap<(String, String), String> = BTreeMap::new();
        while !stop.load(Ordering::SeqCst) {
            let request = generator.next_request(5);
            let mut spans = Vec::new();
            for resource in &request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|resource| &resource.attributes)
                    .find(|attribute| attribute.key == "service.name")
                    .and_then(|attribute| attribute.value.as_ref())
                    .and_then(|value| match &value.value {
                        Some(any_value::Value::StringValue(name)) => Some(name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                for span in resource.scope_spans.iter().flat_map(|scope| &scope.spans) {
                    spans.push((hex(&span.trace_id), hex(&span.span_id), service.clone()));
                }
            }
            if client.export(request).await.is_err() {
                break;
            }
            for (trace, span, service) in spans {
                acked.entry(trace.clone()).or_default().insert(span.clone());
                services.insert((trace, span), service);
            }
            acked_batches.fetch_add(1, Ordering::SeqCst);
        }
        let mut by_service = BTreeMap::new();
        for service in services.into_values() {
            *by_service.entry(service).or_default() += 1;
        }
        Sent { acked, by_service }
    })
}

/// `labels[0]`'s string value of a metrics series (its `by()` value).
fn series_label(series: &Value) -> String {
    series["labels"][0]["value"]["stringValue"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A metrics answer that must be complete (no `PARTIAL` status).
async fn metrics_json(http: &reqwest::Client, url: reqwest::Url) -> Value {
    let json = get_json(http, url.to_string()).await;
    assert!(json.get("status").is_none(), "{url}: {json}");
    json
}

/// `/api/metrics/query_range` over `[start_s, end_s]` by `step_s`: per series label, the sum of
/// its samples times `scale` (1 for counts, the step for rates).
pub async fn range_totals(
    http: &reqwest::Client,
    api: &str,
    query: &str,
    (start_s, end_s, step_s): (u64, u64, u64),
    scale: f64,
) -> BTreeMap<String, f64> {
    let url = reqwest::Url::parse_with_params(
        &format!("{api}/api/metrics/query_range"),
        [
            ("q", query.to_owned()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
            ("step", format!("{step_s}s")),
        ],
    )
    .expect("url");
    let json = metrics_json(http, url).await;
    let mut totals = BTreeMap::new();
    for series in json["series"].as_array().into_iter().flatten() {
        let sum: f64 = series["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|sample| sample["value"].as_f64().unwrap_or(0.0))
            .sum();
        *totals.entry(series_label(series)).or_default() += (sum * scale).round();
    }
    totals
}

/// `/api/metrics/query` (instant) over `[start_s, end_s]`: per series label, its value.
pub async fn instant_totals(
    http: &reqwest::Client,
    api: &str,
    query: &str,
    (start_s, end_s): (u64, u64),
) -> BTreeMap<String, f64> {
    let url = reqwest::Url::parse_with_params(
        &format!("{api}/api/metrics/query"),
        [
            ("q", query.to_owned()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
        ],
    )
    .expect("url");
    let json = metrics_json(http, url).await;
    json["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            (
                series_label(series),
                series["value"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

/// Per-service span counts as the metrics answers give them.
pub fn as_totals(counts: &BTreeMap<String, u64>) -> BTreeMap<String, f64> {
    counts
        .iter()
        .map(|(service, count)| (service.clone(), *count as f64))
        .collect()
}

/// Waits until `counter` reaches `at_least`.
pub async fn wait_count(counter: &AtomicUsize, at_least: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while counter.load(Ordering::SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} of {at_least}",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every acknowledged span is in the trace the API returns for its trace ID, and no span is
/// returned twice. Returns (spans checked, spans missing).
pub async fn check_acked(http: &reqwest::Client, api: &str, acked: &Acked) -> (usize, usize) {
    let mut missing = 0;
    let mut checked = 0;
    for (trace_id, wanted) in acked {
        let trace = get_json(http, format!("{api}/api/traces/{trace_id}")).await;
        let listed = span_id_list(&trace);
        let found: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(
            found.len(),
            listed.len(),
            "trace {trace_id}: a span returned twice"
        );
        missing += wanted.difference(&found).count();
        checked += wanted.len();
    }
    (checked, missing)
}

/// Span IDs (hex) of an `/api/traces` answer, in order, duplicates kept.
pub fn span_id_list(trace: &Value) -> Vec<String> {
    trace["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|batch| batch["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|scope| scope["spans"].as_array().into_iter().flatten())
        .map(|span| base64_to_hex(span["spanId"].as_str().unwrap_or_default()))
        .collect()
}

pub fn promtool_check(text: &str, dir: &Path) {
    let file = dir.join("metrics.txt");
    std::fs::write(&file, text).expect("write metrics");
    let output = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("promtool runs (scripts/test.sh installs it: apt-get install prometheus)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool check metrics: {stderr}{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `/api/traces` is OTLP/JSON as Tempo returns it: IDs in base64.
pub fn base64_to_hex(text: &str) -> String {
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
