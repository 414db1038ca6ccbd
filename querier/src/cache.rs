//! [`CachingStore`]: an `ObjectStore` decorator that keeps, within byte bounds, the objects the
//! read path asks for again and again: bloom shards (whole-object GETs of `bloom-N`) and Parquet
//! footers with their page indexes (the suffix GET of `data.parquet` that opens a block). Blocks
//! are immutable and their IDs never reused, so entries never go stale; a block deleted by
//! compaction just stops being asked for and ages out. Everything else passes through.
//!
//! Lookups are counted in `contrail_querier_cache_requests_total{method="footer"|"bloom"}`.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use moka::sync::Cache;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

use crate::config::CacheConfig;
use crate::metrics::QuerierMetrics;

#[derive(Debug)]
struct Cached {
    meta: ObjectMeta,
    range: Range<u64>,
    bytes: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Footer,
    Bloom,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Footer => "footer",
            Kind::Bloom => "bloom",
        }
    }
}

fn weigh(key: &str, value: &Cached) -> u32 {
    u32::try_from(key.len() + value.bytes.len() + 128).unwrap_or(u32::MAX)
}

/// The caching decorator; see the module docs.
pub struct CachingStore {
    inner: Arc<dyn ObjectStore>,
    footers: Cache<String, Arc<Cached>>,
    blooms: Cache<String, Arc<Cached>>,
    metrics: QuerierMetrics,
}

impl std::fmt::Debug for CachingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingStore")
            .field("footer_bytes", &self.footers.weighted_size())
            .field("bloom_bytes", &self.blooms.weighted_size())
            .finish()
    }
}

impl std::fmt::Display for CachingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachingStore({})", self.inner)
    }
}

impl CachingStore {
    /// Wraps `inner` with caches of the sizes in `config`.
    pub fn new(inner: Arc<dyn ObjectStore>, config: &CacheConfig, metrics: QuerierMetrics) -> Self {
        let build = |bytes: u64| {
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|key: &String, value: &Arc<Cached>| weigh(key, value))
                .build()
        };
        CachingStore {
            inner,
            footers: build(config.footer_cache_size.as_u64()),
            blooms: build(config.bloom_cache_size.as_u64()),
            metrics,
        }
    }

    /// Bytes held by the footer and bloom caches (after pending evictions).
    pub fn cached_bytes(&self) -> (u64, u64) {
        self.footers.run_pending_tasks();
        self.blooms.run_pending_tasks();
        (self.footers.weighted_size(), self.blooms.weighted_size())
    }

    fn classify(location: &Path, options: &GetOptions) -> Option<(Kind, String)> {
        let plain = !options.head
            && options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none();
        if !plain {
            return None;
        }
        let name = location.filename()?;
        match (&options.range, name) {
            (None, name) if name.starts_with("bloom-") => Some((Kind::Bloom, location.to_string())),
            (Some(GetRange::Suffix(bytes)), contrail_storage::block::DATA_OBJECT) => {
                Some((Kind::Footer, format!("{location}#-{bytes}")))
            }
            _ => None,
        }
    }

    fn cache(&self, kind: Kind) -> &Cache<String, Arc<Cached>> {
        match kind {
            Kind::Footer => &self.footers,
            Kind::Bloom => &self.blooms,
        }
    }

    fn record(&self, kind: Kind, hit: bool) {
        let status = if hit { "hit" } else { "miss" };
        self.metrics
            .cache_requests
            .with_label_values(&[kind.label(), status])
            .inc();
        self.metrics
            .cache_bytes
            .with_label_values(&[kind.label()])
            .set(i64::try_from(self.cache(kind).weighted_size()).unwrap_or(i64::MAX));
    }
}

fn result_of(cached: &Cached) -> GetResult {
    let bytes = cached.bytes.clone();
    GetResult {
        payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
        meta: cached.meta.clone(),
        range: cached.range.clone(),
        attributes: Default::default(),
        extensions: Default::default(),
    }
}

#[async_trait]
impl ObjectStore for CachingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let Some((kind, key)) = Self::classify(location, &options) else {
            return self.inner.get_opts(location, options).await;
        };
        if let Some(cached) = self.cache(kind).get(&key) {
            self.record(kind, true);
            return Ok(result_of(&cached));
        }
        let result = self.inner.get_opts(location, options).await?;
        let meta = result.meta.clone();
        let range = result.range.clone();
        let bytes = result.bytes().await?;
        let cached = Arc::new(Cached { meta, range, bytes });
        self.cache(kind).insert(key, cached.clone());
        self.record(kind, false);
        Ok(result_of(&cached))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
