//! The metrics driver (`/api/metrics/query_range`, `/api/metrics/query`): the query is planned
//! once, its window resolved at the clock, and its span starts cut at
//! `now − query_frontend.metrics.query_backend_after`: spans that started before the cut are
//! counted from the blocks overlapping the window (jobs of a block and a range of its row
//! groups, at most `concurrent_jobs` at once, on the [`JobRunner`]), the later ones by the
//! ingesters (their live traces and local complete blocks). The two sides count disjoint span
//! starts, so a span held by an ingester and also uploaded is counted once; partials merge
//! exactly (ADR 012), so the answer does not depend on how the data is split into jobs.
//!
//! Blocks that may hold copies of the same span (replication factor > 1, before compaction)
//! are read together through the compactor's merge, so each span counts once (ADR 013,
//! `replicas`).
//!
//! A block compacted away while the query runs makes the whole query start over on the
//! refreshed blocklist (its replacement holds spans other jobs may have counted already), at
//! most [`ATTEMPTS`] times.

use std::sync::Arc;
use std::time::Duration;

use contrail_proto::{Clock, ErrorCode, TenantId};
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, MetricsResult, QueryPartial, SpanStarts,
    job_to_proto, wire,
};
use futures::{StreamExt, TryStreamExt};

use super::replicas::metrics_jobs;
use super::{BlockJob, BlockMetricsRequest, JobRunner};
use crate::blocklist::Blocklist;
use crate::error::{Error, Result};
use crate::metrics::QuerierMetrics;
use crate::params::MetricsLimits;
use crate::recent::RecentData;
use crate::service::MetricsQueryRequest;

/// Runs of a query when blocks vanish under it (compaction).
const ATTEMPTS: usize = 3;
/// Partials with more cells than this are merged off the async threads.
const OFF_RUNTIME_MERGE_CELLS: usize = 100_000;

/// The driver's settings (`query_frontend.metrics`, `query_frontend.search`, `querier.search`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricsSettings {
    pub(crate) limits: MetricsLimits,
    pub(crate) query_backend_after: Duration,
    pub(crate) target_bytes_per_job: u64,
    pub(crate) concurrent_jobs: usize,
    pub(crate) max_query_memory_bytes: usize,
    pub(crate) query_timeout: Duration,
}

/// Runs metrics queries; see the module docs.
pub(crate) struct MetricsDriver {
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) runner: Arc<dyn JobRunner>,
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: MetricsSettings,
    pub(crate) metrics: QuerierMetrics,
}

/// One query, planned: what each side counts.
struct Planned {
    plan: Arc<MetricsPlan>,
    request: MetricsRequest,
    /// Block jobs' query (span starts before the cut); `None` when the window is all recent.
    blocks: Option<Arc<BlockMetricsRequest>>,
    /// The ingesters' job (span starts from the cut on); `None` when the window is all older.
    recent: Option<contrail_proto::internal::v1::MetricsJobRequest>,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn cells(partial: &QueryPartial) -> usize {
    partial
        .leaves
        .iter()
        .map(|leaf| match leaf {
            contrail_traceql::metrics::Partial::Series(series) => {
                series.series_len() * series.window().intervals()
            }
            contrail_traceql::metrics::Partial::Compare(_) => OFF_RUNTIME_MERGE_CELLS,
        })
        .sum()
}

fn merge_error(error: contrail_traceql::Error) -> Error {
    Error::internal(format!("merging metrics partials: {error}"))
}

/// Merges `next` into `merged`, off the async threads when the partials are large.
async fn merge(mut merged: QueryPartial, next: QueryPartial) -> Result<QueryPartial> {
    if cells(&next) < OFF_RUNTIME_MERGE_CELLS {
        merged.merge(&next).map_err(merge_error)?;
        return Ok(merged);
    }
    tokio::task::spawn_blocking(move || {
        merged.merge(&next).map_err(merge_error)?;
        Ok(merged)
    })
    .await
    .map_err(|error| Error::internal(format!("merging metrics partials: {error}")))?
}

impl MetricsDriver {
    /// Runs `request` over `tenants` (their partials merge into one answer).
    pub(crate) async fn run(
        &self,
        tenants: &[TenantId],
        request: &MetricsQueryRequest,
    ) -> Result<MetricsResult> {
        let timeout = self.settings.query_timeout;
        let work = self.run_attempts(tenants, request);
        if timeout.is_zero() {
            return work.await;
        }
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    async fn run_attempts(
        &self,
        tenants: &[TenantId],
        request: &MetricsQueryRequest,
    ) -> Result<MetricsResult> {
        let planned = self.plan(request)?;
        let mut attempt = 1;
        loop {
            match self.run_once(tenants, &planned).await {
                Err(error) if error.code() == ErrorCode::NotFound && attempt < ATTEMPTS => {
                    self.metrics.jobs.with_label_values(&["compacted"]).inc();
                    tracing::debug!(attempt, error = %error, "a block vanished during a metrics query; running it again");
                    for tenant in tenants {
                        self.blocklist.refresh(tenant).await?;
                    }
                    attempt += 1;
                }
                Err(error) => return Err(error),
                Ok(partial) => {
                    let plan = planned.plan.clone();
                    let request = planned.request;
                    return tokio::task::spawn_blocking(move || plan.evaluate(&request, &partial))
                        .await
                        .map_err(|error| Error::internal(format!("metrics evaluation: {error}")))?
                        .map_err(|error| Error::Job {
                            code: error.code(),
                            message: error.to_string(),
                        });
                }
            }
        }
    }

    fn plan(&self, request: &MetricsQueryRequest) -> Result<Planned> {
        let limits = &self.settings.limits;
        let now = self.clock.now_unix_nanos();
        let window = request.window(now, limits)?;
        let plan = MetricsPlan::new(&request.root).map_err(Error::InvalidQuery)?;
        let base = MetricsRequest {
            window,
            max_series: request.series_cap(limits),
            max_exemplars: request.exemplar_limit(&plan.hints, limits),
            span_starts: SpanStarts::ALL,
        };
        let cut = now.saturating_sub(nanos(self.settings.query_backend_after));
        let blocks = if window.start_unix_nano() < cut {
            let block_request = MetricsRequest {
                span_starts: SpanStarts::before(cut),
                ..base
            };
            let compiled =
                MetricsQuery::new(plan.clone(), block_request).map_err(Error::InvalidQuery)?;
            Some(Arc::new(BlockMetricsRequest {
                query: request.query.clone(),
                compiled: Arc::new(compiled),
            }))
        } else {
            None
        };
        let recent = (window.end_unix_nano() >= cut).then(|| {
            let recent_request = MetricsRequest {
                span_starts: SpanStarts::from(cut),
                ..base
            };
            job_to_proto(
                &request.query,
                &recent_request,
                self.settings.max_query_memory_bytes as u64,
            )
        });
        Ok(Planned {
            plan: Arc::new(plan),
            request: base,
            blocks,
            recent,
        })
    }

    async fn jobs(
        &self,
        tenants: &[TenantId],
        blocks: &BlockMetricsRequest,
    ) -> Result<Vec<BlockJob>> {
        let request = &blocks.compiled.request;
        let range = (
            request.window.start_unix_nano(),
            request.window.end_unix_nano().min(request.span_starts.last),
        );
        let mut jobs = Vec::new();
        for tenant in tenants {
            let listed = self.blocklist.blocks(tenant).await?;
            jobs.extend(metrics_jobs(
                tenant,
                &listed.live,
                range,
                self.settings.target_bytes_per_job,
            ));
        }
        Ok(jobs)
    }

    async fn run_once(&self, tenants: &[TenantId], planned: &Planned) -> Result<QueryPartial> {
        let budget = Arc::new(MemoryBudget::new(self.settings.max_query_memory_bytes));
        let recent = async {
            let mut partials = Vec::new();
            if let Some(job) = &planned.recent {
                for tenant in tenants {
                    for message in self.recent.query_range(tenant, job).await? {
                        let plan = planned.plan.clone();
                        let request = planned.request;
                        let partial = tokio::task::spawn_blocking(move || {
                            wire::from_proto(&message, &plan, &request)
                        })
                        .await
                        .map_err(|error| Error::internal(format!("metrics decode: {error}")))?
                        .map_err(|error| Error::Remote {
                            target: "ingester".to_owned(),
                            code: ErrorCode::Internal,
                            message: error.to_string(),
                        })?;
                        partials.push(partial);
                    }
                }
            }
            Ok::<_, Error>(partials)
        };
        let blocks = async {
            let Some(blocks) = &planned.blocks else {
                return Ok(planned.plan.empty_partial(&planned.request));
            };
            let jobs = self.jobs(tenants, blocks).await?;
            futures::stream::iter(jobs)
                .map(|job| {
                    let runner = self.runner.clone();
                    let blocks = blocks.clone();
                    let budget = budget.clone();
                    async move { runner.metrics(job, blocks, budget).await }
                })
                .buffer_unordered(
                    self.settings
                        .concurrent_jobs
                        .min(self.runner.parallelism())
                        .max(1),
                )
                .inspect_ok(|_| self.metrics.jobs.with_label_values(&["ok"]).inc())
                .inspect_err(|error| {
                    if error.code() != ErrorCode::NotFound {
                        self.metrics.jobs.with_label_values(&["error"]).inc();
                    }
                })
                .try_fold(planned.plan.empty_partial(&planned.request), merge)
                .await
        };
        let (recent, mut merged) = futures::try_join!(recent, blocks)?;
        for partial in recent {
            merged = merge(merged, partial).await?;
        }
        Ok(merged)
    }
}
