//! The overrides crate's one error type.

use contrail_proto::ErrorCode;

/// The overrides crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading overrides.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key or value in the `overrides` section (or the per-tenant file) is invalid; `key` is
    /// the full path, e.g. `overrides.defaults.ingestion.rate_limit_bytes`.
    #[error("invalid config {key}: {message}")]
    InvalidConfig {
        /// Full key path.
        key: String,
        /// What is wrong, lowercase.
        message: String,
    },
    /// The per-tenant overrides file could not be read.
    #[error("cannot read per-tenant overrides file {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The overrides metrics could not be registered.
    #[error("cannot register overrides metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Error {
    /// The wire error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::ReadFile { .. } => ErrorCode::Unavailable,
            Error::Metrics(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Turns a `serde_path_to_error` failure under `prefix` into an error naming the full path.
    pub(crate) fn from_path_error(
        prefix: &str,
        error: serde_path_to_error::Error<serde_yaml::Error>,
    ) -> Self {
        let path = error.path().to_string();
        let key = if path == "." || path.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        Error::invalid(key, error.into_inner().to_string())
    }
}
