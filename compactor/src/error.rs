//! The compactor's one error type; `Error::code` maps every variant to the wire `ErrorCode`.

use contrail_proto::ErrorCode;

/// The compactor's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `contrail-compactor`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is invalid; `key` is the full YAML path (`compactor.compaction.x`).
    #[error("invalid config {key}: {message}")]
    InvalidConfig { key: String, message: String },

    /// The compactor metrics could not be registered (usually: registered twice in one registry).
    #[error("cannot register compactor metrics: {source}")]
    Metrics {
        #[source]
        source: prometheus::Error,
    },

    /// A storage operation failed (object store, block format).
    #[error(transparent)]
    Storage(#[from] contrail_storage::Error),

    /// Another compactor holds the lease of a job's window.
    #[error("window {window} of tenant {tenant} is leased by {owner} until {expires_at}")]
    LeaseBusy {
        tenant: String,
        window: String,
        owner: String,
        expires_at: String,
    },

    /// This compactor's lease expired or was taken over while a job ran; the job stops before
    /// anything of it becomes visible.
    #[error("lease of window {window} of tenant {tenant} lost: {message}")]
    LeaseLost {
        tenant: String,
        window: String,
        message: String,
    },

    /// A lease object exists but cannot be decoded.
    #[error("corrupt lease {object}: {message}")]
    CorruptLease { object: String, message: String },

    /// An input of a job was compacted or deleted by someone else after the job was planned.
    #[error("block {block_id} of tenant {tenant} is no longer live")]
    InputGone { tenant: String, block_id: String },

    /// The output is visible but not every input could be marked compacted; the next cycle
    /// marks the rest (they are listed in the output's `compactedFrom`).
    #[error("output {output} written but its inputs not all marked compacted: {source}")]
    SwapIncomplete {
        output: String,
        #[source]
        source: Box<contrail_storage::Error>,
    },

    /// The job's time budget ran out or the compactor is shutting down.
    #[error("compaction cancelled: {message}")]
    Cancelled { message: String },
}

impl Error {
    /// The wire kind of the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::Metrics { .. } => ErrorCode::Internal,
            Error::Storage(error) => error.code(),
            Error::LeaseBusy { .. } | Error::LeaseLost { .. } | Error::InputGone { .. } => {
                ErrorCode::Unavailable
            }
            Error::CorruptLease { .. } => ErrorCode::DataCorrupt,
            Error::SwapIncomplete { source, .. } => source.code(),
            Error::Cancelled { .. } => ErrorCode::Unavailable,
        }
    }

    /// The `status` label of a job that failed with this error.
    pub fn status_label(&self) -> &'static str {
        match self {
            Error::InvalidConfig { .. } | Error::Metrics { .. } => "config",
            Error::Storage(error) => match error.code() {
                ErrorCode::DataCorrupt => "corrupt_input",
                ErrorCode::NotFound => "input_gone",
                ErrorCode::Timeout => "store_timeout",
                ErrorCode::Unavailable => "store_unavailable",
                _ => "store_error",
            },
            Error::LeaseBusy { .. } => "lease_busy",
            Error::LeaseLost { .. } => "lease_lost",
            Error::CorruptLease { .. } => "corrupt_lease",
            Error::SwapIncomplete { .. } => "swap_incomplete",
            Error::InputGone { .. } => "input_gone",
            Error::Cancelled { .. } => "cancelled",
        }
    }

    pub(crate) fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            message: message.into(),
        }
    }
}
