//! `CrashStore`: a store that "kills its process" before its n-th write: that write and every
//! operation after it fail, as if the compactor had died right there. Reads change nothing, so
//! killing before each write in turn covers every point of a job.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

#[derive(Debug)]
struct CrashState {
    writes_allowed: u64,
    writes: AtomicU64,
    dead: AtomicBool,
}

impl CrashState {
    fn killed() -> object_store::Error {
        object_store::Error::Generic {
            store: "crash",
            source: "the process was killed".into(),
        }
    }

    fn alive(&self) -> object_store::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(Self::killed());
        }
        Ok(())
    }

    fn write(&self) -> object_store::Result<()> {
        self.alive()?;
        if self.writes.fetch_add(1, Ordering::SeqCst) >= self.writes_allowed {
            self.dead.store(true, Ordering::SeqCst);
            return Err(Self::killed());
        }
        Ok(())
    }
}

/// Lets `writes_allowed` writes through, then dies.
#[derive(Debug, Clone)]
pub struct CrashStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<CrashState>,
}

impl CrashStore {
    pub fn new(inner: Arc<dyn ObjectStore>, writes_allowed: u64) -> Self {
        CrashStore {
            inner,
            state: Arc::new(CrashState {
                writes_allowed,
                writes: AtomicU64::new(0),
                dead: AtomicBool::new(false),
            }),
        }
    }

    /// Writes attempted so far (the fatal one included).
    pub fn writes(&self) -> u64 {
        self.state.writes.load(Ordering::SeqCst)
    }

    /// Whether the store died.
    pub fn died(&self) -> bool {
        self.state.dead.load(Ordering::SeqCst)
    }
}

impl fmt::Display for CrashStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrashStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CrashStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.state.write()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.state.write()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.state.alive()?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.state.alive()?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let state = self.state.clone();
        let gated = locations
            .map(move |location| location.and_then(|path| state.write().map(|()| path)))
            .boxed();
        self.inner.delete_stream(gated)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(error) = self.state.alive() {
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.state.alive()?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.state.write()?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.state.write()?;
        self.inner.rename_opts(from, to, options).await
    }
}
