//! [`EngineBlockSearch`]: the [`BlockSearch`] the querier's job pool runs, over `vc1` blocks in
//! the object store. A search job is the TraceQL engine's driver
//! (`contrail_traceql::search`) over one `BlockSpanSource` (the job's block and row groups),
//! evaluating on the storage decode pool; tag jobs are the block half of the tag scan
//! (`contrail_storage::block::v1::tags`), with the `q` filter evaluated by the engine first
//! (`tags`).
//!
//! A metrics job is `contrail_traceql::metrics::run_metrics` over the same source.
//!
//! `BlockReader`s are cached per block (byte-bounded by their footers), so a block's footer is
//! read once however many jobs and queries touch it. Errors name the block: a corrupt block is
//! a `DataCorrupt` error, a block deleted by compaction `NotFound` (the frontend then replans).

mod tags;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_proto::{ErrorCode, TenantId};
use contrail_storage::DecodePool;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::{BlockReader, ReaderOptions, Uuid};
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{QueryPartial, run_metrics};
use contrail_traceql::{SearchOptions, plan_search};
use moka::sync::Cache;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::frontend::{BlockJob, BlockMetricsRequest, BlockSearch, BlockSearchRequest};
use crate::metrics::EngineMetrics;
use crate::service::{TagValuesRequest, TagsRequest};

/// Bytes of cached block readers (their footers: Parquet metadata, page indexes, tables).
const READER_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// What one cached reader costs beyond its footer bytes.
const READER_OVERHEAD_BYTES: u64 = 4 * 1024;

type ReaderKey = (TenantId, Uuid);

/// The engine over block jobs; see the module docs.
pub struct EngineBlockSearch {
    store: Arc<dyn ObjectStore>,
    pool: DecodePool,
    readers: Cache<ReaderKey, Arc<BlockReader>>,
    metrics: EngineMetrics,
}

impl std::fmt::Debug for EngineBlockSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBlockSearch")
            .field("readers", &self.readers.entry_count())
            .field("pool_threads", &self.pool.threads())
            .finish()
    }
}

/// The engine's errors as the querier's: the query's own faults stay 400s, a source's error
/// keeps its code and message (which names the block), a budget overrun is `MemoryBudget`.
pub(crate) fn engine_error(error: contrail_traceql::Error) -> Error {
    match error {
        contrail_traceql::Error::Fetch(fetch) => Error::from(fetch),
        contrail_traceql::Error::Parse { .. }
        | contrail_traceql::Error::Validate { .. }
        | contrail_traceql::Error::Unsupported { .. } => Error::InvalidQuery(error),
        other => Error::Job {
            code: other.code(),
            message: other.to_string(),
        },
    }
}

impl EngineBlockSearch {
    /// The engine over blocks in `store`, decoding and evaluating on `pool`, with its metrics in
    /// `registry`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        pool: DecodePool,
        registry: &prometheus::Registry,
    ) -> Result<Self> {
        let readers = Cache::builder()
            .max_capacity(READER_CACHE_BYTES)
            .weigher(|_key: &ReaderKey, reader: &Arc<BlockReader>| {
                u32::try_from(u64::from(reader.meta().footer_size) + READER_OVERHEAD_BYTES)
                    .unwrap_or(u32::MAX)
            })
            .build();
        Ok(EngineBlockSearch {
            store,
            pool,
            readers,
            metrics: EngineMetrics::new(registry)?,
        })
    }

    /// The cached reader of `job`'s block (opened, without IO, on a miss).
    pub(crate) fn reader(&self, job: &BlockJob) -> Result<Arc<BlockReader>> {
        let key = (job.tenant.clone(), job.meta.block_id);
        if let Some(reader) = self.readers.get(&key) {
            self.metrics.readers.with_label_values(&["hit"]).inc();
            return Ok(reader);
        }
        self.metrics.readers.with_label_values(&["miss"]).inc();
        let options = ReaderOptions {
            pool: self.pool.clone(),
            ..ReaderOptions::default()
        };
        let reader = Arc::new(BlockReader::open_with(
            self.store.clone(),
            (*job.meta).clone(),
            options,
        )?);
        self.readers.insert(key, reader.clone());
        Ok(reader)
    }

    /// The decode pool evaluation runs on.
    pub(crate) fn pool(&self) -> &DecodePool {
        &self.pool
    }

    /// Counts one finished job.
    fn observe<T>(&self, method: &str, started: Instant, result: &Result<T>) {
        let status = match result {
            Ok(_) => "ok",
            Err(error) => error_status(error.code()),
        };
        self.metrics.jobs.with_label_values(&[method, status]).inc();
        self.metrics
            .job_duration
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
    }

    async fn run_search(
        &self,
        job: &BlockJob,
        request: &BlockSearchRequest,
        budget: &MemoryBudget,
    ) -> Result<SearchResponse> {
        let options = SearchOptions {
            start_unix_nano: request.start_unix_nano,
            end_unix_nano: request.end_unix_nano,
            limit: (request.limit as usize).max(1),
            spans_per_spanset: request.spans_per_span_set as usize,
            most_recent: false,
        };
        let plan = Arc::new(plan_search(&request.root, options).map_err(engine_error)?);
        let reader = self.reader(job)?;
        let sources: Vec<Arc<dyn SpanSource>> = vec![Arc::new(BlockSpanSource::new(
            reader,
            job.row_groups.clone(),
        ))];
        let outcome = contrail_traceql::search(&plan, &sources, &self.pool, budget)
            .await
            .map_err(engine_error)?;
        Ok(outcome.response)
    }

    async fn run_metrics(
        &self,
        job: &BlockJob,
        request: &BlockMetricsRequest,
        budget: &MemoryBudget,
    ) -> Result<QueryPartial> {
        let reader = self.reader(job)?;
        let sources: Vec<Arc<dyn SpanSource>> = vec![Arc::new(BlockSpanSource::new(
            reader,
            job.row_groups.clone(),
        ))];
        let outcome = run_metrics(&request.compiled, &sources, &self.pool, budget)
            .await
            .map_err(engine_error)?;
        Ok(outcome.partial)
    }
}

fn error_status(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "not_found",
        ErrorCode::DataCorrupt => "corrupt",
        ErrorCode::BadRequest | ErrorCode::TooLarge => "bad_request",
        _ => "error",
    }
}

#[async_trait]
impl BlockSearch for EngineBlockSearch {
    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, block_id = %job.meta.block_id))]
    async fn search(
        &self,
        job: &BlockJob,
        request: &BlockSearchRequest,
        budget: &MemoryBudget,
    ) -> Result<SearchResponse> {
        let started = Instant::now();
        let result = self.run_search(job, request, budget).await;
        self.observe("search", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, block_id = %job.meta.block_id))]
    async fn tag_names(
        &self,
        job: &BlockJob,
        request: &TagsRequest,
    ) -> Result<SearchTagsV2Response> {
        let started = Instant::now();
        let result = tags::tag_names(self, job, request).await;
        self.observe("tag_names", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, block_id = %job.meta.block_id))]
    async fn tag_values(
        &self,
        job: &BlockJob,
        request: &TagValuesRequest,
    ) -> Result<SearchTagValuesV2Response> {
        let started = Instant::now();
        let result = tags::tag_values(self, job, request).await;
        self.observe("tag_values", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, block_id = %job.meta.block_id))]
    async fn metrics(
        &self,
        job: &BlockJob,
        request: &BlockMetricsRequest,
        budget: &MemoryBudget,
    ) -> Result<QueryPartial> {
        let started = Instant::now();
        let result = self.run_metrics(job, request, budget).await;
        self.observe("metrics", started, &result);
        result
    }
}
