//! The ring crate's one error type.

use contrail_proto::ErrorCode;

/// The ring crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in discovery and placement.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is invalid; `key` is the full YAML path.
    #[error("invalid config {key}: {message}")]
    InvalidConfig {
        /// Full key path.
        key: String,
        /// What is wrong, lowercase.
        message: String,
    },
    /// A DNS lookup failed (other than "no such name", which means no members).
    #[error("dns lookup of {name} failed: {message}")]
    Dns {
        /// The name looked up.
        name: String,
        /// The resolver's message.
        message: String,
    },
    /// The system resolver configuration could not be read.
    #[error("cannot configure the dns resolver: {0}")]
    Resolver(String),
    /// The ring metrics could not be registered.
    #[error("cannot register ring metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Error {
    /// The wire error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::Dns { .. } | Error::Resolver(_) => ErrorCode::Unavailable,
            Error::Metrics(_) => ErrorCode::Internal,
        }
    }
}
