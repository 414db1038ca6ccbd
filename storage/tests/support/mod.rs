//! Test support for `contrail-storage` integration tests: an S3 server inside the test process.
//!
//! Use it from a test file with `mod support;`, inside a tokio runtime:
//!
//! ```ignore
//! let s3 = support::TestS3::start().await;            // s3s + s3s-fs on 127.0.0.1:<random>
//! let config = s3.config();                            // a ready `TraceStorageConfig` (backend s3)
//! let store = build_object_store(&config, &prometheus::Registry::new())?;
//!
//! let plan = support::FaultPlan { error_fraction: 0.2, delay_fraction: 0.05, ..Default::default() };
//! let flaky = support::TestS3::start_faulty(plan).await;  // same server behind a fault injector
//! assert!(flaky.faults().errors > 0);
//! ```
//!
//! - [`TestS3`]: `start()`, `start_faulty(FaultPlan)`, `endpoint`, `bucket`, `access_key`,
//!   `secret_key`, `config()`, `bucket_dir()` (the bucket's directory on disk), `faults()`,
//!   `requests()`. The server stops when the `TestS3` is dropped; its files live in a tempdir.
//! - The server checks SigV4 with the key pair it was given, supports multipart uploads and
//!   conditional creates. Buckets are created as directories (it would otherwise accept writes to
//!   a bucket that was never created).
//! - [`FaultPlan`]: which requests the fault injector answers with a 500 (`error_fraction`) or
//!   holds for `delay` and then answers 503, past the client timeout (`delay_fraction`). The
//!   choice is deterministic, by request counter, so a run is reproducible. Delayed requests are
//!   never forwarded: the store does not see them (a hung server that did not apply the request).
//! - Binds 127.0.0.1 port 0 only; reaches nothing beyond loopback.
#![allow(dead_code)]

mod faults;
mod s3;

#[allow(unused_imports)]
pub(crate) use faults::{FaultCounts, FaultPlan};
pub(crate) use s3::TestS3;
