//! W4 (../shared/BENCHMARKS.md): trace by ID over 1,000 blocks with warm footer and bloom caches,
//! on local disk and on an S3 protocol server on loopback (s3s + s3s-fs, through the storage
//! crate's full decorator stack). Prints p50/p90/p99/max latency of `Querier::find_trace_by_id`
//! and the object-store GETs per lookup, split by object (bloom shard, footer, pages).
//!
//! `cargo bench -p contrail-querier --bench trace_by_id -- [local] [s3] [--blocks N]
//! [--traces-per-block N] [--lookups N] [--bloom-fp RATE]`

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::tempopb::{
    SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesV2Response,
    SearchTagsRequest, SearchTagsV2Response, Trace,
};
use contrail_proto::{SystemClock, TenantId, TraceId};
use contrail_querier::frontend::{BlockJob, BlockSearch, BlockSearchRequest};
use contrail_querier::recent::RecentData;
use contrail_querier::service::{QueryMode, TagValuesRequest, TagsRequest, TraceByIdRequest};
use contrail_querier::trace_by_id::StaticLimits;
use contrail_querier::{Querier, QuerierArgs, QuerierConfig, QueryFrontendConfig, QueryService};
use contrail_storage::block::{BlockWriter, BlockWriterConfig};
use contrail_storage::config::{Backend, RequestConfig, Secret, TraceStorageConfig};
use contrail_storage::convert::{Trace as BlockTrace, split_by_trace};
use contrail_traceql::fetch::MemoryBudget;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// Counts GETs reaching the backend, by object.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    bloom: AtomicU64,
    footer: AtomicU64,
    pages: AtomicU64,
    other: AtomicU64,
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

impl CountingStore {
    fn counts(&self) -> [u64; 4] {
        [&self.bloom, &self.footer, &self.pages, &self.other].map(|c| c.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
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
        let name = location.filename().unwrap_or("");
        let counter = if name.starts_with("bloom-") {
            &self.bloom
        } else if name == "data.parquet" && matches!(options.range, Some(GetRange::Suffix(_))) {
            &self.footer
        } else if name == "data.parquet" {
            &self.pages
        } else {
            &self.other
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.pages.fetch_add(ranges.len() as u64, Ordering::SeqCst);
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

struct NoIngesters;

#[async_trait]
impl RecentData for NoIngesters {
    async fn find_trace_by_id(
        &self,
        _: &TenantId,
        _: &TraceId,
    ) -> contrail_querier::Result<Vec<Trace>> {
        Ok(Vec::new())
    }
    async fn search(
        &self,
        _: &TenantId,
        _: &SearchRequest,
    ) -> contrail_querier::Result<Vec<SearchResponse>> {
        Ok(Vec::new())
    }
    async fn search_tags(
        &self,
        _: &TenantId,
        _: &SearchTagsRequest,
    ) -> contrail_querier::Result<Vec<SearchTagsV2Response>> {
        Ok(Vec::new())
    }
    async fn search_tag_values(
        &self,
        _: &TenantId,
        _: &SearchTagValuesRequest,
    ) -> contrail_querier::Result<Vec<SearchTagValuesV2Response>> {
        Ok(Vec::new())
    }
    async fn query_range(
        &self,
        _: &TenantId,
        _: &contrail_proto::internal::v1::MetricsJobRequest,
    ) -> contrail_querier::Result<Vec<contrail_proto::internal::v1::MetricsPartial>> {
        Ok(Vec::new())
    }
}

/// Trace by ID never runs block jobs.
struct NoBlockSearch;

#[async_trait]
impl BlockSearch for NoBlockSearch {
    async fn search(
        &self,
        _: &BlockJob,
        _: &BlockSearchRequest,
        _: &MemoryBudget,
    ) -> contrail_querier::Result<SearchResponse> {
        Err(contrail_querier::Error::internal(
            "not used by this benchmark",
        ))
    }
    async fn tag_names(
        &self,
        _: &BlockJob,
        _: &TagsRequest,
    ) -> contrail_querier::Result<SearchTagsV2Response> {
        Err(contrail_querier::Error::internal(
            "not used by this benchmark",
        ))
    }
    async fn tag_values(
        &self,
        _: &BlockJob,
        _: &TagValuesRequest,
    ) -> contrail_querier::Result<SearchTagValuesV2Response> {
        Err(contrail_querier::Error::internal(
            "not used by this benchmark",
        ))
    }
    async fn metrics(
        &self,
        _: &BlockJob,
        _: &contrail_querier::frontend::BlockMetricsRequest,
        _: &MemoryBudget,
    ) -> contrail_querier::Result<contrail_traceql::metrics::QueryPartial> {
        Err(contrail_querier::Error::internal(
            "not used by this benchmark",
        ))
    }
}

struct Settings {
    /// False-positive rate of the blocks' bloom filters (the writer's default is 0.01).
    bloom_false_positive: f64,
    blocks: usize,
    traces_per_block: usize,
    lookups: usize,
    backends: Vec<String>,
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |flag: &str, default: usize| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let mut backends: Vec<String> = args
        .iter()
        .filter(|arg| *arg == "local" || *arg == "s3")
        .cloned()
        .collect();
    if backends.is_empty() {
        backends = vec!["local".into(), "s3".into()];
    }
    let bloom_false_positive = args
        .iter()
        .position(|arg| arg == "--bloom-fp")
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(contrail_storage::block::bloom::DEFAULT_FALSE_POSITIVE);
    Settings {
        bloom_false_positive,
        blocks: number("--blocks", 1000),
        traces_per_block: number("--traces-per-block", 50),
        lookups: number("--lookups", 2000),
        backends,
    }
}

/// An S3 server (s3s + s3s-fs) on 127.0.0.1:0 and the storage config for it.
async fn s3_server(root: &std::path::Path) -> TraceStorageConfig {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use s3s::service::S3ServiceBuilder;
    std::fs::create_dir(root.join("bench")).unwrap();
    let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
    builder.set_auth(s3s::auth::SimpleAuth::from_single(
        "bench-access",
        "bench-secret-key",
    ));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let handler = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let service = service.clone();
                        async move { service.call(request.map(s3s::Body::from)).await }
                    },
                );
                let _closed = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    let mut config = TraceStorageConfig {
        backend: Backend::S3,
        requests: RequestConfig {
            timeout: Duration::from_secs(10),
            ..RequestConfig::default()
        },
        ..TraceStorageConfig::default()
    };
    config.s3.bucket = "bench".into();
    config.s3.endpoint = format!("http://{address}");
    config.s3.region = "us-east-1".into();
    config.s3.access_key = "bench-access".into();
    config.s3.secret_key = Secret::new("bench-secret-key");
    config.s3.insecure = true;
    config.s3.forcepathstyle = true;
    config
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

async fn run(backend: &str, settings: &Settings) {
    let dir = tempfile::tempdir().unwrap();
    let raw: Arc<dyn ObjectStore> = match backend {
        "s3" => {
            let config = s3_server(dir.path()).await;
            contrail_storage::build_object_store(&config, &prometheus::Registry::new()).unwrap()
        }
        _ => Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap()),
    };
    let tenant = TenantId::single_tenant();
    let mut generator = Generator::new(CorpusConfig {
        seed: 4,
        ..CorpusConfig::default()
    });
    let written = Instant::now();
    let mut ids: Vec<TraceId> = Vec::new();
    let mut spans = 0usize;
    for _ in 0..settings.blocks {
        let mut resource_spans = Vec::new();
        for _ in 0..settings.traces_per_block {
            resource_spans.extend(generator.next_trace());
        }
        let mut config = BlockWriterConfig::new(tenant.clone());
        config.bloom_false_positive = settings.bloom_false_positive;
        let mut writer = BlockWriter::new(raw.clone(), config).unwrap();
        for (trace_id, resource_spans) in split_by_trace(resource_spans).unwrap() {
            ids.push(trace_id);
            let trace = BlockTrace {
                trace_id,
                resource_spans,
            };
            spans += trace.span_count();
            writer.push_trace(trace).await.unwrap();
        }
        writer.finish().await.unwrap();
    }
    println!(
        "[{backend}] wrote {} blocks (bloom false-positive rate {}), {} traces, {spans} spans in {:.1}s",
        settings.blocks,
        settings.bloom_false_positive,
        ids.len(),
        written.elapsed().as_secs_f64()
    );
    let counting = Arc::new(CountingStore {
        inner: raw,
        bloom: AtomicU64::new(0),
        footer: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        other: AtomicU64::new(0),
    });
    let registry = prometheus::Registry::new();
    let querier = Querier::new(QuerierArgs {
        querier: QuerierConfig::default(),
        frontend: QueryFrontendConfig::default(),
        store: counting.clone(),
        recent: Arc::new(NoIngesters),
        block_search: Arc::new(NoBlockSearch),
        remote_runner: None,
        limits: Arc::new(StaticLimits {
            max_bytes_per_trace: 0,
        }),
        clock: SystemClock::shared(),
        registry: &registry,
    })
    .unwrap();
    querier.blocklist().refresh(&tenant).await.unwrap();
    let lookup = |trace_id: TraceId| {
        let querier = &querier;
        let tenant = tenant.clone();
        async move {
            let request = TraceByIdRequest {
                trace_id,
                range: Default::default(),
                mode: QueryMode::Blocks,
                block_start: None,
                block_end: None,
            };
            let started = Instant::now();
            let result = querier.find_trace_by_id(&[tenant], request).await.unwrap();
            (started.elapsed(), result.trace.span_count())
        }
    };
    // Warm the caches: one lookup per block (every bloom shard and footer read once).
    for trace_id in ids.iter().step_by(settings.traces_per_block.max(1)) {
        assert!(lookup(*trace_id).await.1 > 0);
    }
    let before = counting.counts();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut latencies = Vec::with_capacity(settings.lookups);
    for _ in 0..settings.lookups {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let trace_id = ids[(state % ids.len() as u64) as usize];
        let (elapsed, found) = lookup(trace_id).await;
        assert!(found > 0, "trace {trace_id:?} not found");
        latencies.push(elapsed);
    }
    let after = counting.counts();
    latencies.sort();
    let per_lookup = |index: usize| (after[index] - before[index]) as f64 / settings.lookups as f64;
    println!(
        "[{backend}] {} lookups over {} blocks (warm caches): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        settings.lookups,
        settings.blocks,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    println!(
        "[{backend}] backend GETs per lookup: bloom {:.3}, footer {:.3}, pages {:.3}, other {:.3}",
        per_lookup(0),
        per_lookup(1),
        per_lookup(2),
        per_lookup(3)
    );
    let cold = counting.counts();
    let (miss_time, miss_spans) = lookup(TraceId::from_array([0x5a; 16])).await;
    let after_miss = counting.counts();
    println!(
        "[{backend}] absent trace: {:.2} ms, {} spans, backend GETs {:?} (bloom, footer, pages, other)",
        miss_time.as_secs_f64() * 1e3,
        miss_spans,
        [0, 1, 2, 3].map(|index| after_miss[index] - cold[index])
    );
}

fn main() {
    let settings = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for backend in &settings.backends {
        runtime.block_on(run(backend, &settings));
    }
}
