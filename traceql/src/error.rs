//! The crate's error type: parse, validation and unsupported errors, with positions for parse
//! errors. Messages are returned to API users unchanged (HTTP 400).

/// What went wrong with a query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The query does not parse. `line` and `col` are 1-based; `col` counts characters.
    #[error("parse error at line {line}, col {col}: {message}")]
    Parse {
        message: String,
        line: usize,
        col: usize,
    },
    /// The query parses but breaks a type or validation rule.
    #[error("invalid query: {message}")]
    Validate { message: String },
    /// The query parses but uses something Contrail (like Tempo) cannot execute.
    #[error("unsupported: {message}")]
    Unsupported { message: String },
    /// A metrics request that cannot run (time range, step, not a metrics query).
    #[error("{message}")]
    MetricsRequest { message: String },
    /// Partial metrics results that cannot be combined or decoded (different queries or
    /// windows, a corrupt or incompatible wire message).
    #[error("invalid metrics partial result: {message}")]
    MetricsPartial { message: String },
    /// The query failed while it ran (integer division by zero, `!` on a missing attribute,
    /// spanset operators over several spansets, ...).
    #[error("query failed: {message}")]
    Query { message: String },
    /// A data source could not answer, or the query ran past its memory budget.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
}

impl From<crate::cpu::CpuRunError> for Error {
    fn from(error: crate::cpu::CpuRunError) -> Self {
        Error::Fetch(error.into())
    }
}

/// The class of an [`Error`], for callers that report it (`contrail-cli traceql check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Parse,
    Validate,
    Unsupported,
    /// A metrics request or partial result problem (not the query text).
    Metrics,
    /// Run-time failures: the query itself, a source, the budget.
    Execution,
}

impl ErrorKind {
    /// `parse`, `validate` or `unsupported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Parse => "parse",
            ErrorKind::Validate => "validate",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Metrics => "metrics",
            ErrorKind::Execution => "execution",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// Whether this is a parse, validation or unsupported error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Parse { .. } => ErrorKind::Parse,
            Error::Validate { .. } => ErrorKind::Validate,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::MetricsRequest { .. } | Error::MetricsPartial { .. } => ErrorKind::Metrics,
            Error::Query { .. } | Error::Fetch(_) => ErrorKind::Execution,
        }
    }

    /// The wire code: every TraceQL error is the client's query, so HTTP 400 / InvalidArgument
    /// (unsupported features: HTTP 400 / Unimplemented). Partial results that do not fit
    /// together are Contrail's fault: Internal.
    pub fn code(&self) -> contrail_proto::ErrorCode {
        match self {
            Error::Parse { .. } | Error::Validate { .. } | Error::MetricsRequest { .. } => {
                contrail_proto::ErrorCode::BadRequest
            }
            Error::Unsupported { .. } => contrail_proto::ErrorCode::Unsupported,
            Error::MetricsPartial { .. } => contrail_proto::ErrorCode::Internal,
            Error::Query { .. } => contrail_proto::ErrorCode::BadRequest,
            Error::Fetch(error) => error.code(),
        }
    }

    /// The message without the position prefix.
    pub fn message(&self) -> String {
        match self {
            Error::Parse { message, .. }
            | Error::Validate { message }
            | Error::Unsupported { message }
            | Error::MetricsRequest { message }
            | Error::MetricsPartial { message }
            | Error::Query { message } => message.clone(),
            Error::Fetch(error) => error.to_string(),
        }
    }

    pub(crate) fn validate(message: impl Into<String>) -> Self {
        Error::Validate {
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported {
            message: message.into(),
        }
    }

    pub(crate) fn metrics_request(message: impl Into<String>) -> Self {
        Error::MetricsRequest {
            message: message.into(),
        }
    }

    pub(crate) fn metrics_partial(message: impl Into<String>) -> Self {
        Error::MetricsPartial {
            message: message.into(),
        }
    }

    /// Builds a parse error at the point where `remaining` bytes of `source` were left.
    pub(crate) fn parse_at(source: &str, remaining: usize, message: String) -> Self {
        let offset = source.len().saturating_sub(remaining);
        let consumed = source.get(..offset).unwrap_or(source);
        let line = 1 + consumed.matches('\n').count();
        let line_start = consumed.rfind('\n').map_or(0, |index| index + 1);
        let col = 1 + consumed[line_start..].chars().count();
        Error::Parse { message, line, col }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
