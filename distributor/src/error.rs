//! The distributor's one error type. Messages follow Tempo's where clients match on them
//! (`no org id`, `RATE_LIMITED: ...`, `trace ids must be 128 bit ...`).

use std::time::Duration;

use contrail_proto::{ErrorCode, IdError, PushError};

/// The distributor's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a push can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Multitenancy is on and the request names no tenant.
    #[error("no org id")]
    MissingTenant,
    /// The tenant ID breaks Tempo's rules.
    #[error("{0}")]
    InvalidTenant(IdError),
    /// The body is not a valid OTLP protobuf or JSON payload.
    #[error("{0}")]
    Malformed(String),
    /// A span's trace ID is not 16 bytes.
    #[error("trace ids must be 128 bit, received {bits} bits")]
    InvalidTraceId {
        /// The trace ID's width.
        bits: usize,
    },
    /// A span ID is not 8 bytes or is all zero.
    #[error("span ids must be 64 bit and not all zero, received {bits} bits")]
    InvalidSpanId {
        /// The span ID's width.
        bits: usize,
    },
    /// The (decompressed) body is larger than allowed.
    #[error("request body larger than the {limit_bytes} byte limit")]
    TooLarge {
        /// The limit.
        limit_bytes: u64,
    },
    /// The tenant's ingestion rate limit refused the request.
    #[error("RATE_LIMITED: {message}")]
    RateLimited {
        /// What was exceeded, Tempo's wording.
        message: String,
        /// When retrying may succeed (`None` when the tenant's `retry_info_enabled` is off).
        retry_after: Option<Duration>,
    },
    /// Fewer healthy ingesters than the write quorum.
    #[error("no write quorum: {healthy} healthy ingesters, {quorum} needed")]
    NoQuorum {
        /// Healthy ingesters.
        healthy: usize,
        /// Replicas needed.
        quorum: usize,
    },
    /// The distributor is shutting down and takes no more pushes.
    #[error("distributor is shutting down")]
    ShuttingDown,
    /// Too many replicas failed for some trace to reach the write quorum.
    #[error("write quorum not reached: {0}")]
    QuorumFailed(PushError),
    /// A bug or an unexpected failure (a decode task that died).
    #[error("internal error: {0}")]
    Internal(String),
    /// A config value is invalid; `key` is the full path.
    #[error("invalid config {key}: {message}")]
    InvalidConfig {
        /// Full key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A receiver could not listen on its address.
    #[error("cannot listen on {address} ({receiver}): {source}")]
    Bind {
        /// `otlp grpc` or `otlp http`.
        receiver: &'static str,
        /// The configured endpoint.
        address: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A receiver server failed while running.
    #[error("{receiver} receiver failed: {message}")]
    Serve {
        /// `otlp grpc` or `otlp http`.
        receiver: &'static str,
        /// What happened.
        message: String,
    },
    /// The distributor metrics could not be registered.
    #[error("cannot register distributor metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Error {
    /// The wire error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::MissingTenant => ErrorCode::Unauthenticated,
            Error::InvalidTenant(_)
            | Error::Malformed(_)
            | Error::InvalidTraceId { .. }
            | Error::InvalidSpanId { .. }
            | Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::NoQuorum { .. } | Error::ShuttingDown => ErrorCode::Unavailable,
            Error::QuorumFailed(push_error) => match push_error.code() {
                ErrorCode::RateLimited => ErrorCode::RateLimited,
                _ => ErrorCode::Unavailable,
            },
            Error::Internal(_) | Error::Bind { .. } | Error::Serve { .. } | Error::Metrics(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// How long a client should wait before retrying, when the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::NoQuorum { .. } | Error::ShuttingDown => Some(Duration::from_secs(1)),
            Error::QuorumFailed(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The label of this refusal in `contrail_distributor_requests_refused_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::MissingTenant => "missing_tenant",
            Error::InvalidTenant(_) => "invalid_tenant",
            Error::Malformed(_) => "malformed",
            Error::InvalidTraceId { .. } => "invalid_trace_id",
            Error::InvalidSpanId { .. } => "invalid_span_id",
            Error::TooLarge { .. } => "too_large",
            Error::RateLimited { .. } => "rate_limited",
            Error::NoQuorum { .. } | Error::QuorumFailed(_) => "no_quorum",
            Error::ShuttingDown => "shutting_down",
            Error::Internal(_)
            | Error::InvalidConfig { .. }
            | Error::Bind { .. }
            | Error::Serve { .. }
            | Error::Metrics(_) => "internal_error",
        }
    }

    /// The gRPC status, with `google.rpc.RetryInfo` details when a retry delay is known.
    pub fn to_status(&self) -> tonic::Status {
        let code = self.code().grpc_code();
        match self.retry_after() {
            Some(delay) => {
                use tonic_types::{ErrorDetails, StatusExt};
                tonic::Status::with_error_details(
                    code,
                    self.to_string(),
                    ErrorDetails::with_retry_info(Some(delay)),
                )
            }
            None => tonic::Status::new(code, self.to_string()),
        }
    }
}
