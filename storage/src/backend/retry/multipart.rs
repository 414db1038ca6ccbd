//! Multipart uploads under `RetryStore`: deadlines on every call, and a part retry policy for the
//! HTTP stores (a part cannot be replayed from outside the upload).

use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use object_store::retry::{RetryContext, RetryFailure, RetryPolicy};
use object_store::{MultipartUpload, PutPayload, PutResult, UploadPart};

use super::{RetrySettings, full_jitter_backoff};
use crate::metrics::StorageMetrics;
use crate::transient::{RequestTimeout, is_transient_http_status, is_transient_transport};

/// Bounds every part, `complete` and `abort` of a multipart upload by the operation deadline.
#[derive(Debug)]
pub(super) struct DeadlineUpload {
    pub(super) inner: Box<dyn MultipartUpload>,
    pub(super) deadline: Duration,
}

async fn within<T>(
    deadline: Duration,
    future: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    match tokio::time::timeout(deadline, future).await {
        Ok(result) => result,
        Err(_) => Err(RequestTimeout::into_store_error(deadline)),
    }
}

#[async_trait]
impl MultipartUpload for DeadlineUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        within(self.deadline, self.inner.put_part(data)).boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        within(self.deadline, self.inner.complete()).await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        within(self.deadline, self.inner.abort()).await
    }
}

/// Restarts a failed part upload (with fresh credentials and signature) in the HTTP stores,
/// after their own request retries are exhausted.
#[derive(Debug)]
pub(super) struct PartRetryPolicy {
    pub(super) settings: RetrySettings,
    pub(super) metrics: Option<StorageMetrics>,
}

#[async_trait]
impl RetryPolicy for PartRetryPolicy {
    async fn retry(&self, context: RetryContext) -> bool {
        let transient = match context.failure {
            RetryFailure::Status(status) => is_transient_http_status(status.as_u16()),
            RetryFailure::Transport(kind) => is_transient_transport(kind).is_some(),
            _ => false,
        };
        let attempt = u32::try_from(context.attempt).unwrap_or(u32::MAX);
        if !transient || attempt >= self.settings.max_attempts {
            return false;
        }
        let delay = full_jitter_backoff(&self.settings, attempt);
        if context.elapsed + delay >= self.settings.total_timeout {
            return false;
        }
        if let Some(metrics) = &self.metrics {
            metrics.inc_retry("put_part");
        }
        tokio::time::sleep(delay).await;
        true
    }
}
