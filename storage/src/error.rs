//! The storage crate's one error type.
//!
//! Object-store failures keep the operation and the object path, so a log line or an API error
//! says which object failed and how. `Error::code` maps every variant to the wire `ErrorCode`.

use std::time::Duration;

use contrail_proto::ErrorCode;

use crate::transient::RequestTimeout;

/// The storage crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `contrail-storage`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- configuration and start-up ---
    /// A config value is invalid; `key` is the full YAML path (`storage.trace.s3.bucket`).
    #[error("invalid config {key}: {message}")]
    InvalidConfig { key: String, message: String },

    /// The object-store client for a backend could not be built.
    #[error("cannot build the {backend} object store: {source}")]
    BuildBackend {
        backend: &'static str,
        #[source]
        source: object_store::Error,
    },

    /// The local backend's directory could not be created.
    #[error("cannot create local storage directory {path}: {source}")]
    LocalDirectory {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The storage metrics could not be registered (usually: registered twice in one registry).
    #[error("cannot register storage metrics: {source}")]
    Metrics {
        #[source]
        source: prometheus::Error,
    },

    // --- object-store operations ---
    /// The object does not exist.
    #[error("object {path} not found")]
    NotFound {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A conditional create found an object already at the path.
    #[error("object {path} already exists")]
    AlreadyExists {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A conditional update found a different version of the object.
    #[error("precondition failed for object {path}")]
    Precondition {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// An operation did not finish within its deadline, retries included.
    #[error("{operation} of object {path} timed out after {timeout:?}")]
    Timeout {
        operation: &'static str,
        path: String,
        timeout: Duration,
    },

    /// Any other object-store failure, after the retries the store is configured with.
    #[error("{operation} of object {path} failed: {source}")]
    ObjectStore {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    // The block format (`crate::block`) adds its variants below this line.
    /// An object of a block is truncated or undecodable; `object` is its full path
    /// (`<tenant>/<block>/<object>`).
    #[error("corrupt block {object}: {message}")]
    CorruptBlock { object: String, message: String },

    /// The tenant index exists but cannot be decoded.
    #[error("corrupt tenant index {object}: {message}")]
    CorruptTenantIndex { object: String, message: String },

    /// A block's `meta.json` names a format this build cannot read.
    #[error("block {object} has unknown format {format:?}")]
    UnknownBlockFormat { object: String, format: String },

    /// Input given to the block writer is invalid (trace IDs out of order, bad ID lengths).
    #[error("invalid block input: {message}")]
    InvalidBlockInput { message: String },

    /// Encoding or uploading a block's Parquet data failed.
    #[error("cannot write block {object}: {source}")]
    BlockWrite {
        object: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A CPU task of the block format failed (cancelled, or an internal encoding error).
    #[error("block task failed: {message}")]
    BlockTask { message: String },
}

impl Error {
    /// Wraps an `object_store` error with the operation (`get`, `put`, `list`, ...) and the path.
    ///
    /// Not-found, already-exists and precondition failures and the retry layer's timeouts become
    /// their own variants, so callers can match on them.
    pub fn from_store(
        operation: &'static str,
        path: impl std::fmt::Display,
        source: object_store::Error,
    ) -> Self {
        let path = path.to_string();
        match source {
            object_store::Error::NotFound { .. } => Error::NotFound { path, source },
            object_store::Error::AlreadyExists { .. } => Error::AlreadyExists { path, source },
            object_store::Error::Precondition { .. } => Error::Precondition { path, source },
            other => match find_in_chain::<RequestTimeout>(&other) {
                Some(timeout) => Error::Timeout {
                    operation,
                    path,
                    timeout: timeout.elapsed,
                },
                None => Error::ObjectStore {
                    operation,
                    path,
                    source: other,
                },
            },
        }
    }

    /// Builds an [`Error::InvalidConfig`].
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::BuildBackend { .. } | Error::LocalDirectory { .. } | Error::Metrics { .. } => {
                ErrorCode::Internal
            }
            Error::NotFound { .. } => ErrorCode::NotFound,
            // A conflicting write is a logic error on our side, not the caller's.
            Error::AlreadyExists { .. } | Error::Precondition { .. } => ErrorCode::Internal,
            Error::Timeout { .. } => ErrorCode::Timeout,
            Error::ObjectStore { source, .. } => store_error_code(source),
            Error::CorruptBlock { .. }
            | Error::CorruptTenantIndex { .. }
            | Error::UnknownBlockFormat { .. } => ErrorCode::DataCorrupt,
            Error::InvalidBlockInput { .. } => ErrorCode::BadRequest,
            Error::BlockWrite { source, .. } => {
                match find_in_chain::<object_store::Error>(source) {
                    Some(store_error) => store_error_code(store_error),
                    None => ErrorCode::Internal,
                }
            }
            Error::BlockTask { .. } => ErrorCode::Internal,
        }
    }
}

fn store_error_code(source: &object_store::Error) -> ErrorCode {
    match source {
        object_store::Error::NotFound { .. } => ErrorCode::NotFound,
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            ErrorCode::Unsupported
        }
        object_store::Error::InvalidPath { .. } => ErrorCode::BadRequest,
        // Bad credentials or permissions: the store is unusable until an operator fixes it.
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => ErrorCode::Unavailable,
        object_store::Error::Generic { .. } => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}

/// A [`Error::CorruptBlock`] for `object` (a full object path).
pub(crate) fn corrupt_object(object: &str, message: impl std::fmt::Display) -> Error {
    Error::CorruptBlock {
        object: object.to_owned(),
        message: message.to_string(),
    }
}

/// A [`Error::CorruptBlock`] for `object`.
pub(crate) fn corrupt(object: &object_store::path::Path, message: impl std::fmt::Display) -> Error {
    corrupt_object(object.as_ref(), message)
}

/// The first error of type `T` in `error`'s source chain, `error` included.
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: message.to_string().into(),
        }
    }

    #[test]
    fn not_found_maps_to_not_found_and_names_the_path() {
        let source = object_store::Error::NotFound {
            path: "t1/b1/meta.json".into(),
            source: "gone".into(),
        };
        let error = Error::from_store("get", "t1/b1/meta.json", source);
        assert!(matches!(error, Error::NotFound { .. }));
        assert_eq!(error.code(), ErrorCode::NotFound);
        assert_eq!(error.to_string(), "object t1/b1/meta.json not found");
    }

    #[test]
    fn generic_failures_are_unavailable_with_operation_and_path() {
        let error = Error::from_store("put", "t1/b1/data.parquet", generic("connection reset"));
        assert_eq!(error.code(), ErrorCode::Unavailable);
        let message = error.to_string();
        assert!(
            message.starts_with("put of object t1/b1/data.parquet failed"),
            "{message}"
        );
    }

    #[test]
    fn retry_timeouts_become_timeout_errors() {
        let source = object_store::Error::Generic {
            store: "retry",
            source: Box::new(RequestTimeout {
                elapsed: Duration::from_secs(3),
            }),
        };
        let error = Error::from_store("head", "t1/index.json.zst", source);
        assert_eq!(error.code(), ErrorCode::Timeout);
        assert_eq!(
            error.to_string(),
            "head of object t1/index.json.zst timed out after 3s"
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let error = Error::invalid_config("storage.trace.s3.bucket", "must not be empty");
        assert_eq!(error.code(), ErrorCode::BadRequest);
        assert_eq!(
            error.to_string(),
            "invalid config storage.trace.s3.bucket: must not be empty"
        );
    }
}
