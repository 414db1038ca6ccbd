//! `RetryStore`: retries transient failures of replayable operations, and cuts off hung ones.
//!
//! Every attempt runs under `attempt_timeout`; the whole operation (attempts and backoffs) under
//! `total_timeout`. Backoff is exponential with full jitter. Only transient failures are retried
//! (5xx, 429, 408, connection errors, timeouts); 4xx, not-found, already-exists and precondition
//! failures never are. Which operations are replayed, and how, is in
//! `docs/adr/003-object-store-decorators.md`; in short:
//! - get / get_ranges / head / list / list_with_delimiter / delete / overwrite put / copy:
//!   replayed on any transient failure;
//! - conditional create (put or copy): replayed; an `AlreadyExists` after an ambiguous failure
//!   (timeout, 5xx) is checked by reading the object back and succeeds if it holds our bytes;
//! - conditional update and rename: replayed only when the request was certainly not sent;
//! - multipart: initiation is replayed; parts are retried inside the HTTP client (and by the
//!   [`RetryPolicy`] installed here), since a part cannot be replayed from outside.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions,
};

mod attempts;
mod list;
mod multipart;

pub use self::attempts::RetrySettings;
pub(crate) use self::attempts::full_jitter_backoff;
use self::attempts::{Attempts, Replay, with_retries};
use self::list::{ListState, open_list};
use self::multipart::{DeadlineUpload, PartRetryPolicy};
use crate::metrics::StorageMetrics;
use crate::transient::Transience;

/// Largest payload a retried conditional create reads back to resolve an ambiguous failure.
const MAX_CREATE_VERIFY_BYTES: u64 = 64 * 1024 * 1024;
/// Concurrent single-object deletes in `delete_stream`.
const DELETE_CONCURRENCY: usize = 10;

/// Retry decorator; see the module docs.
#[derive(Debug)]
pub struct RetryStore<T: ObjectStore> {
    inner: Arc<T>,
    settings: RetrySettings,
    metrics: Option<StorageMetrics>,
    ordered_listing: bool,
}

impl<T: ObjectStore> RetryStore<T> {
    /// Wraps `inner`. `ordered_listing`: the store lists keys in lexicographic order (S3, GCS,
    /// Azure, memory), so a listing that fails midway resumes after the last key it returned;
    /// otherwise only a listing that fails before its first key is retried.
    pub fn new(inner: T, settings: RetrySettings, ordered_listing: bool) -> Self {
        RetryStore {
            inner: Arc::new(inner),
            settings,
            metrics: None,
            ordered_listing,
        }
    }

    /// Counts retries in `contrail_storage_retries_total`.
    pub fn with_metrics(mut self, metrics: StorageMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn attempts(&self, operation: &'static str) -> Attempts {
        Attempts::new(operation, self.settings, self.metrics.clone())
    }

    async fn put_create(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let mut attempts = self.attempts("put");
        let mut ambiguous_failure = false;
        loop {
            let result = attempts
                .run_once(self.inner.put_opts(location, payload.clone(), opts.clone()))
                .await;
            match result {
                Ok(put) => return Ok(put),
                Err(error @ object_store::Error::AlreadyExists { .. }) if ambiguous_failure => {
                    // An earlier attempt may have created it: ours if it holds our bytes.
                    return match self.holds_payload(location, &payload).await {
                        Some(meta) => Ok(PutResult {
                            e_tag: meta.e_tag,
                            version: meta.version,
                            extensions: Default::default(),
                        }),
                        None => Err(error),
                    };
                }
                Err(error) => match attempts.retry_after(&error, Replay::Idempotent).await {
                    Some(Transience::Ambiguous) => ambiguous_failure = true,
                    Some(Transience::NotSent) => {}
                    None => return Err(error),
                },
            }
        }
    }

    /// The object's meta when it exists and its bytes equal `payload`.
    async fn holds_payload(&self, location: &Path, payload: &PutPayload) -> Option<ObjectMeta> {
        let expected_len = u64::try_from(payload.content_length()).ok()?;
        if expected_len > MAX_CREATE_VERIFY_BYTES {
            return None;
        }
        let attempts = self.attempts("get");
        let stored = with_retries(attempts, Replay::Idempotent, || async {
            let result = self.inner.get(location).await?;
            let meta = result.meta.clone();
            Ok((meta, result.bytes().await?))
        })
        .await
        .ok()?;
        let expected: Vec<u8> = payload
            .iter()
            .flat_map(|chunk| chunk.iter().copied())
            .collect();
        (stored.1.as_ref() == expected.as_slice()).then_some(stored.0)
    }

    fn list_retrying(
        &self,
        prefix: Option<&Path>,
        offset: Option<&Path>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.cloned();
        let offset = offset.cloned();
        let stream = open_list(&inner, prefix.as_ref(), offset.as_ref());
        let state = ListState {
            inner,
            prefix,
            resume_after: offset,
            stream,
            attempts: self.attempts("list"),
            yielded_any: false,
            ordered: self.ordered_listing,
            done: false,
        };
        futures::stream::unfold(state, ListState::next).boxed()
    }
}

impl<T: ObjectStore> std::fmt::Display for RetryStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RetryStore({}, {})",
            self.settings.max_attempts, self.inner
        )
    }
}

#[async_trait]
impl<T: ObjectStore> ObjectStore for RetryStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match opts.mode {
            PutMode::Overwrite => {
                with_retries(self.attempts("put"), Replay::Idempotent, || {
                    self.inner.put_opts(location, payload.clone(), opts.clone())
                })
                .await
            }
            PutMode::Create => self.put_create(location, payload, opts).await,
            PutMode::Update(_) => {
                with_retries(self.attempts("put"), Replay::NotSentOnly, || {
                    self.inner.put_opts(location, payload.clone(), opts.clone())
                })
                .await
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let policy = PartRetryPolicy {
            settings: self.settings,
            metrics: self.metrics.clone(),
        };
        let opts = opts.with_retry_policy(Arc::new(policy));
        // Replaying initiation can at worst leave an unused upload behind.
        let upload = with_retries(self.attempts("put_multipart"), Replay::Idempotent, || {
            self.inner.put_multipart_opts(location, opts.clone())
        })
        .await?;
        Ok(Box::new(DeadlineUpload {
            inner: upload,
            deadline: self.settings.total_timeout,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        with_retries(self.attempts("get"), Replay::Idempotent, || {
            self.inner.get_opts(location, options.clone())
        })
        .await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        with_retries(self.attempts("get_ranges"), Replay::Idempotent, || {
            self.inner.get_ranges(location, ranges)
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // One retried delete per location: a bulk request's failure cannot be split per key.
        let inner = Arc::clone(&self.inner);
        let attempts = self.attempts("delete");
        locations
            .map(move |location| {
                let inner = Arc::clone(&inner);
                let attempts = attempts.clone();
                async move {
                    let location = location?;
                    with_retries(attempts, Replay::Idempotent, || inner.delete(&location)).await?;
                    Ok(location)
                }
            })
            .buffered(DELETE_CONCURRENCY)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.list_retrying(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.list_retrying(prefix, Some(offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        with_retries(
            self.attempts("list_with_delimiter"),
            Replay::Idempotent,
            || self.inner.list_with_delimiter(prefix),
        )
        .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let replay = match options.mode {
            CopyMode::Overwrite => Replay::Idempotent,
            CopyMode::Create => Replay::NotSentOnly,
        };
        with_retries(self.attempts("copy"), replay, || {
            self.inner.copy_opts(from, to, options.clone())
        })
        .await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        with_retries(self.attempts("rename"), Replay::NotSentOnly, || {
            self.inner.rename_opts(from, to, options.clone())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
