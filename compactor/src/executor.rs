//! Running one job: lease, check, merge, swap.
//!
//! 1. Take the window's lease (`lease`), recording the job's intent (output ID, inputs); another
//!    compactor holding it ends the job (`lease_busy`).
//! 2. Finish the swaps of earlier holders that died after their output became visible: the
//!    still-live inputs of every recorded intent whose output has a `meta.json` are marked
//!    compacted.
//! 3. Re-read every input's `meta.json`: an input compacted or deleted since the listing ends
//!    the job (`input_gone`).
//! 4. Merge (`contrail_storage::block::v1::merge`) into a new block whose meta lists the inputs in
//!    `compactedFrom`, renewing the lease meanwhile; nothing is visible yet.
//! 5. Renew the lease if less than half of it is left, then write the output's `meta.json`: the
//!    output is visible, and replaces the inputs for every reader that honours `compactedFrom`.
//! 6. Mark each input compacted (`meta.compacted.json`, then `meta.json` deleted).
//! 7. Release the lease (the intent is dropped once the swap is done).
//!
//! A failure or a kill before step 5 leaves only meta-less objects (deleted later as orphans);
//! after it, the window's next lease holder (step 2) or the tenant owner's next cycle
//! (`retention`, superseded blocks) finishes the swap. A span is never lost, and after the
//! retry it is stored once.

use std::sync::Arc;
use std::time::Duration;

use contrail_proto::{Clock, TenantId};
use contrail_storage::block::v1::merge::{MergeOptions, MergeStats, merge_blocks};
use contrail_storage::block::{
    BlockWriterConfig, ParquetOptions, Uuid, mark_compacted, read_block_meta,
};
use contrail_storage::config::BlockConfig;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::lease::{JobIntent, Lease, Leases};
use crate::planner::Job;

/// What a finished job did.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    /// The inputs, now compacted.
    pub inputs: Vec<Uuid>,
    /// The output block.
    pub output: Uuid,
    /// The output's compaction level.
    pub output_level: u32,
    /// Bytes of the output (data, bloom shards, meta).
    pub output_bytes: u64,
    /// Counts of the merge.
    pub stats: MergeStats,
    /// Wall time of the whole job.
    pub duration: Duration,
}

/// Everything a job needs.
#[derive(Debug, Clone)]
pub(crate) struct Executor {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) leases: Leases,
    pub(crate) block: BlockConfig,
    /// The Parquet encoding of outputs (`CompactorConfig::parquet_options`).
    pub(crate) parquet: ParquetOptions,
    pub(crate) merge: MergeOptions,
}

impl Executor {
    /// Runs `job`; `shutdown` stops it before its output becomes visible.
    #[tracing::instrument(skip_all, fields(tenant = %job.tenant, window = job.window, inputs = job.blocks.len()))]
    pub(crate) async fn run(&self, job: &Job, shutdown: &CancellationToken) -> Result<JobReport> {
        let started = tokio::time::Instant::now();
        let config = self.writer_config(job);
        let intent = JobIntent {
            output: config.block_id,
            inputs: job.blocks.iter().map(|meta| meta.block_id).collect(),
        };
        let (lease, earlier) = self.leases.acquire(&job.tenant, job.window, intent).await?;
        let result = self
            .run_leased(job, config, &lease, &earlier, shutdown)
            .await;
        // After a failure the output may be visible (even a failed meta put may have landed):
        // the intent stays for the next holder to check.
        self.leases.release(lease, result.is_ok()).await;
        let (output, output_bytes, stats) = result?;
        Ok(JobReport {
            inputs: job.blocks.iter().map(|meta| meta.block_id).collect(),
            output,
            output_level: job.output_level,
            output_bytes,
            stats,
            duration: started.elapsed(),
        })
    }

    async fn run_leased(
        &self,
        job: &Job,
        config: BlockWriterConfig,
        lease: &Lease,
        earlier: &[JobIntent],
        shutdown: &CancellationToken,
    ) -> Result<(Uuid, u64, MergeStats)> {
        for intent in earlier {
            self.finish_earlier_swap(&job.tenant, intent).await?;
        }
        for input in &job.blocks {
            match read_block_meta(self.store.as_ref(), &job.tenant, &input.block_id).await {
                Ok(current) if current == *input => {}
                Ok(_) | Err(contrail_storage::Error::NotFound { .. }) => {
                    return Err(Error::InputGone {
                        tenant: job.tenant.to_string(),
                        block_id: input.block_id.to_string(),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        let output = config.block_id;
        let merge = merge_blocks(
            self.store.clone(),
            job.blocks.clone(),
            config,
            self.merge.clone(),
        );
        let pending = tokio::select! {
            merged = merge => merged?,
            lost = self.leases.keep_renewed(lease) => return Err(lost),
            () = shutdown.cancelled() => {
                return Err(Error::Cancelled {
                    message: "the compactor is shutting down".to_owned(),
                });
            }
        };
        self.leases.ensure_fresh(lease).await?;
        let merged = pending.finish().await?;
        let now = self.now();
        for input in &job.blocks {
            mark_compacted(self.store.as_ref(), input, now)
                .await
                .map_err(|error| Error::SwapIncomplete {
                    output: output.to_string(),
                    source: Box::new(error),
                })?;
        }
        Ok((output, merged.written.total_bytes(), merged.stats))
    }

    /// Marks the live inputs of `intent` compacted if its output is visible.
    async fn finish_earlier_swap(&self, tenant: &TenantId, intent: &JobIntent) -> Result<()> {
        match read_block_meta(self.store.as_ref(), tenant, &intent.output).await {
            Ok(_) => {}
            Err(contrail_storage::Error::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        let now = self.now();
        for input in &intent.inputs {
            match read_block_meta(self.store.as_ref(), tenant, input).await {
                Ok(meta) => {
                    mark_compacted(self.store.as_ref(), &meta, now).await?;
                    tracing::info!(
                        tenant = %tenant,
                        block_id = %input,
                        output = %intent.output,
                        "finished an interrupted swap"
                    );
                }
                Err(contrail_storage::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_nanos(
            i64::try_from(self.clock.now_unix_nanos()).unwrap_or(i64::MAX),
        )
    }

    fn writer_config(&self, job: &Job) -> BlockWriterConfig {
        let mut config = BlockWriterConfig::new(job.tenant.clone());
        self.block.apply_to(&mut config);
        config.parquet = self.parquet.clone();
        config.compaction_level = job.output_level;
        config.compacted_from = job.blocks.iter().map(|meta| meta.block_id).collect();
        let factors: Vec<u32> = job
            .blocks
            .iter()
            .map(|meta| meta.replication_factor)
            .collect();
        config.replication_factor = match factors.split_first() {
            Some((first, rest)) if rest.iter().all(|factor| factor == first) => *first,
            _ => 0,
        };
        config
    }
}
