//! The conversion error of the row layer.

/// A conversion failure: invalid input on the write path, undecodable rows on the read path.
/// The block layer wraps it with the block and object it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RowsError {
    message: String,
}

impl RowsError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        RowsError {
            message: message.into(),
        }
    }
}

impl From<arrow::error::ArrowError> for RowsError {
    fn from(error: arrow::error::ArrowError) -> Self {
        RowsError::new(error.to_string())
    }
}
