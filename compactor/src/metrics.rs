//! Compactor metrics, registered in a registry the caller injects (no globals).
//!
//! - `contrail_compactor_outstanding_blocks{tenant}`: blocks in the jobs this compactor owns
//!   and has not run yet (summed over compactors: the tenant's backlog; Tempo alerts at 100).
//! - `contrail_compactor_jobs_total{status}` and `contrail_compactor_job_duration_seconds{status}`:
//!   jobs by outcome (`ok`, or the failure reason: `lease_busy`, `lease_lost`, `input_gone`,
//!   `store_unavailable`, `store_timeout`, `store_error`, `corrupt_input`, `swap_incomplete`,
//!   `cancelled`, ...).
//! - `contrail_compactor_merged_bytes_total{tenant}`, `contrail_compactor_merged_spans_total{tenant}`:
//!   input block bytes and span rows merged by finished jobs;
//!   `contrail_compactor_written_bytes_total{tenant}`: bytes of their outputs;
//!   `contrail_compactor_duplicate_spans_total{tenant}`: span rows dropped as duplicates.
//! - `contrail_compactor_retention_blocks_total{tenant,status}`: blocks marked compacted by
//!   retention (`expired`), deleted after `compacted_block_retention` (`deleted`), marked because
//!   a live block replaces them (`superseded`), partial writes removed (`orphan`) and lease
//!   folders of long-gone windows removed (`lease`).
//! - `contrail_compactor_tenant_index_writes_total{status}`: tenant index writes.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, core::Collector,
};

use crate::error::{Error, Result};

/// The compactor's metrics; cheap to clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct CompactorMetrics {
    pub(crate) outstanding_blocks: IntGaugeVec,
    pub(crate) jobs_total: IntCounterVec,
    pub(crate) job_duration_seconds: HistogramVec,
    pub(crate) merged_bytes_total: IntCounterVec,
    pub(crate) merged_spans_total: IntCounterVec,
    pub(crate) written_bytes_total: IntCounterVec,
    pub(crate) duplicate_spans_total: IntCounterVec,
    pub(crate) retention_blocks_total: IntCounterVec,
    pub(crate) tenant_index_writes_total: IntCounterVec,
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> Result<C> {
    registry
        .register(Box::new(collector.clone()))
        .map_err(|source| Error::Metrics { source })?;
    Ok(collector)
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    let collector = IntCounterVec::new(Opts::new(name, help), labels)
        .map_err(|source| Error::Metrics { source })?;
    register(registry, collector)
}

impl CompactorMetrics {
    /// Creates the collectors and registers them in `registry`; fails when they are already
    /// registered there (one compactor per registry).
    pub fn new(registry: &Registry) -> Result<Self> {
        let outstanding_blocks = IntGaugeVec::new(
            Opts::new(
                "contrail_compactor_outstanding_blocks",
                "Blocks in compaction jobs owned by this compactor that have not run yet.",
            ),
            &["tenant"],
        )
        .map_err(|source| Error::Metrics { source })?;
        let job_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "contrail_compactor_job_duration_seconds",
                "Duration of compaction jobs by outcome.",
            )
            .buckets(vec![
                0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
            ]),
            &["status"],
        )
        .map_err(|source| Error::Metrics { source })?;
        Ok(CompactorMetrics {
            outstanding_blocks: register(registry, outstanding_blocks)?,
            jobs_total: counter(
                registry,
                "contrail_compactor_jobs_total",
                "Compaction jobs by outcome.",
                &["status"],
            )?,
            job_duration_seconds: register(registry, job_duration_seconds)?,
            merged_bytes_total: counter(
                registry,
                "contrail_compactor_merged_bytes_total",
                "Bytes of input blocks merged by finished jobs.",
                &["tenant"],
            )?,
            merged_spans_total: counter(
                registry,
                "contrail_compactor_merged_spans_total",
                "Span rows of input blocks merged by finished jobs.",
                &["tenant"],
            )?,
            written_bytes_total: counter(
                registry,
                "contrail_compactor_written_bytes_total",
                "Bytes of the blocks written by finished jobs.",
                &["tenant"],
            )?,
            duplicate_spans_total: counter(
                registry,
                "contrail_compactor_duplicate_spans_total",
                "Span rows dropped because another copy of the span was kept.",
                &["tenant"],
            )?,
            retention_blocks_total: counter(
                registry,
                "contrail_compactor_retention_blocks_total",
                "Blocks marked compacted or deleted by retention and clean-up, by kind.",
                &["tenant", "status"],
            )?,
            tenant_index_writes_total: counter(
                registry,
                "contrail_compactor_tenant_index_writes_total",
                "Tenant index writes by outcome.",
                &["status"],
            )?,
        })
    }
}
