//! Object-store backends and their decorators.
//!
//! [`build_object_store`] turns `storage.trace` ([`crate::config::TraceStorageConfig`]) into one
//! `Arc<dyn ObjectStore>`: the backend (local, S3, GCS, Azure, memory) under its key prefix,
//! wrapped by `object_store`'s `LimitStore` (concurrency), [`RetryStore`] (timeouts, retries) and
//! [`MeteredStore`] (Prometheus). Each decorator is a plain `ObjectStore`, usable on its own.

mod builder;
mod metered;
pub mod retry;

pub use builder::{build_object_store, retry_settings};
pub use metered::MeteredStore;
pub use retry::{RetrySettings, RetryStore};
