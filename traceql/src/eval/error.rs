//! The run-time error of an evaluation.

/// A run-time error that fails the whole query (spec §7.1, §7.3, §7.6, §8.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
}
