//! The `contrail` binary as a user runs it: `--version`, `-config.verify` exit codes, clear
//! errors, and `-target=distributor` end to end: OTLP in over gRPC, segments out to a (fake)
//! remote ingester found through the ring, `/ready` and `/metrics`, SIGTERM → exit 0.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use contrail_proto::internal::v1::ingester_service_server::{
    IngesterService, IngesterServiceServer,
};
use contrail_proto::internal::v1::{
    FindTraceByIdRequest, FindTraceByIdResponse, PushRequest, PushResponse, SearchRecentRequest,
    SearchTagValuesRecentRequest, SearchTagsRecentRequest,
};
use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_ring::{INGESTER_HEALTH_SERVICE, health_service};
use tonic::{Request, Response, Status};

fn contrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_contrail"))
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    contrail()
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("contrail runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_is_printed() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains(contrail::VERSION));
}

#[test]
fn config_verify_accepts_the_repository_config_and_every_conformance_config() {
    let output = run(&["-config.verify"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("./tempo.yaml: valid"));
    let dir = repo_root().join("../shared/conformance/tempo-configs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: ../shared/conformance/tempo-configs is absent");
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let flag = format!("-config.file={}", path.display());
        let output = run(&["-config.verify", &flag]);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            text(&output.stderr)
        );
    }
}

fn write_config(dir: &Path, yaml: &str) -> String {
    let path = dir.join("tempo.yaml");
    std::fs::write(&path, yaml).expect("write config");
    format!("-config.file={}", path.display())
}

#[test]
fn config_verify_fails_naming_the_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = write_config(dir.path(), "server:\n  http_listen_prot: 3200\n");
    let output = run(&["-config.verify", &flag]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("server") && stderr.contains("http_listen_prot"),
        "{stderr}"
    );

    let missing = run(&["-config.verify", "-config.file=/nonexistent/tempo.yaml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("/nonexistent/tempo.yaml"));

    let flag = write_config(dir.path(), "port: ${CONTRAIL_TEST_UNSET_VAR_9:-1}\n");
    let output = run(&["-config.verify", "-config.expand-env", &flag]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "expanded, then `port` is unknown"
    );
    assert!(text(&output.stderr).contains("unknown field `port`"));

    let bad_flag = run(&["-target=metrics-generator"]);
    assert_eq!(bad_flag.status.code(), Some(2), "clap usage error");
}

#[test]
fn targets_that_need_remote_ingesters_fail_naming_the_missing_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = write_config(
        dir.path(),
        &format!(
            "server:\n  http_listen_port: 0\n  grpc_listen_port: 0\nstorage:\n  trace:\n    backend: local\n    local:\n      path: {data}/blocks\n    wal:\n      path: {data}/wal\n",
            data = dir.path().display()
        ),
    );
    for target in ["distributor", "querier", "query-frontend"] {
        let output = run(&[&flag, &format!("-target={target}")]);
        assert_eq!(output.status.code(), Some(1), "{target}");
        assert!(
            text(&output.stderr).contains("distributor.ring.addresses"),
            "{target}: {}",
            text(&output.stderr)
        );
    }
}

/// The Helm chart's checks (helm-python-sdk render + strict lint + Kubernetes schemas, see
/// helm/tests/check_chart.py), then every rendered tempo.yaml through `-config.verify`.
#[test]
fn the_helm_chart_renders_valid_manifests_and_configs_contrail_accepts() {
    let out = tempfile::tempdir().expect("tempdir");
    let checked = Command::new("python3")
        .arg(repo_root().join("helm/tests/check_chart.py"))
        .arg(out.path())
        .output()
        .expect("python3 runs (scripts/test.sh installs the chart checks' packages)");
    assert!(
        checked.status.success(),
        "chart checks failed:\n{}{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
    let mut configs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("rendered configs")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 5, "{configs:?}");
    for config in configs {
        let output = run(&[
            "-config.verify",
            &format!("-config.file={}", config.display()),
        ]);
        assert!(
            output.status.success(),
            "{}: {}",
            config.display(),
            text(&output.stderr)
        );
    }
}

/// An ingester that acknowledges every push and counts the spans.
#[derive(Default)]
struct FakeIngester {
    spans: Mutex<u64>,
}

/// The gRPC face of a [`FakeIngester`] (a local type, so the generated trait can be implemented).
struct FakeIngesterService(Arc<FakeIngester>);

#[async_trait]
impl IngesterService for FakeIngesterService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let spans: u64 = request
            .get_ref()
            .segments
            .iter()
            .map(|segment| u64::from(segment.span_count))
            .sum();
        *self.0.spans.lock().expect("lock") += spans;
        Ok(Response::new(PushResponse::default()))
    }
    async fn find_trace_by_id(
        &self,
        _: Request<FindTraceByIdRequest>,
    ) -> Result<Response<FindTraceByIdResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn search_recent(
        &self,
        _: Request<SearchRecentRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn search_tags_recent(
        &self,
        _: Request<SearchTagsRecentRequest>,
    ) -> Result<Response<SearchTagsV2Response>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn search_tag_values_recent(
        &self,
        _: Request<SearchTagValuesRecentRequest>,
    ) -> Result<Response<SearchTagValuesV2Response>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn query_range_recent(
        &self,
        _request: Request<contrail_proto::internal::v1::QueryRangeRecentRequest>,
    ) -> Result<Response<contrail_proto::internal::v1::MetricsPartial>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Only if the test failed before stopping it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_distributor_target_routes_otlp_to_remote_ingesters_and_stops_on_sigterm() {
    let ingester = Arc::new(FakeIngester::default());
    let ingester_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ingester_address: SocketAddr = ingester_listener.local_addr().expect("address");
    let (reporter, health) = health_service();
    reporter
        .set_service_status(
            INGESTER_HEALTH_SERVICE,
            tonic_health::ServingStatus::Serving,
        )
        .await;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(IngesterServiceServer::new(FakeIngesterService(Arc::clone(
                &ingester,
            ))))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(
                ingester_listener,
            )),
    );

    let (otlp_grpc, otlp_http, api_http, api_grpc) =
        (free_port(), free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = write_config(
        dir.path(),
        &format!(
            "target: distributor\nserver:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {api_http}\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {api_grpc}\n  graceful_shutdown_timeout: 5s\ndistributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{otlp_grpc}\n        http:\n          endpoint: 127.0.0.1:{otlp_http}\n  ring:\n    addresses: [\"{ingester_address}\"]\n    health_check_interval: 100ms\n"
        ),
    );
    let child = contrail()
        .arg(&flag)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("contrail starts");
    let mut running = Running(child);

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http
            .get(format!("http://127.0.0.1:{api_http}/ready"))
            .send()
            .await;
        if ready
            .as_ref()
            .is_ok_and(|response| response.status() == 200)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {ready:?}");
        assert!(
            running.0.try_wait().expect("wait").is_none(),
            "contrail exited early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let echo = http
        .get(format!("http://127.0.0.1:{api_http}/api/echo"))
        .send()
        .await
        .expect("echo");
    assert_eq!(echo.text().await.expect("text"), "echo");

    let request = contrail_loadgen::corpus::Generator::new(Default::default()).next_request(20);
    let spans: u64 = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len() as u64)
        .sum();
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{otlp_grpc}"))
        .await
        .expect("connect");
    client.export(request).await.expect("export acknowledged");
    assert_eq!(*ingester.spans.lock().expect("lock"), spans);

    let metrics = http
        .get(format!("http://127.0.0.1:{api_http}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "contrail_distributor_spans_received_total{{tenant=\"single-tenant\"}} {spans}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("contrail_ring_members{ring=\"ingester\",state=\"healthy\"} 1"));

    let pid = running.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "contrail did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    server.abort();
}
