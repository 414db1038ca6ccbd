//! Object-store backends and their decorators.
//!
//! [`build_object_store`] turns `storage.trace` ([`TraceStorageConfig`]) into one
//! `Arc<dyn ObjectStore>`: the backend (local, S3, GCS, Azure, memory) under its key prefix,
//! wrapped by `object_store`'s `LimitStore` (concurrency), [`RetryStore`] (timeouts, retries) and
//! [`MeteredStore`] (Prometheus). Each decorator is a plain `ObjectStore`, usable on its own.

mod builder;
pub mod config;
mod metered;
pub mod retry;
mod transient;

pub use builder::{build_object_store, retry_settings};
pub use config::{
    AzureConfig, Backend, ConfigWarning, GcsConfig, LocalConfig, RequestConfig, S3Config, Secret,
    TraceStorageConfig,
};
pub use metered::MeteredStore;
pub use retry::{RequestTimeout, RetrySettings, RetryStore};
