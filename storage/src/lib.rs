//! Storage: object-store backends (local, S3, GCS, Azure, in-memory) behind `object_store`, with
//! retry, concurrency-limit and metrics decorators; the versioned block format (`vc1`: Parquet
//! data, trace-ID bloom shards, `meta.json` written last); block listing and the tenant index.
//!
//! May depend on `proto` and `traceql` (it implements the engine's fetch trait); never on a
//! service crate or on the `contrail` binary.

pub mod backend;
pub mod block;
pub mod config;
pub mod decode_pool;
pub mod error;
pub mod metrics;
pub mod parquet_query;
mod transient;
mod worker_thread;

pub use backend::build_object_store;
pub use block::v1::convert;
pub use config::{Backend, ConfigWarning, TraceStorageConfig};
pub use decode_pool::DecodePool;
pub use error::{Error, Result};
pub use metrics::StorageMetrics;
pub use transient::RequestTimeout;
