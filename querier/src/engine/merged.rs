//! The unit of a merged metrics job (ADR 013): replicated blocks that may hold copies of the
//! same spans, merged by the compactor's streaming k-way merge (which keeps each trace ID, span
//! ID and kind once) into a scratch block in memory, which the job then reads like any other.
//! The count is the one the blocks would give once compacted together.
//!
//! Memory: the scratch block is charged to the query's budget: the inputs' bytes (an upper
//! bound of the output) while merging, then the output's. A unit beyond the budget fails the
//! job with the budget error; it is never read twice instead.

use std::sync::Arc;

use contrail_storage::DecodePool;
use contrail_storage::block::v1::merge::{MergeOptions, merge_blocks_into};
use contrail_storage::block::{BlockReader, BlockWriterConfig, ReaderOptions};
use contrail_traceql::fetch::MemoryBudget;
use object_store::ObjectStore;
use object_store::memory::InMemory;

use crate::error::{Error, Result};
use crate::frontend::BlockJob;

/// Bytes reserved on a budget, released on drop.
pub(super) struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: usize,
}

impl<'a> Reservation<'a> {
    fn new(budget: &'a MemoryBudget, bytes: usize) -> Result<Self> {
        budget.reserve(bytes).map_err(|error| Error::MemoryBudget {
            limit_bytes: error.limit_bytes,
        })?;
        Ok(Reservation { budget, bytes })
    }

    /// Keeps only `bytes` (at most what is held).
    fn shrink_to(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.budget.release(self.bytes - bytes);
        self.bytes = bytes;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Merges the blocks of `job` (its block, then `merge_with`) from `store` into a scratch block;
/// its reader and the memory it holds.
pub(super) async fn merged_reader<'a>(
    store: Arc<dyn ObjectStore>,
    pool: &DecodePool,
    job: &BlockJob,
    budget: &'a MemoryBudget,
) -> Result<(Arc<BlockReader>, Reservation<'a>)> {
    let inputs: Vec<_> = std::iter::once(&job.meta)
        .chain(&job.merge_with)
        .map(|meta| (**meta).clone())
        .collect();
    let input_bytes: u64 = inputs.iter().map(|meta| meta.size + meta.bloom_size).sum();
    let mut reservation =
        Reservation::new(budget, usize::try_from(input_bytes).unwrap_or(usize::MAX))?;
    let mut config = BlockWriterConfig::new(job.tenant.clone());
    config.compaction_level = inputs
        .iter()
        .map(|meta| meta.compaction_level)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    config.compacted_from = inputs.iter().map(|meta| meta.block_id).collect();
    let scratch: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let pending = merge_blocks_into(
        store,
        scratch.clone(),
        inputs,
        config,
        MergeOptions::default(),
    )
    .await?;
    let merged = pending.finish().await?;
    tracing::debug!(
        tenant = %job.tenant,
        inputs = merged.stats.input_blocks,
        input_spans = merged.stats.input_spans,
        duplicate_spans = merged.stats.duplicate_spans,
        "merged replicated blocks for a metrics job"
    );
    reservation.shrink_to(usize::try_from(merged.written.total_bytes()).unwrap_or(usize::MAX));
    let options = ReaderOptions {
        pool: pool.clone(),
        ..ReaderOptions::default()
    };
    let reader = BlockReader::open_with(scratch, merged.written.meta, options)?;
    Ok((Arc::new(reader), reservation))
}
