//! Metrics jobs over blocks that may hold copies of the same span (ADR 013). With replication
//! factor > 1 every replica uploads its own level-0 blocks, so until the compactor merges them a
//! span is stored once per replica. A metrics query must count it once, so the replicated
//! level-0 blocks that overlap in time (every copy of a span lies in a block whose time range
//! holds the span's start, so copies are always in overlapping blocks), together with the
//! replicated compacted blocks overlapping them (a replica's late block next to the others'
//! compacted output), form one job read through the compactor's merge: it counts what the
//! blocks would hold once compacted together. Every other block is cut into row-group jobs as
//! before ([`block_jobs`]). Blocks a live block lists in `compactedFrom` are skipped: the
//! compactor's output is live and replaces them (between its `meta.json` and the inputs'
//! `meta.compacted.json` both are listed).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use contrail_proto::TenantId;
use contrail_storage::block::BlockMeta;

use super::BlockJob;
use super::jobs::{block_jobs, block_nanos, sort_newest_first};

/// Whether `meta`'s blocks may share spans with other blocks (written by one of several
/// replicas, or merged from such blocks).
fn replicated(meta: &BlockMeta) -> bool {
    meta.replication_factor > 1
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Union-find root of `index`, with path halving.
fn root(parents: &mut [usize], mut index: usize) -> usize {
    while parents[index] != index {
        parents[index] = parents[parents[index]];
        index = parents[index];
    }
    index
}

/// The metrics jobs for `blocks` of `tenant` over `window` (unix nanoseconds, inclusive): one
/// merged job per group of replicated blocks that may share spans, row-group jobs of about
/// `target_bytes` for the rest; newest first.
pub(crate) fn metrics_jobs(
    tenant: &TenantId,
    blocks: &[Arc<BlockMeta>],
    window: (u64, u64),
    target_bytes: u64,
) -> Vec<BlockJob> {
    let replaced: HashSet<_> = blocks
        .iter()
        .flat_map(|meta| meta.compacted_from.iter().copied())
        .collect();
    let live: Vec<&Arc<BlockMeta>> = blocks
        .iter()
        .filter(|meta| !replaced.contains(&meta.block_id))
        .collect();
    let candidates: Vec<&Arc<BlockMeta>> = live
        .iter()
        .copied()
        .filter(|meta| replicated(meta) && overlap(block_nanos(meta), window))
        .collect();
    let ranges: Vec<(u64, u64)> = candidates.iter().map(|meta| block_nanos(meta)).collect();
    let mut parents: Vec<usize> = (0..candidates.len()).collect();
    for (seed, meta) in candidates.iter().enumerate() {
        if meta.compaction_level != 0 {
            continue;
        }
        for other in 0..candidates.len() {
            if other != seed && overlap(ranges[seed], ranges[other]) {
                let (a, b) = (root(&mut parents, seed), root(&mut parents, other));
                parents[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for index in 0..candidates.len() {
        let group = root(&mut parents, index);
        groups.entry(group).or_default().push(index);
    }
    let mut merged = HashSet::new();
    let mut jobs = Vec::new();
    for members in groups.into_values().filter(|members| members.len() > 1) {
        let mut metas: Vec<Arc<BlockMeta>> = members
            .iter()
            .map(|index| Arc::clone(candidates[*index]))
            .collect();
        metas.sort_by_key(|meta| meta.block_id);
        merged.extend(metas.iter().map(|meta| meta.block_id));
        jobs.push(merged_job(tenant, metas));
    }
    let plain: Vec<Arc<BlockMeta>> = live
        .into_iter()
        .filter(|meta| !merged.contains(&meta.block_id))
        .cloned()
        .collect();
    jobs.extend(block_jobs(tenant, &plain, window, target_bytes));
    sort_newest_first(&mut jobs);
    jobs
}

/// One job over all of `metas` (at least two, sorted by block ID), the first as the job's block.
fn merged_job(tenant: &TenantId, mut metas: Vec<Arc<BlockMeta>>) -> BlockJob {
    let first = metas.remove(0);
    let all = || std::iter::once(&first).chain(metas.iter());
    BlockJob {
        tenant: tenant.clone(),
        row_groups: 0..first.row_groups.len(),
        bytes: all().map(|meta| meta.size).sum(),
        start_unix_nano: all().map(|meta| block_nanos(meta).0).min().unwrap_or(0),
        end_unix_nano: all()
            .map(|meta| block_nanos(meta).1)
            .max()
            .unwrap_or(u64::MAX),
        meta: first.clone(),
        merge_with: metas,
    }
}

#[cfg(test)]
mod tests;
