//! The search driver: plans the jobs of one search, runs them newest first with at most
//! `concurrent_jobs` in flight (and no more than the runner can run at once, so that the older
//! jobs are still waiting, and can be skipped, once the newer ones have filled the limit), merges their answers, streams diffs, skips what cannot change the
//! answer, and recovers from blocks compacted away while it runs.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use contrail_proto::tempopb::{SearchRequest as TempoSearchRequest, SearchResponse};
use contrail_proto::{Clock, ErrorCode, TenantId};
use contrail_storage::block::Uuid;
use contrail_traceql::fetch::MemoryBudget;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::jobs::sort_newest_first;
use super::{
    BlockJob, BlockSearchRequest, JobRunner, SearchCombiner, SplitSettings, block_jobs,
    split_windows,
};
use crate::blocklist::Blocklist;
use crate::error::{Error, Result};
use crate::metrics::QuerierMetrics;
use crate::recent::RecentData;
use crate::service::{SearchRequest, SearchStream, SearchUpdate};
use crate::task_stream::TaskStream;

/// Updates queued between the driver and the API adapter.
const UPDATES_IN_FLIGHT: usize = 16;
/// Answers with more traces than this are merged off the async threads.
const OFF_RUNTIME_MERGE_TRACES: usize = 1_000;

/// The driver's settings (`query_frontend.search`, `querier.search`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchSettings {
    pub(crate) split: SplitSettings,
    pub(crate) target_bytes_per_job: u64,
    pub(crate) concurrent_jobs: usize,
    pub(crate) max_query_memory_bytes: usize,
    pub(crate) query_timeout: Duration,
}

/// Runs searches; see the module docs.
pub(crate) struct SearchDriver {
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) runner: Arc<dyn JobRunner>,
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: SearchSettings,
    pub(crate) metrics: QuerierMetrics,
}

enum Outcome {
    Recent(Result<Vec<SearchResponse>>),
    Job(Box<BlockJob>, Result<SearchResponse>),
}

fn to_secs_floor(nanos: u64) -> u32 {
    u32::try_from(nanos / 1_000_000_000).unwrap_or(u32::MAX)
}

fn to_secs_ceil(nanos: u64) -> u32 {
    u32::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u32::MAX)
}

impl SearchDriver {
    /// Starts `request` over `tenants`; the stream owns the work.
    pub(crate) fn search(
        self: &Arc<Self>,
        tenants: Vec<TenantId>,
        request: SearchRequest,
    ) -> SearchStream {
        let (update_tx, update_rx) = mpsc::channel(UPDATES_IN_FLIGHT);
        let driver = self.clone();
        let task = tokio::spawn(async move {
            let timeout = driver.settings.query_timeout;
            let result =
                match tokio::time::timeout(timeout, driver.run(&tenants, &request, &update_tx))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(Error::Timeout),
                };
            let last = result.map(SearchUpdate::Final);
            let _ = update_tx.send(last).await;
        });
        Box::pin(TaskStream::new(update_rx, task))
    }

    fn recent_request(request: &SearchRequest, window: (u64, u64)) -> TempoSearchRequest {
        let (start, end) = if request.range.is_set() {
            (to_secs_floor(window.0), to_secs_ceil(window.1))
        } else {
            (0, 0)
        };
        TempoSearchRequest {
            query: request.query.clone(),
            limit: request.limit,
            spans_per_span_set: request.spans_per_span_set,
            start,
            end,
            ..TempoSearchRequest::default()
        }
    }

    async fn run(
        &self,
        tenants: &[TenantId],
        request: &SearchRequest,
        update_tx: &mpsc::Sender<Result<SearchUpdate>>,
    ) -> Result<SearchResponse> {
        let now = self.clock.now_unix_nanos();
        let windows = split_windows(request.range, now, self.settings.split);
        let budget = Arc::new(MemoryBudget::new(self.settings.max_query_memory_bytes));
        let mut combiner =
            SearchCombiner::new(request.limit, request.spans_per_span_set, budget.clone());
        let mut pending: FuturesUnordered<BoxFuture<'static, Outcome>> = FuturesUnordered::new();
        let mut total_jobs = 0u32;
        if let Some(window) = windows.recent {
            let recent_request = Self::recent_request(request, window);
            for tenant in tenants {
                let recent = self.recent.clone();
                let tenant = tenant.clone();
                let recent_request = recent_request.clone();
                total_jobs += 1;
                pending.push(Box::pin(async move {
                    Outcome::Recent(recent.search(&tenant, &recent_request).await)
                }));
            }
        }
        let mut jobs: VecDeque<BlockJob> = VecDeque::new();
        let mut planned: HashSet<(TenantId, Uuid)> = HashSet::new();
        let block_request = windows.blocks.map(|(start, end)| {
            Arc::new(BlockSearchRequest {
                query: request.query.clone(),
                root: request.root.clone(),
                start_unix_nano: start,
                end_unix_nano: end,
                limit: request.limit,
                spans_per_span_set: request.spans_per_span_set,
            })
        });
        if let Some(block_request) = &block_request {
            let window = (block_request.start_unix_nano, block_request.end_unix_nano);
            let mut all = Vec::new();
            for tenant in tenants {
                let blocks = self.blocklist.blocks(tenant).await?;
                let tenant_jobs = block_jobs(
                    tenant,
                    &blocks.live,
                    window,
                    self.settings.target_bytes_per_job,
                );
                planned.extend(
                    tenant_jobs
                        .iter()
                        .map(|job| (tenant.clone(), job.meta.block_id)),
                );
                all.extend(tenant_jobs);
            }
            sort_newest_first(&mut all);
            jobs.extend(all);
        }
        total_jobs += u32::try_from(jobs.len()).unwrap_or(u32::MAX);
        {
            let metrics = combiner.metrics_mut();
            metrics.total_jobs = total_jobs;
            metrics.total_blocks = u32::try_from(planned.len()).unwrap_or(u32::MAX);
            metrics.total_block_bytes = jobs.iter().map(|job| job.bytes).sum();
        }
        let mut completed = 0u32;
        let mut skipped = 0u32;
        // Recent-data requests count too: they hold the in-process ingester's CPU as well.
        let in_flight = self
            .settings
            .concurrent_jobs
            .min(self.runner.parallelism())
            .max(1);
        loop {
            while pending.len() < in_flight {
                let Some(next_end) = jobs.front().map(|job| job.end_unix_nano) else {
                    break;
                };
                if combiner.can_skip(next_end) {
                    skipped += u32::try_from(jobs.len()).unwrap_or(u32::MAX);
                    self.metrics
                        .jobs
                        .with_label_values(&["skipped"])
                        .inc_by(jobs.len() as u64);
                    jobs.clear();
                    break;
                }
                let (Some(job), Some(block_request)) = (jobs.pop_front(), &block_request) else {
                    break;
                };
                let runner = self.runner.clone();
                let block_request = block_request.clone();
                let budget = budget.clone();
                pending.push(Box::pin(async move {
                    let result = runner.search(job.clone(), block_request, budget).await;
                    Outcome::Job(Box::new(job), result)
                }));
            }
            let Some(outcome) = pending.next().await else {
                break;
            };
            let answers = match outcome {
                Outcome::Recent(answers) => answers?,
                Outcome::Job(job, Ok(answer)) => {
                    self.metrics.jobs.with_label_values(&["ok"]).inc();
                    tracing::trace!(block_id = %job.meta.block_id, "search job done");
                    vec![answer]
                }
                Outcome::Job(job, Err(error)) if error.code() == ErrorCode::NotFound => {
                    self.metrics.jobs.with_label_values(&["compacted"]).inc();
                    let replacements = self
                        .replacements(&job, &mut planned, block_request.as_ref())
                        .await
                        .map_err(|_| error)?;
                    total_jobs += u32::try_from(replacements.len()).unwrap_or(u32::MAX);
                    combiner.metrics_mut().total_jobs = total_jobs;
                    jobs.extend(replacements);
                    sort_newest_first(jobs.make_contiguous());
                    Vec::new()
                }
                Outcome::Job(_, Err(error)) => {
                    self.metrics.jobs.with_label_values(&["error"]).inc();
                    return Err(error);
                }
            };
            completed += 1;
            combiner.metrics_mut().completed_jobs = completed;
            for answer in answers {
                let diff = if answer.traces.len() > OFF_RUNTIME_MERGE_TRACES {
                    // A big answer (thousands of traces) merges on the blocking pool.
                    let (returned, diff) = tokio::task::spawn_blocking(move || {
                        let diff = combiner.add(answer);
                        (combiner, diff)
                    })
                    .await
                    .map_err(|error| Error::internal(format!("merging search results: {error}")))?;
                    combiner = returned;
                    diff?
                } else {
                    combiner.add(answer)?
                };
                if update_tx
                    .send(Ok(SearchUpdate::Progress(diff)))
                    .await
                    .is_err()
                {
                    return Err(Error::internal("search stream closed"));
                }
            }
        }
        combiner.metrics_mut().completed_jobs = completed + skipped;
        Ok(combiner.finish())
    }

    /// After `job`'s block vanished: when the blocklist now knows it compacted, the jobs of the
    /// live blocks not planned before (its replacements); otherwise an error.
    async fn replacements(
        &self,
        job: &BlockJob,
        planned: &mut HashSet<(TenantId, Uuid)>,
        block_request: Option<&Arc<BlockSearchRequest>>,
    ) -> Result<Vec<BlockJob>> {
        let blocks = self.blocklist.refresh(&job.tenant).await?;
        if !blocks.compacted.contains(&job.meta.block_id) {
            return Err(Error::internal("block missing but not compacted"));
        }
        let Some(block_request) = block_request else {
            return Ok(Vec::new());
        };
        let fresh: Vec<_> = blocks
            .live
            .iter()
            .filter(|meta| !planned.contains(&(job.tenant.clone(), meta.block_id)))
            .cloned()
            .collect();
        let window = (block_request.start_unix_nano, block_request.end_unix_nano);
        let new_jobs = block_jobs(
            &job.tenant,
            &fresh,
            window,
            self.settings.target_bytes_per_job,
        );
        planned.extend(
            new_jobs
                .iter()
                .map(|new_job| (job.tenant.clone(), new_job.meta.block_id)),
        );
        Ok(new_jobs)
    }
}
