//! `TestS3`: s3s + s3s-fs served by hyper on 127.0.0.1:0, with an optional fault injector.
//!
//! Conditional creates (`PUT` with `If-None-Match: *`) are serialized here: s3s-fs 0.14 checks
//! that the object is absent and writes it in two steps, so two concurrent creates of one key
//! could both succeed, which S3, GCS, Azure and local disk never allow. The compactor's window
//! leases rely on exactly one winner (two_compactors found it: both compactors took the same
//! lease generation and compacted the same blocks).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use contrail_storage::config::{Backend, RequestConfig, Secret, TraceStorageConfig};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::faults::{Decision, FaultCounts, FaultPlan, FaultState};

const ACCESS_KEY: &str = "contrail-test-access";
const SECRET_KEY: &str = "contrail-test-secret-key";
const BUCKET: &str = "contrail-test";
/// Per-request timeout the generated config gives the client; `FaultPlan::delay` exceeds it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);

/// An S3 server for one test; stops when dropped.
pub(crate) struct TestS3 {
    /// `http://127.0.0.1:<port>`.
    pub(crate) endpoint: String,
    /// A bucket that exists (created as a directory).
    pub(crate) bucket: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    root: tempfile::TempDir,
    faults: Arc<FaultState>,
    server: JoinHandle<()>,
}

impl TestS3 {
    /// A well-behaved server.
    pub(crate) async fn start() -> TestS3 {
        Self::start_faulty(FaultPlan::none()).await
    }

    /// A server whose answers follow `plan` (see the module docs).
    ///
    /// # Panics
    /// When the tempdir, the bucket directory or the loopback listener cannot be created.
    pub(crate) async fn start_faulty(plan: FaultPlan) -> TestS3 {
        let root = tempfile::tempdir().expect("create the s3 root tempdir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("create the bucket directory");
        let filesystem = s3s_fs::FileSystem::new(root.path()).expect("open s3s-fs root");
        let mut builder = S3ServiceBuilder::new(filesystem);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("listener address");
        let faults = Arc::new(FaultState::new(plan));
        let server = tokio::spawn(serve(listener, service, Arc::clone(&faults)));
        TestS3 {
            endpoint: format!("http://{address}"),
            bucket: BUCKET.to_string(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
            root,
            faults,
            server,
        }
    }

    /// `storage.trace` for this server: backend s3, path-style, plain HTTP, region us-east-1,
    /// client timeout 4 s, quick retries.
    pub(crate) fn config(&self) -> TraceStorageConfig {
        let mut config = TraceStorageConfig {
            backend: Backend::S3,
            requests: RequestConfig {
                timeout: CLIENT_TIMEOUT,
                connect_timeout: Duration::from_secs(2),
                max_attempts: 4,
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
                total_timeout: Duration::from_secs(60),
                ..RequestConfig::default()
            },
            ..TraceStorageConfig::default()
        };
        config.s3.bucket = self.bucket.clone();
        config.s3.endpoint = self.endpoint.clone();
        config.s3.region = "us-east-1".to_string();
        config.s3.access_key = self.access_key.clone();
        config.s3.secret_key = Secret::new(self.secret_key.clone());
        config.s3.insecure = true;
        config.s3.forcepathstyle = true;
        config
    }

    /// The bucket's directory on disk: objects are files under it.
    pub(crate) fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(&self.bucket)
    }

    /// Faults injected so far.
    pub(crate) fn faults(&self) -> FaultCounts {
        self.faults.counts()
    }

    /// Requests received so far, faulty or not.
    pub(crate) fn requests(&self) -> u64 {
        self.faults.requests()
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection task.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, service: S3Service, faults: Arc<FaultState>) {
    let creates = Arc::new(tokio::sync::Mutex::new(()));
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = service.clone();
        let faults = Arc::clone(&faults);
        let creates = Arc::clone(&creates);
        connections.spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                handle(
                    service.clone(),
                    Arc::clone(&faults),
                    Arc::clone(&creates),
                    request,
                )
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // A client that times out closes its connection: not a server error.
            let _closed = builder
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

async fn handle(
    service: S3Service,
    faults: Arc<FaultState>,
    creates: Arc<tokio::sync::Mutex<()>>,
    request: http::Request<Incoming>,
) -> Result<s3s::HttpResponse, s3s::HttpError> {
    match faults.decide() {
        Decision::Forward => {
            let conditional = request.method() == http::Method::PUT
                && request.headers().contains_key(http::header::IF_NONE_MATCH);
            let _one_create_at_a_time = if conditional {
                Some(creates.lock().await)
            } else {
                None
            };
            service.call(request.map(s3s::Body::from)).await
        }
        Decision::Fail => {
            drain(request.into_body()).await;
            Ok(error_response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
            ))
        }
        Decision::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Ok(error_response(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
            ))
        }
    }
}

/// Reads and drops a request body, so the client sees the answer rather than a reset.
async fn drain(mut body: Incoming) {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if frame.is_err() {
            break;
        }
    }
}

fn error_response(status: http::StatusCode, code: &str) -> s3s::HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
         <Message>fault injected by the test server</Message></Error>"
    );
    let mut response = http::Response::new(s3s::Body::from(body));
    *response.status_mut() = status;
    response
}
