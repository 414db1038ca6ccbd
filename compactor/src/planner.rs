//! The planner: which blocks of a tenant to merge. Pure (no IO, no clock of its own), so it is
//! proptested (`planner/tests.rs`).
//!
//! Blocks are grouped by time window (`endTime` ÷ `compaction_window`, as Tempo does) and
//! format. Within `active_window` of now a group also shares the compaction level, so fresh
//! small blocks are merged with each other and not rewritten into big ones again and again;
//! older windows are merged across levels, down to few blocks per window. A group's blocks are
//! taken smallest first, and consecutive blocks form a job while the job stays within
//! `max_input_blocks`, `max_block_bytes` and `max_compaction_objects`; a job has at least two
//! inputs. The output's level is the highest input level + 1.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contrail_proto::TenantId;
use contrail_storage::block::BlockMeta;

#[cfg(test)]
mod tests;

/// The planner's knobs (from `compactor.compaction`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannerConfig {
    /// Width of a time window.
    pub compaction_window: Duration,
    /// Blocks ending within this long of now are grouped by level too.
    pub active_window: Duration,
    /// Most inputs of one job.
    pub max_input_blocks: usize,
    /// Most traces (summed over the inputs) of one job.
    pub max_compaction_objects: u64,
    /// Most bytes (summed over the inputs) of one job.
    pub max_block_bytes: u64,
}

/// The fewest inputs of a job.
pub const MIN_INPUT_BLOCKS: usize = 2;

/// A window: `endTime` ÷ window width, in whole windows since the epoch.
pub type WindowIndex = i64;

/// One merge to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The owner of every input.
    pub tenant: TenantId,
    /// The window every input ends in.
    pub window: WindowIndex,
    /// The inputs, in merge order (a duplicate span keeps its copy from the first input).
    pub blocks: Vec<BlockMeta>,
    /// The output's compaction level.
    pub output_level: u32,
}

impl Job {
    /// What compactors hash to pick the job's owner: tenant and window.
    pub fn ownership_key(&self) -> String {
        ownership_key(&self.tenant, self.window)
    }

    /// Bytes of the inputs (data and bloom shards).
    pub fn input_bytes(&self) -> u64 {
        self.blocks
            .iter()
            .map(|meta| meta.size + meta.bloom_size)
            .sum()
    }

    /// Spans of the inputs.
    pub fn input_spans(&self) -> u64 {
        self.blocks.iter().map(|meta| meta.total_spans).sum()
    }
}

/// The hash key of (tenant, window).
pub fn ownership_key(tenant: &TenantId, window: WindowIndex) -> String {
    format!("{tenant}/{window}")
}

/// The window of a block.
pub fn window_of(meta: &BlockMeta, window: Duration) -> WindowIndex {
    let width = i64::try_from(window.as_secs()).unwrap_or(i64::MAX).max(1);
    meta.end_time.timestamp().div_euclid(width)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    /// Recent windows first (`false` sorts first), then by level, newest window first.
    old: bool,
    level: u32,
    newest_first: std::cmp::Reverse<WindowIndex>,
    format: String,
}

/// Plans the jobs for `live` (the live blocks of `tenant`) at `now`. Deterministic: the same
/// blocks in any order give the same jobs. Blocks of another tenant are ignored.
pub fn plan(
    tenant: &TenantId,
    live: &[BlockMeta],
    config: &PlannerConfig,
    now: DateTime<Utc>,
) -> Vec<Job> {
    let active_since = chrono::Duration::from_std(config.active_window)
        .ok()
        .and_then(|active| now.checked_sub_signed(active))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut groups: BTreeMap<GroupKey, Vec<&BlockMeta>> = BTreeMap::new();
    for meta in live.iter().filter(|meta| meta.tenant_id == *tenant) {
        let old = meta.end_time <= active_since;
        let key = GroupKey {
            old,
            level: if old { 0 } else { meta.compaction_level },
            newest_first: std::cmp::Reverse(window_of(meta, config.compaction_window)),
            format: meta.format.clone(),
        };
        groups.entry(key).or_default().push(meta);
    }
    let mut jobs = Vec::new();
    for (key, mut blocks) in groups {
        blocks.sort_by_key(|meta| (meta.size + meta.bloom_size, meta.block_id));
        let mut current: Vec<&BlockMeta> = Vec::new();
        for meta in blocks {
            let fits_alone = fits(&[meta], config);
            let mut candidate = current.clone();
            candidate.push(meta);
            if fits(&candidate, config) {
                current = candidate;
                continue;
            }
            push_job(tenant, key.newest_first.0, &current, &mut jobs);
            current = if fits_alone { vec![meta] } else { Vec::new() };
        }
        push_job(tenant, key.newest_first.0, &current, &mut jobs);
    }
    jobs
}

fn fits(blocks: &[&BlockMeta], config: &PlannerConfig) -> bool {
    let bytes: u64 = blocks.iter().map(|meta| meta.size + meta.bloom_size).sum();
    let objects: u64 = blocks.iter().map(|meta| meta.total_objects).sum();
    blocks.len() <= config.max_input_blocks
        && bytes <= config.max_block_bytes
        && objects <= config.max_compaction_objects
}

fn push_job(tenant: &TenantId, window: WindowIndex, blocks: &[&BlockMeta], jobs: &mut Vec<Job>) {
    if blocks.len() < MIN_INPUT_BLOCKS {
        return;
    }
    let output_level = blocks
        .iter()
        .map(|meta| meta.compaction_level)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    jobs.push(Job {
        tenant: tenant.clone(),
        window,
        blocks: blocks.iter().map(|meta| (*meta).clone()).collect(),
        output_level,
    });
}

/// Blocks the planner would put into a job now: Tempo's "outstanding blocks".
pub fn outstanding_blocks(jobs: &[Job]) -> usize {
    jobs.iter().map(|job| job.blocks.len()).sum()
}
