//! The query-frontend: a search (or a tags / tag-values request) is parsed and validated once,
//! its time range split into the recent window (ingesters) and the rest (blocks), the block part
//! cut into jobs of (block, row-group range) of about `target_bytes_per_job`, and the jobs run
//! newest first, at most `concurrent_jobs` at once, on a [`JobRunner`]: the local bounded pool
//! in the single binary, remote queriers in distributed mode. Results merge by trace ID; once the
//! limit is met and no job left can hold a newer trace, the rest is skipped (so the answer is the
//! same as running every job). Progress streams out as diffs.

mod combiner;
mod jobs;
mod query_range;
mod replicas;
mod runner;
mod search;
mod split;
mod tags;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::TenantId;
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_storage::block::BlockMeta;
use contrail_traceql::RootExpr;
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::{MetricsQuery, QueryPartial};

use crate::error::Result;
use crate::service::{TagValuesRequest, TagsRequest};

pub use combiner::SearchCombiner;
pub use jobs::block_jobs;
pub(crate) use query_range::{MetricsDriver, MetricsSettings};
pub use runner::{JobRunner, LocalJobRunner};
pub(crate) use search::{SearchDriver, SearchSettings};
pub use split::{SplitSettings, Windows, split_windows};
pub(crate) use tags::TagsFrontend;

/// One unit of block work: a block and a contiguous range of its row groups.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockJob {
    pub tenant: TenantId,
    pub meta: Arc<BlockMeta>,
    pub row_groups: Range<usize>,
    /// Compressed bytes of those row groups.
    pub bytes: u64,
    /// Earliest span start of those row groups, unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end of those row groups, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Metrics only: blocks read together with `meta` as one unit, through the compactor's
    /// merge (each span counted once, as after compaction): replicated level-0 blocks whose
    /// copies of a span may overlap (ADR 013). Empty for every other job; when set, the job
    /// covers all row groups of every block.
    pub merge_with: Vec<Arc<BlockMeta>>,
}

/// What the block jobs of one search compute.
#[derive(Debug, Clone)]
pub struct BlockSearchRequest {
    /// The TraceQL text (it travels to remote queriers as text).
    pub query: String,
    /// The parsed and validated query.
    pub root: Arc<RootExpr>,
    /// Only traces overlapping this window (unix nanoseconds, inclusive).
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Traces wanted from one job (the job may return fewer, never needs more).
    pub limit: u32,
    pub spans_per_span_set: u32,
}

/// What the block jobs of one metrics query compute.
#[derive(Debug, Clone)]
pub struct BlockMetricsRequest {
    /// The TraceQL text (it travels to remote queriers as text).
    pub query: String,
    /// The compiled query, with the span starts block jobs count (those before the cut
    /// between blocks and recent data).
    pub compiled: Arc<MetricsQuery>,
}

/// Search and tag work over one block job: the engine's driver over the block's span source.
/// Answers must not depend on how a block is cut into jobs (results of jobs merge).
#[async_trait]
pub trait BlockSearch: Send + Sync + 'static {
    /// The matching traces of the job (newest first, at most `request.limit`).
    async fn search(
        &self,
        job: &BlockJob,
        request: &BlockSearchRequest,
        budget: &MemoryBudget,
    ) -> Result<SearchResponse>;

    /// Attribute names in the job's data, by scope.
    async fn tag_names(
        &self,
        job: &BlockJob,
        request: &TagsRequest,
    ) -> Result<SearchTagsV2Response>;

    /// Values of one attribute in the job's data.
    async fn tag_values(
        &self,
        job: &BlockJob,
        request: &TagValuesRequest,
    ) -> Result<SearchTagValuesV2Response>;

    /// The metrics partial of the job's data (it merges exactly with other jobs' partials).
    async fn metrics(
        &self,
        job: &BlockJob,
        request: &BlockMetricsRequest,
        budget: &MemoryBudget,
    ) -> Result<QueryPartial>;
}
