//! [`IdError`]: why a trace ID, span ID or tenant ID was rejected.

use std::fmt;

use crate::ErrorCode;

/// Longest input echoed back in an error message; longer inputs are cut and marked with `…`.
const MAX_ECHOED_INPUT_CHARS: usize = 64;

/// Which kind of hex identifier an [`IdError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A 128-bit trace ID.
    Trace,
    /// A 64-bit span ID.
    Span,
}

impl IdKind {
    /// The identifier width in bits.
    pub fn bits(self) -> usize {
        match self {
            IdKind::Trace => 128,
            IdKind::Span => 64,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Trace => "trace",
            IdKind::Span => "span",
        })
    }
}

/// An identifier that could not be parsed or validated.
///
/// The messages embed Tempo's wording (`trace IDs can only contain hex characters`,
/// `trace IDs can't be larger than 128 bits`, `no org id`, `unsupported character`, ...) so that
/// HTTP bodies and gRPC status messages match what Tempo clients and the conformance cases expect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The hex string was empty.
    #[error("invalid {kind} id \"\": {kind} IDs can't be empty")]
    EmptyHex {
        /// Trace or span.
        kind: IdKind,
    },
    /// The hex string contains a character that is not `0-9a-fA-F`.
    #[error(
        "invalid {kind} id {input:?}: {kind} IDs can only contain hex characters: invalid character {character:?} at position {position}"
    )]
    NotHex {
        /// Trace or span.
        kind: IdKind,
        /// The offending input (cut to 64 characters).
        input: String,
        /// The first non-hex character.
        character: char,
        /// Its 1-based character position.
        position: usize,
    },
    /// The hex string encodes more bytes than the identifier holds.
    #[error("invalid {kind} id {input:?}: {kind} IDs can't be larger than {} bits", kind.bits())]
    HexTooLong {
        /// Trace or span.
        kind: IdKind,
        /// The offending input (cut to 64 characters).
        input: String,
    },
    /// A binary identifier is empty or longer than the identifier width.
    #[error("invalid {kind} id bytes: {kind} IDs must be 1 to {} bits, received {} bits", kind.bits(), len * 8)]
    BytesLength {
        /// Trace or span.
        kind: IdKind,
        /// The number of bytes received.
        len: usize,
    },
    /// A trace ID on the ingest path is not exactly 16 bytes.
    #[error("trace ids must be 128 bit, received {} bits", len * 8)]
    IngestTraceId {
        /// The number of bytes received.
        len: usize,
    },
    /// A span ID on the ingest path is not exactly 8 bytes, or is all zero.
    #[error("span ids must be 64 bit and not all zero, received {} bits", len * 8)]
    IngestSpanId {
        /// The number of bytes received.
        len: usize,
    },
    /// No tenant was given (missing or empty `X-Scope-OrgID`, or an empty `|` segment).
    #[error("no org id")]
    MissingTenant,
    /// The tenant ID is longer than 150 bytes.
    #[error("invalid tenant id {input:?}: tenant ID is too long: max {max} characters")]
    TenantTooLong {
        /// The offending input (cut to 64 characters).
        input: String,
        /// The maximum length.
        max: usize,
    },
    /// The tenant ID is `.` or `..`.
    #[error("invalid tenant id {input:?}: tenant ID is '.' or '..'")]
    TenantDots {
        /// The offending input.
        input: String,
    },
    /// The tenant ID contains a character outside `a-zA-Z0-9!-_.*'()`.
    #[error(
        "invalid tenant id {input:?}: tenant ID contains unsupported character {character:?} at position {position}"
    )]
    TenantUnsupportedCharacter {
        /// The offending input (cut to 64 characters).
        input: String,
        /// The first unsupported character.
        character: char,
        /// Its 1-based character position.
        position: usize,
    },
}

impl IdError {
    /// The wire error kind: a missing tenant is [`ErrorCode::Unauthenticated`] (HTTP 401, as
    /// Tempo answers `no org id`); every other ID error is [`ErrorCode::BadRequest`].
    pub fn code(&self) -> ErrorCode {
        match self {
            IdError::MissingTenant => ErrorCode::Unauthenticated,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// Cuts `input` for inclusion in an error message, so a huge bad path segment or header cannot
/// blow up logs and responses.
pub(crate) fn echo_input(input: &str) -> String {
    let mut chars = input.char_indices();
    match chars.nth(MAX_ECHOED_INPUT_CHARS) {
        Some((cut_at, _)) => format!("{}…", &input[..cut_at]),
        None => input.to_owned(),
    }
}
