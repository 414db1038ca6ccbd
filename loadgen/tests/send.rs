//! The sender against small OTLP receivers inside the test (tonic gRPC and axum HTTP on
//! 127.0.0.1:0): every span arrives, the tenant travels, failures are reported, not hung on.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use contrail_loadgen::corpus::CorpusConfig;
use contrail_loadgen::files::{span_count, write_corpus};
use contrail_loadgen::send::{Protocol, SendConfig, Source, send};
use contrail_proto::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use contrail_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::task::JoinHandle;
use tonic_types::{ErrorDetails, StatusExt};

/// What a receiver saw.
#[derive(Default)]
struct Received {
    spans: AtomicU64,
    requests: AtomicU64,
    tenants: Mutex<BTreeSet<String>>,
    trace_ids: Mutex<BTreeSet<Vec<u8>>>,
    /// Answer every request with 503 / UNAVAILABLE.
    refuse: AtomicBool,
    /// Take 20 ms per HTTP request (a server slower than the producer).
    slow: AtomicBool,
    /// Refuse the next gRPC request with RESOURCE_EXHAUSTED and a 300 ms RetryInfo.
    throttle_once: AtomicBool,
    /// When the throttled request was refused, and when the first request after it arrived.
    throttled_at: Mutex<Option<Instant>>,
    next_after_throttle_at: Mutex<Option<Instant>>,
}

const RETRY_DELAY: Duration = Duration::from_millis(300);

impl Received {
    fn record(&self, tenant_opt: Option<&str>, request: &ExportTraceServiceRequest) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.spans
            .fetch_add(span_count(request) as u64, Ordering::Relaxed);
        if let Some(tenant) = tenant_opt {
            self.tenants.lock().unwrap().insert(tenant.to_owned());
        }
        let mut trace_ids = self.trace_ids.lock().unwrap();
        for resource_spans in &request.resource_spans {
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    assert_eq!(span.trace_id.len(), 16, "trace id must be 16 bytes");
                    assert_eq!(span.span_id.len(), 8, "span id must be 8 bytes");
                    trace_ids.insert(span.trace_id.clone());
                }
            }
        }
    }
}

struct GrpcReceiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.0.refuse.load(Ordering::Relaxed) {
            return Err(tonic::Status::unavailable("ingester is starting"));
        }
        if self.0.throttle_once.swap(false, Ordering::Relaxed) {
            *self.0.throttled_at.lock().unwrap() = Some(Instant::now());
            return Err(tonic::Status::with_error_details(
                tonic::Code::ResourceExhausted,
                "ingester memory limit reached",
                ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
            ));
        }
        if self.0.throttled_at.lock().unwrap().is_some() {
            self.0
                .next_after_throttle_at
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
        }
        let tenant_opt = request
            .metadata()
            .get("x-scope-orgid")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        self.0.record(tenant_opt.as_deref(), request.get_ref());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_grpc() -> (SocketAddr, Arc<Received>, JoinHandle<()>) {
    let received = Arc::new(Received::default());
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let service = TraceServiceServer::new(GrpcReceiver(Arc::clone(&received)));
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    (addr, received, server)
}

async fn http_traces(
    axum::extract::State(received): axum::extract::State<Arc<Received>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if received.refuse.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "ingester is starting");
    }
    if received.slow.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let request = match content_type {
        "application/x-protobuf" => ExportTraceServiceRequest::decode(body.as_ref()).unwrap(),
        "application/json" => {
            // OTLP/JSON: ids are hex strings, not base64
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
            let trace_id = span["traceId"].as_str().expect("traceId is a string");
            let span_id = span["spanId"].as_str().expect("spanId is a string");
            assert_eq!(
                trace_id.len(),
                32,
                "trace id {trace_id} is not 32 hex chars"
            );
            assert_eq!(span_id.len(), 16, "span id {span_id} is not 16 hex chars");
            assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()));
            serde_json::from_value(json).unwrap()
        }
        _ => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type",
            );
        }
    };
    let tenant_opt = headers
        .get("x-scope-orgid")
        .and_then(|value| value.to_str().ok());
    received.record(tenant_opt, &request);
    (StatusCode::OK, "{}")
}

async fn start_http() -> (SocketAddr, Arc<Received>, JoinHandle<()>) {
    let received = Arc::new(Received::default());
    let router = axum::Router::new()
        .route("/v1/traces", axum::routing::post(http_traces))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, received, server)
}

fn generated(traces: usize) -> Source {
    Source::Generated {
        config: CorpusConfig {
            seed: 11,
            ..CorpusConfig::default()
        },
        traces_opt: Some(traces),
        spans_per_batch: 200,
    }
}

fn config(addr: SocketAddr, protocol: Protocol, source: Source) -> SendConfig {
    let mut config = SendConfig::new(format!("http://{addr}"), protocol, source);
    config.streams = 4;
    config.tenant_opt = Some("team-a".to_owned());
    config.request_timeout = Duration::from_secs(5);
    config
}

fn expected_spans(traces: usize) -> u64 {
    let mut generator = contrail_loadgen::corpus::Generator::new(CorpusConfig {
        seed: 11,
        ..CorpusConfig::default()
    });
    (0..traces)
        .map(|_| {
            generator
                .next_trace()
                .iter()
                .flat_map(|resource_spans| &resource_spans.scope_spans)
                .map(|scope_spans| scope_spans.spans.len() as u64)
                .sum::<u64>()
        })
        .sum()
}

async fn check_all_arrive(addr: SocketAddr, received: &Received, protocol: Protocol) {
    let traces = 300;
    let report = send(config(addr, protocol, generated(traces)))
        .await
        .unwrap();
    let expected = expected_spans(traces);
    assert_eq!(report.spans_acked, expected, "{report:?}");
    assert_eq!(received.spans.load(Ordering::Relaxed), expected);
    assert_eq!(received.trace_ids.lock().unwrap().len(), traces);
    assert_eq!(report.requests, received.requests.load(Ordering::Relaxed));
    assert_eq!(report.requests_failed, 0);
    assert!(report.errors.is_empty());
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.max >= report.latency_ms.p99);
    assert_eq!(
        *received.tenants.lock().unwrap(),
        BTreeSet::from(["team-a".to_owned()])
    );
    eprintln!(
        "{}: {} spans/s, p50 {} ms",
        protocol.name(),
        report.spans_per_s,
        report.latency_ms.p50
    );
}

#[tokio::test]
async fn grpc_all_spans_arrive_with_tenant() {
    let (addr, received, server) = start_grpc().await;
    check_all_arrive(addr, &received, Protocol::Grpc).await;
    server.abort();
}

#[tokio::test]
async fn http_protobuf_all_spans_arrive_with_tenant() {
    let (addr, received, server) = start_http().await;
    check_all_arrive(addr, &received, Protocol::HttpProtobuf).await;
    server.abort();
}

#[tokio::test]
async fn http_json_all_spans_arrive_with_tenant() {
    let (addr, received, server) = start_http().await;
    check_all_arrive(addr, &received, Protocol::HttpJson).await;
    server.abort();
}

#[tokio::test]
async fn replays_a_corpus_directory() {
    let dir = std::env::temp_dir().join(format!("contrail-loadgen-replay-{}", std::process::id()));
    let summary = write_corpus(&dir, CorpusConfig::default(), 150, 500).unwrap();
    let (addr, received, server) = start_grpc().await;
    let report = send(config(addr, Protocol::Grpc, Source::Files(dir.clone())))
        .await
        .unwrap();
    assert_eq!(report.spans_acked, summary.spans);
    assert_eq!(received.spans.load(Ordering::Relaxed), summary.spans);
    assert_eq!(report.requests, summary.batches);
    server.abort();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn rate_and_span_limits_hold() {
    let (addr, received, server) = start_http().await;
    let mut limited = config(
        addr,
        Protocol::HttpProtobuf,
        Source::Generated {
            config: CorpusConfig::default(),
            traces_opt: None,
            spans_per_batch: 100,
        },
    );
    limited.rate_opt = Some(4_000.0);
    limited.max_spans_opt = Some(2_000);
    let started = Instant::now();
    let report = send(limited).await.unwrap();
    let elapsed = started.elapsed();
    // about 2,000 spans (whole batches) at 4,000/s with a 0.1 s burst: at least ~0.3 s
    assert!(
        report.spans_acked >= 2_000 && report.spans_acked < 2_300,
        "{report:?}"
    );
    assert_eq!(received.spans.load(Ordering::Relaxed), report.spans_acked);
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    server.abort();
}

#[tokio::test]
async fn a_run_without_rate_limit_ends_at_its_duration() {
    // the producer is always ahead of a slow server: the deadline must still end the run
    let (addr, received, server) = start_http().await;
    received.slow.store(true, Ordering::Relaxed);
    let mut timed = config(
        addr,
        Protocol::HttpProtobuf,
        Source::Generated {
            config: CorpusConfig::default(),
            traces_opt: None,
            spans_per_batch: 100,
        },
    );
    timed.duration_opt = Some(Duration::from_millis(500));
    let started = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(10), send(timed))
        .await
        .expect("the run ends within 10 s")
        .unwrap();
    let elapsed = started.elapsed();
    assert!(report.spans_acked > 0, "{report:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "ran {elapsed:?} for a 0.5 s duration"
    );
    server.abort();
}

#[tokio::test]
async fn refusing_servers_are_reported_per_kind() {
    let (grpc_addr, grpc_received, grpc_server) = start_grpc().await;
    grpc_received.refuse.store(true, Ordering::Relaxed);
    let report = send(config(grpc_addr, Protocol::Grpc, generated(200)))
        .await
        .unwrap();
    assert_eq!(report.spans_acked, 0);
    assert!(report.aborted.is_some(), "{report:?}");
    assert!(
        report.errors.get("grpc_unavailable").copied().unwrap_or(0) >= 3,
        "{report:?}"
    );

    let (http_addr, http_received, http_server) = start_http().await;
    http_received.refuse.store(true, Ordering::Relaxed);
    let report = send(config(http_addr, Protocol::HttpJson, generated(200)))
        .await
        .unwrap();
    assert_eq!(report.spans_acked, 0);
    assert!(report.aborted.is_some());
    assert!(
        report.errors.get("http_503").copied().unwrap_or(0) >= 3,
        "{report:?}"
    );
    assert!(report.first_error.unwrap().contains("503"));
    grpc_server.abort();
    http_server.abort();
}

#[tokio::test]
async fn a_refusal_with_retry_info_is_waited_out_unless_told_not_to() {
    for honor in [true, false] {
        let (addr, received, server) = start_grpc().await;
        received.throttle_once.store(true, Ordering::Relaxed);
        let mut config = config(addr, Protocol::Grpc, generated(200));
        config.streams = 1;
        config.honor_retry_delay = honor;
        let report = send(config).await.unwrap();
        assert_eq!(report.requests_failed, 1, "{report:?}");
        assert_eq!(report.errors.get("grpc_resource_exhausted"), Some(&1));
        assert_eq!(report.retry_waits, u64::from(honor), "{report:?}");
        assert_eq!(
            report.spans_acked + report.spans_failed,
            expected_spans(200)
        );
        let refused = received.throttled_at.lock().unwrap().expect("refused once");
        let next = received
            .next_after_throttle_at
            .lock()
            .unwrap()
            .expect("a request after the refusal");
        let gap = next - refused;
        if honor {
            assert!(gap >= RETRY_DELAY, "next request {gap:?} after the refusal");
        } else {
            assert!(gap < RETRY_DELAY, "next request {gap:?} after the refusal");
        }
        server.abort();
    }
}

/// A port that was just free: bind, note it, close.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_down_server_stops_the_run_with_connect_errors() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let started = Instant::now();
        let report = send(config(closed_port(), protocol, generated(2_000)))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(report.spans_acked, 0);
        assert!(
            report.aborted.as_deref().unwrap().contains("cannot reach"),
            "{report:?}"
        );
        assert!(
            report.errors.get("connect").copied().unwrap_or(0) >= 3,
            "{report:?}"
        );
    }
}

#[test]
fn the_binary_exits_non_zero_when_the_server_is_down() {
    let started = Instant::now();
    let endpoint = format!("http://{}", closed_port());
    let output = Command::new(env!("CARGO_BIN_EXE_contrail-loadgen"))
        .args([
            "send",
            "--endpoint",
            &endpoint,
            "--protocol",
            "grpc",
            "--seed",
            "1",
        ])
        .args([
            "--traces",
            "500",
            "--streams",
            "2",
            "--timeout",
            "2",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["mode"], "send");
    assert_eq!(summary["spans_acked"], 0);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    let binary = env!("CARGO_BIN_EXE_contrail-loadgen");
    let cases: [&[&str]; 4] = [
        &["send", "--protocol", "carrier-pigeon", "--endpoint", "x"],
        &["generate", "--traces", "ten", "--out", "/tmp/x"],
        &["send", "--endpoint", "http://127.0.0.1:1"],
        &["frobnicate"],
    ];
    for args in cases {
        let output = Command::new(binary).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("Usage:") || stderr.contains("try '--help'"),
            "{args:?}: {stderr}"
        );
    }
}
