//! [`PushTarget`]: how the distributor hands trace segments to an ingester, whether the ingester
//! runs in the same process (single-binary mode) or behind gRPC ([`GrpcPushTarget`]).
//!
//! A batch is a list of [`TraceSegment`]s: each holds the spans of one trace, protobuf-encoded once
//! as a `tempopb.Trace` so the distributor can send the same bytes to every replica and the
//! ingester can append them to its WAL without re-encoding (docs/adr/002-internal-grpc.md).

use async_trait::async_trait;
use prost::Message;
use tonic::transport::Channel;

use crate::internal::v1::ingester_service_client::IngesterServiceClient;
use crate::internal::v1::{PushErrorReason, PushRequest, PushResponse, TraceSegment};
use crate::tempopb::Trace;
use crate::{ErrorCode, IdError, TenantId, TraceId};

/// Segments for one tenant, at most one per trace ID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushBatch {
    /// The segments, in the order their outcomes are reported.
    pub segments: Vec<TraceSegment>,
    /// Every segment was checked by this process's distributor as the ingester's flush would
    /// check it, and holds none of the encodings that flush leaves to `prost`
    /// (docs/adr/007-block-writer-speed.md): the flush may index them without checking again.
    /// Never sent over gRPC: a batch received from another process is not checked.
    pub checked: bool,
}

/// What the ingester did with each segment of a [`PushBatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Empty when every segment was accepted, otherwise one reason per segment, in batch order
    /// ([`PushErrorReason::Unspecified`] = accepted).
    pub errors_by_segment: Vec<PushErrorReason>,
}

impl PushOutcome {
    /// Every segment accepted.
    pub fn all_accepted() -> Self {
        Self::default()
    }

    /// Whether every segment was accepted.
    pub fn is_all_accepted(&self) -> bool {
        self.errors_by_segment
            .iter()
            .all(|reason| *reason == PushErrorReason::Unspecified)
    }

    /// `(segment index, reason)` for each rejected segment (e.g. trace too large).
    pub fn rejected(&self) -> impl Iterator<Item = (usize, PushErrorReason)> + '_ {
        self.errors_by_segment
            .iter()
            .enumerate()
            .filter(|(_, reason)| **reason != PushErrorReason::Unspecified)
            .map(|(index, reason)| (index, *reason))
    }
}

/// A push that failed as a whole (nothing in it may be assumed durable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The ingester answered with an error.
    #[error("ingester push failed: {message}")]
    Ingester {
        /// The kind of failure, as the ingester reported it.
        code: ErrorCode,
        /// The ingester's message.
        message: String,
    },
    /// The ingester could not be reached.
    #[error("ingester unreachable: {0}")]
    Unreachable(String),
    /// The ingester's answer does not match the request.
    #[error("invalid ingester push response: {0}")]
    InvalidResponse(String),
}

impl PushError {
    /// The wire error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            PushError::Ingester { code, .. } => *code,
            PushError::Unreachable(_) => ErrorCode::Unavailable,
            PushError::InvalidResponse(_) => ErrorCode::Internal,
        }
    }
}

impl From<tonic::Status> for PushError {
    fn from(status: tonic::Status) -> Self {
        PushError::Ingester {
            code: ErrorCode::from_grpc_code(status.code()),
            message: status.message().to_owned(),
        }
    }
}

impl From<PushError> for tonic::Status {
    fn from(error: PushError) -> Self {
        error.code().to_status(error.to_string())
    }
}

/// Where the distributor sends trace segments. Dyn-compatible so the binary can choose an
/// implementation at start-up (`Arc<dyn PushTarget>`).
#[async_trait]
pub trait PushTarget: Send + Sync + 'static {
    /// Makes `batch` durable for `tenant`. `Ok` means every segment not listed as rejected in the
    /// outcome is durable (WAL-synced) on this target.
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError>;

    /// The refusal a push of about `bytes` bytes of segments for `tenant` gets now, when this
    /// target knows it without a call (an in-process ingester at its memory limit); `None`: the
    /// push may be taken, or the target cannot tell. The distributor asks before it decodes a
    /// request, so that a server refusing pushes refuses them before it pays for the decode.
    fn refusal(&self, _tenant: &TenantId, _bytes: u64) -> Option<PushError> {
        None
    }
}

#[async_trait]
impl<T: PushTarget + ?Sized> PushTarget for std::sync::Arc<T> {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError> {
        (**self).push(tenant, batch).await
    }

    fn refusal(&self, tenant: &TenantId, bytes: u64) -> Option<PushError> {
        (**self).refusal(tenant, bytes)
    }
}

impl TraceSegment {
    /// Encodes the spans of one trace (all with `trace_id`) as a segment, computing its time
    /// range and span count.
    pub fn from_trace(trace_id: TraceId, trace: &Trace) -> Self {
        let spans = trace
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans);
        let mut start_time_unix_nano = u64::MAX;
        let mut end_time_unix_nano = 0;
        let mut span_count: u32 = 0;
        for span in spans {
            start_time_unix_nano = start_time_unix_nano.min(span.start_time_unix_nano);
            end_time_unix_nano = end_time_unix_nano.max(span.end_time_unix_nano);
            span_count = span_count.saturating_add(1);
        }
        if span_count == 0 {
            start_time_unix_nano = 0;
        }
        Self {
            trace_id: bytes::Bytes::copy_from_slice(trace_id.as_bytes()),
            trace: trace.encode_to_vec().into(),
            start_time_unix_nano,
            end_time_unix_nano,
            span_count,
        }
    }

    /// The segment's trace ID (must be 16 bytes).
    pub fn trace_id(&self) -> Result<TraceId, IdError> {
        TraceId::from_ingest_bytes(&self.trace_id)
    }

    /// Decodes the segment's spans.
    pub fn decode_trace(&self) -> Result<Trace, prost::DecodeError> {
        Trace::decode(self.trace.clone())
    }
}

impl PushRequest {
    /// Builds the wire request for `tenant`.
    pub fn new(tenant: &TenantId, batch: PushBatch) -> Self {
        Self {
            tenant: tenant.as_str().to_owned(),
            segments: batch.segments,
        }
    }

    /// Splits a received request into its validated tenant and batch (ingester side).
    pub fn into_parts(self) -> Result<(TenantId, PushBatch), IdError> {
        let tenant = TenantId::new(self.tenant)?;
        Ok((
            tenant,
            PushBatch {
                segments: self.segments,
                checked: false,
            },
        ))
    }
}

impl PushResponse {
    /// The wire response for an outcome (ingester side).
    pub fn from_outcome(outcome: PushOutcome) -> Self {
        let mut response = Self::default();
        if !outcome.is_all_accepted() {
            for reason in outcome.errors_by_segment {
                response.push_errors_by_segment(reason);
            }
        }
        response
    }
}

/// A [`PushTarget`] that reaches a remote ingester over `contrail.internal.v1.IngesterService`.
#[derive(Debug, Clone)]
pub struct GrpcPushTarget {
    client: IngesterServiceClient<Channel>,
}

impl GrpcPushTarget {
    /// Wraps a channel (connected or lazy) to one ingester.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: IngesterServiceClient::new(channel),
        }
    }
}

#[async_trait]
impl PushTarget for GrpcPushTarget {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError> {
        let segment_count = batch.segments.len();
        // Cloning a tonic client clones the channel handle, not the connection.
        let mut client = self.client.clone();
        let response = client
            .push(PushRequest::new(tenant, batch))
            .await
            .map_err(|status| {
                if status.code() == tonic::Code::Unavailable
                    && std::error::Error::source(&status).is_some()
                {
                    PushError::Unreachable(status.message().to_owned())
                } else {
                    PushError::from(status)
                }
            })?;
        let response = response.into_inner();
        if !response.errors_by_segment.is_empty()
            && response.errors_by_segment.len() != segment_count
        {
            return Err(PushError::InvalidResponse(format!(
                "{} segment outcomes for {segment_count} segments",
                response.errors_by_segment.len()
            )));
        }
        let errors_by_segment = response
            .errors_by_segment
            .iter()
            .map(|reason| PushErrorReason::try_from(*reason).unwrap_or(PushErrorReason::Unknown))
            .collect();
        Ok(PushOutcome { errors_by_segment })
    }
}

#[cfg(test)]
mod tests;
