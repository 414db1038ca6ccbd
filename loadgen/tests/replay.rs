//! Pre-encoded replay against a tonic TraceService inside the test (127.0.0.1:0): every pass
//! arrives as valid OTLP with new trace IDs, and refusals, partial success and a missing server
//! are reported, not panicked on.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contrail_loadgen::corpus::CorpusConfig;
use contrail_loadgen::files::span_count;
use contrail_loadgen::send::{EncodedPool, Protocol, SendConfig, Source, send};
use contrail_proto::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use contrail_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::task::JoinHandle;

/// What the receiver saw, and how it answers.
#[derive(Default)]
struct Received {
    spans: AtomicU64,
    requests: AtomicU64,
    trace_ids: Mutex<BTreeSet<Vec<u8>>>,
    tenants: Mutex<BTreeSet<String>>,
    refuse: AtomicBool,
    reject_some: AtomicBool,
}

struct Receiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.0.refuse.load(Ordering::Relaxed) {
            return Err(tonic::Status::resource_exhausted("ingestion rate limit"));
        }
        if let Some(tenant) = request.metadata().get("x-scope-orgid") {
            let tenant = tenant.to_str().unwrap().to_owned();
            self.0.tenants.lock().unwrap().insert(tenant);
        }
        let request = request.into_inner();
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0
            .spans
            .fetch_add(span_count(&request) as u64, Ordering::Relaxed);
        let mut trace_ids = self.0.trace_ids.lock().unwrap();
        for span in request
            .resource_spans
            .iter()
            .flat_map(|resource_spans| &resource_spans.scope_spans)
            .flat_map(|scope_spans| &scope_spans.spans)
        {
            assert_eq!(span.trace_id.len(), 16);
            assert_eq!(span.span_id.len(), 8);
            assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
            trace_ids.insert(span.trace_id.clone());
        }
        let partial_success =
            self.0
                .reject_some
                .load(Ordering::Relaxed)
                .then(|| ExportTracePartialSuccess {
                    rejected_spans: 7,
                    error_message: "7 spans outside the ingestion window".to_owned(),
                });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

async fn start_receiver() -> (SocketAddr, Arc<Received>, JoinHandle<()>) {
    let received = Arc::new(Received::default());
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let service = TraceServiceServer::new(Receiver(Arc::clone(&received)))
        .max_decoding_message_size(16 * 1024 * 1024);
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    (addr, received, server)
}

fn pool() -> Arc<EncodedPool> {
    let config = CorpusConfig {
        seed: 5,
        ..CorpusConfig::default()
    };
    Arc::new(EncodedPool::generate(config, 4, 250).unwrap())
}

fn replay_config(addr: SocketAddr, pool: &Arc<EncodedPool>, passes: u64) -> SendConfig {
    let mut config = SendConfig::new(
        format!("http://{addr}"),
        Protocol::Grpc,
        Source::Preencoded(Arc::clone(pool)),
    );
    config.streams = 3;
    config.tenant_opt = Some("team-r".to_owned());
    config.request_timeout = Duration::from_secs(5);
    config.max_spans_opt = Some(pool.summary().spans * passes);
    config
}

fn distinct_trace_ids_in_one_pass(pool: &EncodedPool) -> usize {
    use prost::Message;
    let mut trace_ids = BTreeSet::new();
    for index in 0..pool.len() {
        let request = ExportTraceServiceRequest::decode(pool.stamped(index, 0)).unwrap();
        for resource_spans in &request.resource_spans {
            for scope_spans in &resource_spans.scope_spans {
                trace_ids.extend(scope_spans.spans.iter().map(|span| span.trace_id.clone()));
            }
        }
    }
    trace_ids.len()
}

#[tokio::test]
async fn every_pass_arrives_with_new_trace_ids() {
    let (addr, received, server) = start_receiver().await;
    let pool = pool();
    let passes = 3;
    let report = send(replay_config(addr, &pool, passes)).await.unwrap();
    let pool_spans = pool.summary().spans;
    assert_eq!(report.spans_acked, pool_spans * passes, "{report:?}");
    assert_eq!(report.requests, pool.len() as u64 * passes);
    assert_eq!(report.requests_failed, 0, "{report:?}");
    assert_eq!(received.spans.load(Ordering::Relaxed), pool_spans * passes);
    assert_eq!(
        received.trace_ids.lock().unwrap().len(),
        distinct_trace_ids_in_one_pass(&pool) * passes as usize
    );
    assert_eq!(
        *received.tenants.lock().unwrap(),
        BTreeSet::from(["team-r".to_owned()])
    );
    assert!(report.cpu_s.is_some_and(|cpu_s| cpu_s >= 0.0), "{report:?}");
    let summary = report.preencoded.expect("the report names the pool");
    assert_eq!(summary.requests, 4);
    assert_eq!(summary.spans, pool_spans);
    server.abort();
}

#[tokio::test]
async fn a_refusing_server_is_reported_by_kind() {
    let (addr, received, server) = start_receiver().await;
    received.refuse.store(true, Ordering::Relaxed);
    let report = send(replay_config(addr, &pool(), 5)).await.unwrap();
    assert_eq!(report.spans_acked, 0);
    assert!(
        report
            .aborted
            .as_deref()
            .unwrap()
            .contains("accepts nothing"),
        "{report:?}"
    );
    assert!(
        report
            .errors
            .get("grpc_resource_exhausted")
            .copied()
            .unwrap_or(0)
            >= 3,
        "{report:?}"
    );
    assert!(report.first_error.unwrap().contains("ingestion rate limit"));
    server.abort();
}

#[tokio::test]
async fn partial_success_is_a_failure_with_its_message() {
    let (addr, received, server) = start_receiver().await;
    received.reject_some.store(true, Ordering::Relaxed);
    let pool = pool();
    let report = send(replay_config(addr, &pool, 1)).await.unwrap();
    // every answer rejects spans, so the run stops after the first few (nothing succeeded)
    assert!(report.requests_failed >= 3, "{report:?}");
    assert_eq!(
        report.errors.get("partial_success").copied(),
        Some(report.requests_failed)
    );
    assert!(
        report
            .first_error
            .unwrap()
            .contains("rejected 7 spans: 7 spans outside")
    );
    server.abort();
}

/// A port that was just free: bind, note it, close.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_down_server_stops_the_replay_with_connect_errors() {
    let started = Instant::now();
    let report = send(replay_config(closed_port(), &pool(), 10))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.spans_acked, 0);
    assert!(
        report.aborted.as_deref().unwrap().contains("cannot reach"),
        "{report:?}"
    );
    assert!(report.errors.get("connect").copied().unwrap_or(0) >= 3);
}

#[tokio::test]
async fn a_replay_needs_a_bound_and_a_protobuf_protocol() {
    let pool = pool();
    let mut unbounded = replay_config(closed_port(), &pool, 1);
    unbounded.max_spans_opt = None;
    assert!(send(unbounded).await.is_err());
    let mut json = replay_config(closed_port(), &pool, 1);
    json.protocol = Protocol::HttpJson;
    assert!(send(json).await.is_err());
}

#[test]
fn the_binary_replays_a_preencoded_pool() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, received, server) = runtime.block_on(start_receiver());
    let output = Command::new(env!("CARGO_BIN_EXE_contrail-loadgen"))
        .args(["send", "--endpoint", &format!("http://{addr}")])
        .args([
            "--preencoded",
            "--pool-batches",
            "3",
            "--batch-spans",
            "200",
        ])
        .args(["--spans", "1500", "--streams", "2", "--quiet"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    let acked = summary["spans_acked"].as_u64().unwrap();
    assert!(acked >= 1500, "{summary}");
    assert_eq!(summary["preencoded"]["requests"], 3, "{summary}");
    assert_eq!(received.spans.load(Ordering::Relaxed), acked);
    // 1,500 spans from a pool of about 600: at least three passes, each with its own IDs
    let per_pass = summary["preencoded"]["spans"].as_u64().unwrap();
    assert!(acked > 2 * per_pass, "{summary}");

    // without a bound the run would never end: refused before anything is generated
    let unbounded = Command::new(env!("CARGO_BIN_EXE_contrail-loadgen"))
        .args([
            "send",
            "--endpoint",
            &format!("http://{addr}"),
            "--preencoded",
        ])
        .output()
        .unwrap();
    assert_eq!(unbounded.status.code(), Some(2));
    runtime.block_on(async { server.abort() });
}
