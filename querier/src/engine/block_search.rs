//! [`EngineBlockSearch`]: the reader cache, search jobs, and the dispatch of tag jobs.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_proto::{ErrorCode, TenantId};
use contrail_storage::DecodePool;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::{BlockReader, ReaderOptions, Uuid};
use contrail_storage::parquet_query::FetchOptions;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{QueryPartial, run_metrics};
use contrail_traceql::{SearchOptions, plan_search};
use moka::sync::Cache;
use object_store::ObjectStore;

use super::error::engine_error;
use super::{merged, tags};
use crate::error::Result;
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
    fetch: FetchOptions,
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
            fetch: FetchOptions::default(),
            readers,
            metrics: EngineMetrics::new(registry)?,
        })
    }

    /// How the column pages of one fetch go to the store (for a local folder:
    /// [`FetchOptions::single_request`], one blocking hop per fetch instead of one per range).
    pub fn with_fetch_options(mut self, fetch: FetchOptions) -> Self {
        self.fetch = fetch;
        self
    }

    /// The cached reader of `job`'s block (opened, without IO, on a miss).
    fn reader(&self, job: &BlockJob) -> Result<Arc<BlockReader>> {
        let key = (job.tenant.clone(), job.meta.block_id);
        if let Some(reader) = self.readers.get(&key) {
            self.metrics.readers.with_label_values(&["hit"]).inc();
            return Ok(reader);
        }
        self.metrics.readers.with_label_values(&["miss"]).inc();
        let options = ReaderOptions {
            pool: self.pool.clone(),
            fetch: self.fetch.clone(),
        };
        let reader = Arc::new(BlockReader::open_with(
            self.store.clone(),
            (*job.meta).clone(),
            options,
        )?);
        self.readers.insert(key, reader.clone());
        Ok(reader)
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
}

impl EngineBlockSearch {
    /// A metrics job: `run_metrics` over the job's row groups (or over the merge of its
    /// blocks, `merged`); its exact partial.
    async fn run_metrics(
        &self,
        job: &BlockJob,
        request: &BlockMetricsRequest,
        budget: &MemoryBudget,
    ) -> Result<QueryPartial> {
        let (reader, row_groups, _scratch) = if job.merge_with.is_empty() {
            (self.reader(job)?, job.row_groups.clone(), None)
        } else {
            let (reader, scratch) =
                merged::merged_reader(self.store.clone(), &self.pool, job, budget).await?;
            (reader, 0..usize::MAX, Some(scratch))
        };
        let sources: Vec<Arc<dyn SpanSource>> =
            vec![Arc::new(BlockSpanSource::new(reader, row_groups))];
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
        let result = match self.reader(job) {
            Ok(reader) => tags::tag_names(reader, &self.pool, job, request).await,
            Err(error) => Err(error),
        };
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
        let result = match self.reader(job) {
            Ok(reader) => tags::tag_values(reader, &self.pool, job, request).await,
            Err(error) => Err(error),
        };
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
