//! A real S3 protocol server for the end-to-end tests: s3s + s3s-fs served by hyper on
//! 127.0.0.1:0, one bucket, static credentials; stops when dropped.

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub const ACCESS_KEY: &str = "contrail-e2e-access";
pub const SECRET_KEY: &str = "contrail-e2e-secret-key";
pub const BUCKET: &str = "contrail-e2e";

pub struct TestS3 {
    /// `127.0.0.1:<port>`.
    pub address: String,
    root: tempfile::TempDir,
    server: JoinHandle<()>,
}

impl TestS3 {
    pub async fn start() -> TestS3 {
        let root = tempfile::tempdir().expect("s3 root");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let filesystem = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut builder = S3ServiceBuilder::new(filesystem);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                let service = service.clone();
                connections.spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _closed = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestS3 {
            address,
            root,
            server,
        }
    }

    /// `storage.trace` for this server, as YAML indented under `storage:\n  trace:\n`.
    pub fn storage_yaml(&self) -> String {
        format!(
            "    backend: s3\n    s3:\n      bucket: {BUCKET}\n      endpoint: {address}\n      region: us-east-1\n      access_key: {ACCESS_KEY}\n      secret_key: {SECRET_KEY}\n      insecure: true\n      forcepathstyle: true\n",
            address = self.address
        )
    }

    /// Objects named `name` under the bucket (e.g. every block's `meta.json`).
    pub fn count_objects(&self, name: &str) -> usize {
        fn walk(dir: &std::path::Path, name: &str) -> usize {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, name)
                    } else {
                        usize::from(path.file_name().is_some_and(|file| file == name))
                    }
                })
                .sum()
        }
        walk(&self.root.path().join(BUCKET), name)
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        self.server.abort();
    }
}
