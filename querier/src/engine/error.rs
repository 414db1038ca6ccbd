//! The engine's errors as the querier's [`Error`].

use crate::error::Error;

/// The engine's errors as the querier's: the query's own faults stay 400s, a source's error
/// keeps its code and message (which names the block), a budget overrun is `MemoryBudget`.
pub(crate) fn engine_error(error: contrail_traceql::Error) -> Error {
    match error {
        contrail_traceql::Error::Fetch(fetch) => Error::from(fetch),
        contrail_traceql::Error::Parse { .. }
        | contrail_traceql::Error::Validate { .. }
        | contrail_traceql::Error::Unsupported { .. } => Error::InvalidQuery(error),
        other => Error::Job {
            code: other.code(),
            message: other.to_string(),
        },
    }
}
