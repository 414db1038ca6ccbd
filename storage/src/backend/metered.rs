//! `MeteredStore`: counts operations, their latency and the bytes moved (see `crate::metrics`).
//!
//! It is the outermost decorator, so it counts what callers asked for: one `get` however many
//! attempts `RetryStore` made underneath. An operation whose future or stream is dropped before
//! it finishes is counted with status `cancelled`.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use futures::stream::{BoxStream, Stream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

use crate::metrics::{StorageMetrics, status_label};

/// Metrics decorator; see the module docs.
#[derive(Debug)]
pub struct MeteredStore<T: ObjectStore> {
    inner: Arc<T>,
    metrics: StorageMetrics,
}

impl<T: ObjectStore> MeteredStore<T> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: T, metrics: StorageMetrics) -> Self {
        MeteredStore {
            inner: Arc::new(inner),
            metrics,
        }
    }
}

impl<T: ObjectStore> std::fmt::Display for MeteredStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeteredStore({})", self.inner)
    }
}

/// Records one operation exactly once: on `finish`, or as `cancelled` when dropped before.
#[derive(Debug)]
struct RequestGuard {
    metrics: StorageMetrics,
    operation: &'static str,
    started: Instant,
    finished: bool,
}

impl RequestGuard {
    fn start(metrics: &StorageMetrics, operation: &'static str) -> Self {
        RequestGuard {
            metrics: metrics.clone(),
            operation,
            started: Instant::now(),
            finished: false,
        }
    }

    fn finish<T>(mut self, result: &object_store::Result<T>) {
        self.record(status_label(result));
    }

    fn record(&mut self, status: &str) {
        if !self.finished {
            self.finished = true;
            let seconds = self.started.elapsed().as_secs_f64();
            self.metrics
                .observe_request(self.operation, status, seconds);
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.record("cancelled");
    }
}

#[async_trait]
impl<T: ObjectStore> ObjectStore for MeteredStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let guard = RequestGuard::start(&self.metrics, "put");
        let length = payload.content_length() as u64;
        let result = self.inner.put_opts(location, payload, opts).await;
        if result.is_ok() {
            self.metrics.add_bytes("put", "write", length);
        }
        guard.finish(&result);
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let guard = RequestGuard::start(&self.metrics, "put_multipart");
        let result = self.inner.put_multipart_opts(location, opts).await;
        guard.finish(&result);
        let upload = result?;
        Ok(Box::new(MeteredUpload {
            inner: upload,
            metrics: self.metrics.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        let guard = RequestGuard::start(&self.metrics, operation);
        let result = self.inner.get_opts(location, options).await;
        guard.finish(&result);
        let mut get = result?;
        if operation == "get" {
            get.payload = match get.payload {
                GetResultPayload::Stream(stream) => GetResultPayload::Stream(
                    CountingStream {
                        inner: stream,
                        metrics: self.metrics.clone(),
                    }
                    .boxed(),
                ),
                file @ GetResultPayload::File(..) => {
                    // Read from local disk by the caller; counted as returned.
                    self.metrics
                        .add_bytes("get", "read", get.range.end - get.range.start);
                    file
                }
            };
        }
        Ok(get)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let guard = RequestGuard::start(&self.metrics, "get_ranges");
        let result = self.inner.get_ranges(location, ranges).await;
        if let Ok(chunks) = &result {
            let total: usize = chunks.iter().map(Bytes::len).sum();
            self.metrics.add_bytes("get_ranges", "read", total as u64);
        }
        guard.finish(&result);
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let metrics = self.metrics.clone();
        let mut since = Instant::now();
        // One observation per location; latency is the time since the previous result.
        self.inner
            .delete_stream(locations)
            .map(move |result| {
                let status = status_label(&result);
                metrics.observe_request("delete", status, since.elapsed().as_secs_f64());
                since = Instant::now();
                result
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        ListStream {
            inner: self.inner.list(prefix),
            guard: Some(RequestGuard::start(&self.metrics, "list")),
        }
        .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        ListStream {
            inner: self.inner.list_with_offset(prefix, offset),
            guard: Some(RequestGuard::start(&self.metrics, "list")),
        }
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let guard = RequestGuard::start(&self.metrics, "list_with_delimiter");
        let result = self.inner.list_with_delimiter(prefix).await;
        guard.finish(&result);
        result
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let guard = RequestGuard::start(&self.metrics, "copy");
        let result = self.inner.copy_opts(from, to, options).await;
        guard.finish(&result);
        result
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let guard = RequestGuard::start(&self.metrics, "rename");
        let result = self.inner.rename_opts(from, to, options).await;
        guard.finish(&result);
        result
    }
}

/// Counts body bytes of a `get` as the caller reads them.
struct CountingStream {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    metrics: StorageMetrics,
}

impl Stream for CountingStream {
    type Item = object_store::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.metrics.add_bytes("get", "read", chunk.len() as u64);
        }
        polled
    }
}

/// Records one `list` when the listing ends, fails, or is dropped.
struct ListStream {
    inner: BoxStream<'static, object_store::Result<ObjectMeta>>,
    guard: Option<RequestGuard>,
}

impl Stream for ListStream {
    type Item = object_store::Result<ObjectMeta>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(guard) = self.guard.take() {
                    guard.finish::<()>(&Ok(()));
                }
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(mut guard) = self.guard.take() {
                    guard.record(if matches!(error, object_store::Error::NotFound { .. }) {
                        "not_found"
                    } else {
                        "error"
                    });
                }
            }
            _ => {}
        }
        polled
    }
}

/// Meters each part (bytes written), `complete` and `abort` of a multipart upload.
#[derive(Debug)]
struct MeteredUpload {
    inner: Box<dyn MultipartUpload>,
    metrics: StorageMetrics,
}

#[async_trait]
impl MultipartUpload for MeteredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let guard = RequestGuard::start(&self.metrics, "put_part");
        let metrics = self.metrics.clone();
        let length = data.content_length() as u64;
        self.inner
            .put_part(data)
            .map(move |result| {
                if result.is_ok() {
                    metrics.add_bytes("put_multipart", "write", length);
                }
                guard.finish(&result);
                result
            })
            .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let guard = RequestGuard::start(&self.metrics, "complete_multipart");
        let result = self.inner.complete().await;
        guard.finish(&result);
        result
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let guard = RequestGuard::start(&self.metrics, "abort_multipart");
        let result = self.inner.abort().await;
        guard.finish(&result);
        result
    }
}
