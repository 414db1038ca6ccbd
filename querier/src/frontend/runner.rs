//! Where block jobs run: [`LocalJobRunner`] on this process's bounded pool (the single binary,
//! and the querier side of the job service), or `crate::remote::RemoteJobRunner` on the
//! queriers of a distributed deployment.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::QueryPartial;
use tokio::sync::Semaphore;

use super::{BlockJob, BlockMetricsRequest, BlockSearch, BlockSearchRequest};
use crate::error::{Error, Result};
use crate::service::{TagValuesRequest, TagsRequest};

/// Runs block jobs.
#[async_trait]
pub trait JobRunner: Send + Sync + 'static {
    /// One search job.
    async fn search(
        &self,
        job: BlockJob,
        request: Arc<BlockSearchRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<SearchResponse>;

    /// One tags job.
    async fn tag_names(
        &self,
        job: BlockJob,
        request: Arc<TagsRequest>,
    ) -> Result<SearchTagsV2Response>;

    /// One tag-values job.
    async fn tag_values(
        &self,
        job: BlockJob,
        request: Arc<TagValuesRequest>,
    ) -> Result<SearchTagValuesV2Response>;

    /// One metrics job.
    async fn metrics(
        &self,
        job: BlockJob,
        request: Arc<BlockMetricsRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<QueryPartial>;

    /// How many jobs of one query make progress at once here; a driver keeps no more than this
    /// in flight (and never more than its `concurrent_jobs`). Jobs handed out beyond it would
    /// only queue, and a search queued that way can no longer be skipped once the newer jobs
    /// have filled its limit. `usize::MAX`: no bound of the runner's own.
    fn parallelism(&self) -> usize {
        usize::MAX
    }
}

/// Jobs in flight per CPU on a [`LocalJobRunner`]: two, so that one job's reads overlap another
/// one's decoding.
const LOCAL_JOBS_PER_CPU: usize = 2;

/// Runs jobs in this process, at most `max_concurrent_queries` at once across all queries.
pub struct LocalJobRunner {
    search: Arc<dyn BlockSearch>,
    permits: Arc<Semaphore>,
    parallelism: usize,
}

impl std::fmt::Debug for LocalJobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalJobRunner")
            .field("free_permits", &self.permits.available_permits())
            .finish()
    }
}

impl LocalJobRunner {
    /// A pool of `max_concurrent_queries` over `search`.
    pub fn new(search: Arc<dyn BlockSearch>, max_concurrent_queries: usize) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        LocalJobRunner {
            search,
            permits: Arc::new(Semaphore::new(max_concurrent_queries.max(1))),
            parallelism: (cpus * LOCAL_JOBS_PER_CPU).min(max_concurrent_queries.max(1)),
        }
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("job pool closed"))
    }
}

#[async_trait]
impl JobRunner for LocalJobRunner {
    async fn search(
        &self,
        job: BlockJob,
        request: Arc<BlockSearchRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<SearchResponse> {
        let _permit = self.permit().await?;
        self.search.search(&job, &request, &budget).await
    }

    async fn tag_names(
        &self,
        job: BlockJob,
        request: Arc<TagsRequest>,
    ) -> Result<SearchTagsV2Response> {
        let _permit = self.permit().await?;
        self.search.tag_names(&job, &request).await
    }

    async fn tag_values(
        &self,
        job: BlockJob,
        request: Arc<TagValuesRequest>,
    ) -> Result<SearchTagValuesV2Response> {
        let _permit = self.permit().await?;
        self.search.tag_values(&job, &request).await
    }

    async fn metrics(
        &self,
        job: BlockJob,
        request: Arc<BlockMetricsRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<QueryPartial> {
        let _permit = self.permit().await?;
        self.search.metrics(&job, &request, &budget).await
    }

    fn parallelism(&self) -> usize {
        self.parallelism
    }
}
