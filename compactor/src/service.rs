//! The compactor service: every `compaction_cycle`, for each tenant, plan the jobs, run the
//! ones this compactor owns, and, on the tenant's owner, finish interrupted swaps, apply
//! retention, clean up and write the tenant index.

use std::collections::HashSet;
use std::sync::Arc;

use contrail_proto::{Clock, TenantId};
use contrail_storage::block::v1::merge::MergeOptions;
use contrail_storage::block::{
    BlockList, TenantIndex, list_blocks, list_tenants, write_tenant_index,
};
use contrail_storage::config::BlockConfig;
use object_store::ObjectStore;
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::CompactorConfig;
use crate::error::{Error, Result};
use crate::executor::{Executor, JobReport};
use crate::lease::Leases;
use crate::members::{CompactorMembers, owner_of};
use crate::metrics::CompactorMetrics;
use crate::overrides::CompactionOverrides;
use crate::planner::{Job, PlannerConfig, outstanding_blocks, plan};
use crate::retention::{Retention, RetentionReport, RetentionSettings, superseded};

/// What a compactor is built from.
#[derive(Debug)]
pub struct CompactorArgs<'a> {
    /// `compactor:` of `tempo.yaml` (validated by the caller).
    pub config: CompactorConfig,
    /// `storage.trace.block`: how output blocks are written.
    pub block: BlockConfig,
    /// The object store holding every tenant's blocks.
    pub store: Arc<dyn ObjectStore>,
    /// The compactor members, this one included.
    pub members: Arc<dyn CompactorMembers>,
    /// Per-tenant settings.
    pub overrides: Arc<dyn CompactionOverrides>,
    /// Time for retention, leases and `compactedTime`.
    pub clock: Arc<dyn Clock>,
    /// Where the metrics are registered.
    pub registry: &'a Registry,
}

/// A failed job: which, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedJob {
    /// The window.
    pub window: i64,
    /// Its inputs.
    pub inputs: Vec<contrail_storage::block::Uuid>,
    /// The `status` label of the failure.
    pub status: &'static str,
    /// The error.
    pub message: String,
}

/// What one cycle did for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantReport {
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// Jobs planned in total (by every compactor).
    pub planned_jobs: usize,
    /// Finished jobs of this compactor.
    pub jobs: Vec<JobReport>,
    /// Failed jobs of this compactor (retried next cycle).
    pub failed: Vec<FailedJob>,
    /// Blocks left in this compactor's jobs that did not run (time budget, failures).
    pub outstanding_blocks: usize,
    /// Retention, when this compactor owns the tenant.
    pub retention: Option<RetentionReport>,
    /// Whether this compactor wrote the tenant index.
    pub index_written: bool,
    /// Why the tenant's cycle stopped early (a listing or retention failure), if it did.
    pub error: Option<String>,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    /// Per tenant, in tenant order.
    pub tenants: Vec<TenantReport>,
}

/// The compactor.
#[derive(Debug)]
pub struct Compactor {
    config: CompactorConfig,
    instance_id: String,
    store: Arc<dyn ObjectStore>,
    members: Arc<dyn CompactorMembers>,
    overrides: Arc<dyn CompactionOverrides>,
    clock: Arc<dyn Clock>,
    metrics: CompactorMetrics,
    executor: Executor,
}

impl Compactor {
    /// Builds a compactor; registers its metrics in `args.registry`.
    pub fn new(args: CompactorArgs<'_>) -> Result<Self> {
        let CompactorArgs {
            config,
            block,
            store,
            members,
            overrides,
            clock,
            registry,
        } = args;
        let metrics = CompactorMetrics::new(registry)?;
        let instance_id = config.sharding.instance_id();
        let leases = Leases::new(
            store.clone(),
            clock.clone(),
            instance_id.clone(),
            config.compaction.lease_duration,
        );
        let executor = Executor {
            store: store.clone(),
            clock: clock.clone(),
            leases,
            block,
            parquet: config.parquet_options(),
            merge: MergeOptions::default(),
        };
        Ok(Compactor {
            config,
            instance_id,
            store,
            members,
            overrides,
            clock,
            metrics,
            executor,
        })
    }

    /// This compactor's name among the members.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Runs a cycle every `compaction_cycle` until `shutdown`; a failing cycle is logged and
    /// retried. A job running at shutdown stops before its output becomes visible.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        if self.config.disabled {
            shutdown.cancelled().await;
            return Ok(());
        }
        loop {
            match self.run_cycle(&shutdown).await {
                Ok(report) => {
                    let jobs: usize = report.tenants.iter().map(|t| t.jobs.len()).sum();
                    tracing::debug!(
                        tenants = report.tenants.len(),
                        jobs,
                        "compaction cycle done"
                    );
                }
                Err(error) => tracing::warn!(%error, "compaction cycle failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.config.compaction.compaction_cycle) => {}
            }
        }
    }

    /// One cycle over every tenant in the store.
    pub async fn run_cycle(&self, shutdown: &CancellationToken) -> Result<CycleReport> {
        let mut report = CycleReport::default();
        for tenant in list_tenants(self.store.as_ref()).await? {
            if shutdown.is_cancelled() {
                break;
            }
            let tenant_report = match self.compact_tenant(&tenant, shutdown).await {
                Ok(tenant_report) => tenant_report,
                Err(error) => {
                    tracing::warn!(tenant = %tenant, %error, "tenant compaction cycle failed");
                    TenantReport {
                        tenant: Some(tenant.clone()),
                        error: Some(error.to_string()),
                        ..TenantReport::default()
                    }
                }
            };
            report.tenants.push(tenant_report);
        }
        Ok(report)
    }

    fn owns(&self, key: &str) -> bool {
        let members = self.members.members();
        owner_of(&members, key) == Some(self.instance_id.as_str())
    }

    fn planner(&self, tenant: &TenantId) -> PlannerConfig {
        let mut planner = self.config.planner();
        if let Some(window) = self.overrides.compaction_window(tenant) {
            planner.compaction_window = window;
        }
        planner
    }

    /// One cycle for one tenant.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn compact_tenant(
        &self,
        tenant: &TenantId,
        shutdown: &CancellationToken,
    ) -> Result<TenantReport> {
        let started = self.clock.now_unix_nanos();
        let owns_tenant = self.owns(tenant.as_str());
        let list = list_blocks(self.store.clone(), tenant).await?;
        let mut report = TenantReport {
            tenant: Some(tenant.clone()),
            ..TenantReport::default()
        };
        let jobs = if self.overrides.compaction_disabled(tenant) {
            Vec::new()
        } else {
            self.plan(tenant, &list)
        };
        report.planned_jobs = jobs.len();
        let mine: Vec<Job> = jobs
            .into_iter()
            .filter(|job| self.owns(&job.ownership_key()))
            .collect();
        let gauge = self
            .metrics
            .outstanding_blocks
            .with_label_values(&[tenant.as_str()]);
        let mut outstanding = outstanding_blocks(&mine);
        gauge.set(outstanding as i64);
        let budget = u64::try_from(self.config.compaction.max_time_per_tenant.as_nanos())
            .unwrap_or(u64::MAX);
        for job in &mine {
            let elapsed = self.clock.now_unix_nanos().saturating_sub(started);
            if shutdown.is_cancelled() || elapsed >= budget {
                break;
            }
            match self.run_job(job, shutdown).await {
                Ok(done) => {
                    outstanding -= job.blocks.len();
                    gauge.set(outstanding as i64);
                    report.jobs.push(done);
                }
                Err(error) => report.failed.push(FailedJob {
                    window: job.window,
                    inputs: job.blocks.iter().map(|meta| meta.block_id).collect(),
                    status: error.status_label(),
                    message: error.to_string(),
                }),
            }
        }
        report.outstanding_blocks = outstanding;
        if owns_tenant && let Err(error) = self.own_tenant_duties(tenant, &mut report).await {
            tracing::warn!(tenant = %tenant, %error, "retention or tenant index failed");
            report.error = Some(error.to_string());
        }
        Ok(report)
    }

    /// Jobs for the tenant's live blocks, leaving out blocks another block replaces.
    fn plan(&self, tenant: &TenantId, list: &BlockList) -> Vec<Job> {
        let replaced: HashSet<_> = superseded(list);
        let live: Vec<_> = list
            .live
            .iter()
            .filter(|meta| !replaced.contains(&meta.block_id))
            .cloned()
            .collect();
        let now = chrono::DateTime::from_timestamp_nanos(
            i64::try_from(self.clock.now_unix_nanos()).unwrap_or(i64::MAX),
        );
        plan(tenant, &live, &self.planner(tenant), now)
    }

    async fn run_job(&self, job: &Job, shutdown: &CancellationToken) -> Result<JobReport> {
        let started = tokio::time::Instant::now();
        let result = self.executor.run(job, shutdown).await;
        let status = match &result {
            Ok(_) => "ok",
            Err(error) => error.status_label(),
        };
        self.metrics.jobs_total.with_label_values(&[status]).inc();
        self.metrics
            .job_duration_seconds
            .with_label_values(&[status])
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(done) => {
                let tenant = [job.tenant.as_str()];
                self.metrics
                    .merged_bytes_total
                    .with_label_values(&tenant)
                    .inc_by(done.stats.input_bytes);
                self.metrics
                    .merged_spans_total
                    .with_label_values(&tenant)
                    .inc_by(done.stats.input_spans);
                self.metrics
                    .written_bytes_total
                    .with_label_values(&tenant)
                    .inc_by(done.output_bytes);
                self.metrics
                    .duplicate_spans_total
                    .with_label_values(&tenant)
                    .inc_by(done.stats.duplicate_spans);
                tracing::info!(
                    tenant = %job.tenant,
                    window = job.window,
                    inputs = done.inputs.len(),
                    output = %done.output,
                    level = done.output_level,
                    spans = done.stats.output_spans,
                    duplicates = done.stats.duplicate_spans,
                    seconds = done.duration.as_secs_f64(),
                    "compaction job done"
                );
            }
            Err(Error::LeaseBusy { .. }) => {
                tracing::debug!(tenant = %job.tenant, window = job.window, "window leased elsewhere")
            }
            Err(error) => {
                tracing::warn!(tenant = %job.tenant, window = job.window, %error, "compaction job failed")
            }
        }
        result
    }

    /// Retention, clean-up and the tenant index, on the tenant's owner.
    async fn own_tenant_duties(&self, tenant: &TenantId, report: &mut TenantReport) -> Result<()> {
        let list = list_blocks(self.store.clone(), tenant).await?;
        let retention = Retention {
            store: &self.store,
            clock: self.clock.as_ref(),
            metrics: &self.metrics,
            concurrency: self.config.compaction.retention_concurrency,
        };
        let block_retention = self
            .overrides
            .block_retention(tenant)
            .unwrap_or(self.config.compaction.block_retention);
        let settings = RetentionSettings {
            block_retention,
            compacted_block_retention: self.config.compaction.compacted_block_retention,
            compaction_window: self.planner(tenant).compaction_window,
        };
        report.retention = Some(retention.run(tenant, &list, settings).await?);
        let list = list_blocks(self.store.clone(), tenant).await?;
        let index = TenantIndex {
            created_at: chrono::DateTime::from_timestamp_nanos(
                i64::try_from(self.clock.now_unix_nanos()).unwrap_or(i64::MAX),
            ),
            meta: list.live,
            compacted: list.compacted,
        };
        let written = write_tenant_index(self.store.as_ref(), tenant, &index).await;
        let status = if written.is_ok() { "ok" } else { "error" };
        self.metrics
            .tenant_index_writes_total
            .with_label_values(&[status])
            .inc();
        written?;
        report.index_written = true;
        Ok(())
    }
}

/// Compile-time check: the binary spawns these futures on a multi-threaded runtime.
#[cfg(test)]
#[allow(dead_code)]
fn service_futures_are_send(compactor: Compactor, token: CancellationToken, tenant: TenantId) {
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&compactor.compact_tenant(&tenant, &token));
    assert_send(&compactor.run_cycle(&token));
    assert_send(&compactor.run(token));
}
