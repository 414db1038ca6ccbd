//! TraceQL search over the recent data of one tenant (`SearchRecent`): the live, head and
//! flushing traces become lazily decoded units (see `recent_units`: traces the query's
//! needles rule out are skipped undecoded, the rest is decoded newest first), the local
//! complete blocks (uploaded, kept under `<wal>/blocks` for `complete_block_timeout`) become
//! `BlockSpanSource`s, and the engine's driver searches them all at once, so a span is found
//! from its ack until the querier's blocklist poll and backend window cover its block. A trace
//! with spans both in memory and in a block is joined by the driver (split traces); the
//! querier merges the ingesters' answers with the blocks' by trace ID.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::{ErrorCode, TenantId, TraceId, tempopb};
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_traceql::fetch::{
    FetchError, FetchOutput, FetchRequest, MemoryBudget, SecondPassBatch, SecondPassRequest,
    SpanSource,
};
use contrail_traceql::needles::Needles;
use contrail_traceql::{CpuRunError, CpuRunner};
use contrail_traceql::{MemoryTrace, SearchOptions, plan_search, search};

use crate::cpu::CpuPool;
use crate::error::{Error, Result};
use crate::reads::RecentSnapshot;
use crate::recent_units::{Grouped, RecentGroup, groups, readmit, units};
use crate::service::Ingester;

/// Bytes one search over recent data may hold (fetched spans and results).
const SEARCH_MEMORY_BYTES: usize = 256 * 1024 * 1024;

#[async_trait]
impl CpuRunner for CpuPool {
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), CpuRunError> {
        CpuPool::run(self, job).await.map_err(|error| CpuRunError {
            message: error.to_string(),
        })
    }
}

pub(crate) fn search_error(error: contrail_traceql::Error) -> Error {
    Error::Search {
        source: Box::new(error),
    }
}

/// Tempo's search parameters as the engine's options: `start`/`end` in seconds (0 = open),
/// `limit` 0 = 20, `spss` 0 = 3.
fn options(request: &tempopb::SearchRequest) -> SearchOptions {
    let defaults = SearchOptions::default();
    SearchOptions {
        start_unix_nano: u64::from(request.start) * 1_000_000_000,
        end_unix_nano: match request.end {
            0 => defaults.end_unix_nano,
            end => u64::from(end) * 1_000_000_000,
        },
        limit: match request.limit {
            0 => defaults.limit,
            limit => limit as usize,
        },
        spans_per_spanset: match request.spans_per_span_set {
            0 => defaults.spans_per_spanset,
            spss => spss as usize,
        },
        most_recent: false,
    }
}

impl Ingester {
    /// Runs a TraceQL search (`request.query`; empty = `{}`) over the tenant's recent traces.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn search_recent(
        &self,
        tenant: &TenantId,
        request: &tempopb::SearchRequest,
    ) -> Result<tempopb::SearchResponse> {
        if request.query.trim().is_empty() && !request.tags.is_empty() {
            return Err(Error::BadRequest {
                message: "tag-based search is not supported; send a traceql query".to_owned(),
            });
        }
        let query = if request.query.trim().is_empty() {
            "{}"
        } else {
            request.query.as_str()
        };
        let root = contrail_traceql::parse(query).map_err(search_error)?;
        let options = options(request);
        let plan = Arc::new(plan_search(&root, options.clone()).map_err(search_error)?);
        let end = if options.end_unix_nano == u64::MAX {
            0
        } else {
            options.end_unix_nano
        };
        let snapshot = self.recent(tenant, options.start_unix_nano, end);
        let runner: Arc<dyn CpuRunner> = Arc::new(self.inner.cpu.clone());
        let mut sources: Vec<Arc<dyn SpanSource>> = block_sources(&snapshot);
        let needles = plan.fetch.as_ref().map_or(Needles::Unknown, Needles::of);
        let traces = snapshot.traces;
        let block_trace_ids = snapshot.block_trace_ids.clone();
        let grouped = self
            .inner
            .cpu
            .run(move || groups(&traces, &needles, &block_trace_ids))
            .await?;
        let groups = readmit_by_bloom(grouped, &snapshot.blocks, &snapshot.block_trace_ids).await?;
        for unit in units(groups, runner.clone()) {
            sources.push(Arc::new(unit));
        }
        let budget = MemoryBudget::new(SEARCH_MEMORY_BYTES);
        let outcome = search(&plan, &sources, runner.as_ref(), &budget)
            .await
            .map_err(search_error)?;
        Ok(outcome.response)
    }
}

/// The kept groups, with the doubtful ones a block found on disk at start-up may hold a
/// portion of (its bloom filter, read from local disk).
async fn readmit_by_bloom(
    grouped: Grouped,
    blocks: &[Arc<BlockReader>],
    block_trace_ids: &[Option<Arc<[TraceId]>>],
) -> Result<Vec<RecentGroup>> {
    if grouped.doubtful.is_empty() {
        return Ok(grouped.kept);
    }
    let mut doubtful: Vec<TraceId> = grouped.doubtful.iter().map(RecentGroup::trace_id).collect();
    doubtful.sort_unstable();
    let mut may_hold = HashSet::new();
    for (block, ids) in blocks.iter().zip(block_trace_ids) {
        if ids.is_some() {
            continue;
        }
        match block.may_contain_any(&doubtful).await {
            Ok(found) => may_hold.extend(found),
            // unknown content: every doubtful trace may have a portion there
            Err(error) => {
                tracing::warn!(error = %error, "cannot read a local block's bloom filter");
                may_hold.extend(doubtful.iter().copied());
            }
        }
    }
    Ok(readmit(grouped, &may_hold))
}

/// A local complete block as a search unit. Its files are deleted once it passes
/// `complete_block_timeout` (it is in the object store by then), possibly while a search reads
/// it: a first pass that finds them gone answers nothing instead of failing the search.
struct LocalBlockSource {
    inner: BlockSpanSource,
}

#[async_trait]
impl SpanSource for LocalBlockSource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        match self.inner.fetch(request, budget).await {
            Err(error) if error.code() == ErrorCode::NotFound => {
                tracing::warn!(error = %error, "local block vanished during a search");
                Ok(FetchOutput::default())
            }
            other => other,
        }
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        self.inner.fetch_second_pass(request, budget).await
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        self.inner.latest_start_unix_nano()
    }
}

/// The local complete blocks of `snapshot`, each as one unit over all its row groups.
pub(crate) fn block_sources(snapshot: &RecentSnapshot) -> Vec<Arc<dyn SpanSource>> {
    snapshot
        .blocks
        .iter()
        .map(|reader| {
            let row_groups = reader.meta().row_groups.len();
            Arc::new(LocalBlockSource {
                inner: BlockSpanSource::new(reader.clone(), 0..row_groups),
            }) as Arc<dyn SpanSource>
        })
        .collect()
}

impl Ingester {
    /// The snapshot's in-memory traces decoded as OTLP (on the CPU pool).
    pub(crate) async fn memory_traces(&self, snapshot: RecentSnapshot) -> Result<Vec<MemoryTrace>> {
        self.inner
            .cpu
            .run(move || {
                snapshot
                    .traces
                    .iter()
                    .filter_map(|recent| recent.decode())
                    .map(|trace| MemoryTrace {
                        trace_id: trace.trace_id,
                        resource_spans: trace.resource_spans,
                    })
                    .collect()
            })
            .await
    }
}
