//! The ingester's one error type. `Error::code` maps every variant to the wire `ErrorCode`
//! (HTTP status at the distributor, gRPC status on the internal API).

use std::path::PathBuf;

use contrail_proto::{ErrorCode, PushError};

/// The ingester's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `contrail-ingester`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is invalid; `key` is the full YAML path (`ingester.max_block_bytes`).
    #[error("invalid config {key}: {message}")]
    InvalidConfig { key: String, message: String },

    /// The ingester metrics could not be registered (usually: registered twice in one registry).
    #[error("cannot register ingester metrics: {source}")]
    Metrics {
        #[source]
        source: prometheus::Error,
    },

    /// A file or directory of the WAL could not be read or written.
    #[error("wal {operation} {path} failed: {source}")]
    WalIo {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A WAL record in the middle of a segment is corrupt (replay refuses to go on unless
    /// `storage.trace.wal.skip_corrupt_records` is set).
    #[error("corrupt wal record in {path} at byte offset {offset}: {reason}")]
    WalCorrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// An append could not be made durable (write or sync failed, disk full): nothing of the
    /// push is acknowledged.
    #[error("wal append failed: {message}")]
    WalAppend { message: String },

    /// The ingester is starting (WAL replay) or shutting down and takes no pushes.
    #[error("ingester is {state}; not accepting writes")]
    NotAccepting { state: &'static str },

    /// Accepting the push would pass the ingester's memory limit.
    #[error(
        "ingester memory limit reached: {in_memory_bytes} bytes of traces held, limit {limit_bytes}"
    )]
    MemoryLimit {
        in_memory_bytes: u64,
        limit_bytes: u64,
    },

    /// The request is malformed (bad tenant, trace ID of the wrong length, undecodable trace).
    #[error("invalid request: {message}")]
    BadRequest { message: String },

    /// Writing or uploading a block failed.
    #[error("flush of block {block_id} for tenant {tenant} failed: {source}")]
    Flush {
        tenant: String,
        block_id: uuid::Uuid,
        #[source]
        source: Box<contrail_storage::Error>,
    },

    /// Reading a local block failed.
    #[error("read of local block failed: {source}")]
    Storage {
        #[source]
        source: Box<contrail_storage::Error>,
    },

    /// A block flush or upload exceeded `ingester.flush_op_timeout`.
    #[error("flush of block {block_id} for tenant {tenant} timed out")]
    FlushTimeout {
        tenant: String,
        block_id: uuid::Uuid,
    },

    /// A search over recent data failed (bad query, unsupported feature, memory budget).
    #[error("search over recent data failed: {source}")]
    Search {
        #[source]
        source: Box<contrail_traceql::Error>,
    },

    /// A metrics query over recent data failed (bad job, memory budget, unreadable block).
    #[error("metrics query over recent data failed: {source}")]
    RecentMetrics {
        #[source]
        source: Box<contrail_traceql::Error>,
    },

    /// A CPU task on the blocking pool failed (panicked or was cancelled).
    #[error("ingester task failed: {message}")]
    Task { message: String },
}

impl Error {
    /// Builds an [`Error::InvalidConfig`].
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn wal_io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::WalIo {
            operation,
            path: path.into(),
            source,
        }
    }

    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidConfig { .. } | Error::BadRequest { .. } => ErrorCode::BadRequest,
            Error::Metrics { .. } | Error::Task { .. } => ErrorCode::Internal,
            Error::WalIo { .. } | Error::WalAppend { .. } | Error::NotAccepting { .. } => {
                ErrorCode::Unavailable
            }
            Error::WalCorrupt { .. } => ErrorCode::DataCorrupt,
            Error::MemoryLimit { .. } => ErrorCode::RateLimited,
            Error::Flush { source, .. } | Error::Storage { source } => source.code(),
            Error::FlushTimeout { .. } => ErrorCode::Timeout,
            Error::Search { source } | Error::RecentMetrics { source } => source.code(),
        }
    }
}

impl From<Error> for PushError {
    fn from(error: Error) -> Self {
        PushError::Ingester {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        error.code().to_status(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_failures_map_to_the_codes_the_distributor_expects() {
        let full = Error::WalAppend {
            message: "no space left on device".to_owned(),
        };
        assert_eq!(full.code(), ErrorCode::Unavailable);
        let memory = Error::MemoryLimit {
            in_memory_bytes: 10,
            limit_bytes: 8,
        };
        assert_eq!(memory.code(), ErrorCode::RateLimited);
        assert_eq!(memory.code().grpc_code(), tonic::Code::ResourceExhausted);
        let push: PushError = Error::NotAccepting {
            state: "shutting down",
        }
        .into();
        assert_eq!(push.code(), ErrorCode::Unavailable);
        let corrupt = Error::WalCorrupt {
            path: PathBuf::from("/wal/00000000000000000001.wal"),
            offset: 4096,
            reason: "crc mismatch".to_owned(),
        };
        assert_eq!(
            corrupt.to_string(),
            "corrupt wal record in /wal/00000000000000000001.wal at byte offset 4096: crc mismatch"
        );
    }
}
