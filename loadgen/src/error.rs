//! The load generator's one error type.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode {} as an OTLP ExportTraceServiceRequest: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: prost::DecodeError,
    },
    #[error("malformed otlp protobuf at byte {offset}: {reason}")]
    Wire { offset: usize, reason: &'static str },
    #[error("no *.pb batch files in {}", dir.display())]
    EmptyCorpus { dir: PathBuf },
    #[error("cannot encode json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot encode otlp json: {0}")]
    OtlpJson(#[from] contrail_proto::otlp_json::OtlpJsonError),
    #[error("benchmark failed: {0}")]
    Bench(String),
    #[error("send failed: {0}")]
    SendFailed(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
