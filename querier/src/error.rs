//! The querier crate's one error type. Messages are returned to API users as they are (plain-text
//! HTTP bodies, gRPC status messages), so parameter errors carry Tempo's wording.

use contrail_proto::{ErrorCode, IdError};

/// The querier crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message Tempo answers a request that ran past `query_frontend.api_timeout` with.
pub const TIMEOUT_MESSAGE: &str = "unable to process request in the configured timeout";

/// Everything that can go wrong on the read path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request parameter is missing or invalid; the message is Tempo's.
    #[error("{message}")]
    BadRequest { message: String },

    /// The TraceQL query does not parse or does not validate (parse errors carry the position).
    #[error("invalid TraceQL query: {0}")]
    InvalidQuery(#[source] contrail_traceql::Error),

    /// The tenant header is missing (multitenancy on) or names an invalid tenant.
    #[error("{0}")]
    Tenant(#[source] IdError),

    /// A trace ID in the path or a parameter is not valid hex of at most 128 bits.
    #[error("{0}")]
    TraceId(#[source] IdError),

    /// The request did not finish within `api_timeout` or the querier's query timeout.
    #[error("{TIMEOUT_MESSAGE}")]
    Timeout,

    /// The query needed more memory than its budget allows.
    #[error(
        "query exceeded its memory budget of {limit_bytes} bytes: narrow the time range or lower the limit"
    )]
    MemoryBudget { limit_bytes: usize },

    /// The tenant already has `max_outstanding_per_tenant` queries running.
    #[error("too many outstanding requests for tenant {tenant}: at most {limit} at once")]
    TooManyOutstanding { tenant: String, limit: usize },

    /// Reading blocks failed (object store unavailable, corrupt block, ...).
    #[error(transparent)]
    Storage(#[from] contrail_storage::Error),

    /// An ingester or a remote querier answered with an error (its code and message).
    #[error("{target}: {message}")]
    Remote {
        target: String,
        code: ErrorCode,
        message: String,
    },

    /// The engine or a data source failed to answer a job.
    #[error("{message}")]
    Job { code: ErrorCode, message: String },

    /// A config value is invalid; `key` is the full YAML path.
    #[error("invalid config {key}: {message}")]
    InvalidConfig { key: String, message: String },

    /// The metrics could not be registered (usually: registered twice in one registry).
    #[error("cannot register querier metrics: {0}")]
    Metrics(#[from] prometheus::Error),

    /// A bug or an unexpected failure inside the querier.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl Error {
    /// The wire kind of the error (HTTP status and gRPC code come from it, in `proto`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadRequest { .. } | Error::TraceId(_) | Error::MemoryBudget { .. } => {
                ErrorCode::BadRequest
            }
            Error::InvalidQuery(error) => match error.code() {
                // Tempo answers queries it cannot run with 400 too.
                ErrorCode::Unsupported => ErrorCode::BadRequest,
                other => other,
            },
            Error::Tenant(error) => error.code(),
            // Tempo answers 503 with `unable to process request in the configured timeout`.
            Error::Timeout => ErrorCode::Unavailable,
            Error::TooManyOutstanding { .. } => ErrorCode::RateLimited,
            Error::Storage(error) => error.code(),
            Error::Remote { code, .. } | Error::Job { code, .. } => *code,
            Error::InvalidConfig { .. } => ErrorCode::BadRequest,
            Error::Metrics(_) | Error::Internal { .. } => ErrorCode::Internal,
        }
    }

    /// A [`Error::BadRequest`] with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
        }
    }

    /// An [`Error::InvalidConfig`] for `key`.
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Internal`] with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// The error for a gRPC status received from `target` (an ingester or a querier).
    pub fn from_status(target: impl Into<String>, status: &tonic::Status) -> Self {
        Error::Remote {
            target: target.into(),
            code: ErrorCode::from_grpc_code(status.code()),
            message: status.message().to_owned(),
        }
    }

    /// The gRPC status this error is answered with (same text as the HTTP body).
    pub fn to_status(&self) -> tonic::Status {
        self.code().to_status(self.to_string())
    }
}

impl From<contrail_traceql::fetch::FetchError> for Error {
    fn from(error: contrail_traceql::fetch::FetchError) -> Self {
        match error {
            contrail_traceql::fetch::FetchError::Budget(budget) => Error::MemoryBudget {
                limit_bytes: budget.limit_bytes,
            },
            contrail_traceql::fetch::FetchError::Source { code, message } => {
                Error::Job { code, message }
            }
        }
    }
}

impl From<contrail_traceql::fetch::BudgetExceeded> for Error {
    fn from(budget: contrail_traceql::fetch::BudgetExceeded) -> Self {
        Error::MemoryBudget {
            limit_bytes: budget.limit_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_tempo_statuses() {
        assert_eq!(
            Error::bad_request("invalid limit").code().http_status(),
            400
        );
        assert_eq!(Error::Timeout.code().http_status(), 503);
        assert_eq!(Error::Timeout.to_string(), TIMEOUT_MESSAGE);
        assert_eq!(
            Error::Tenant(IdError::MissingTenant).code().http_status(),
            401
        );
        assert_eq!(
            Error::TooManyOutstanding {
                tenant: "t".into(),
                limit: 1
            }
            .code()
            .http_status(),
            429
        );
        let budget = Error::MemoryBudget { limit_bytes: 10 };
        assert_eq!(budget.code().http_status(), 400);
        assert!(budget.to_string().contains("memory budget of 10 bytes"));
        assert_eq!(
            budget.to_status().code(),
            tonic::Code::InvalidArgument,
            "gRPC carries the same kind"
        );
    }

    #[test]
    fn unsupported_queries_are_bad_requests() {
        let error = contrail_traceql::parse_and_validate("{ } | rate()");
        if let Err(error) = error {
            let error = Error::InvalidQuery(error);
            assert_eq!(error.code(), ErrorCode::BadRequest);
            assert!(error.to_string().starts_with("invalid TraceQL query: "));
        }
    }
}
