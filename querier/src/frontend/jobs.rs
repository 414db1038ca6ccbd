//! Cutting blocks into jobs: consecutive row groups that overlap the window, grouped until they
//! reach the target byte size (row-group sizes and time ranges come from `meta.json`, so no
//! footer is read to plan). Jobs are ordered newest first (latest end time), then by block ID and
//! row group, so every run of a query plans the same jobs in the same order.

use std::sync::Arc;

use contrail_proto::TenantId;
use contrail_storage::block::BlockMeta;

use super::BlockJob;

pub(crate) fn block_nanos(meta: &BlockMeta) -> (u64, u64) {
    let start = u64::try_from(meta.start_time.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
    let end =
        u64::try_from(meta.end_time.timestamp_nanos_opt().unwrap_or(i64::MAX)).unwrap_or(u64::MAX);
    (start, end)
}

/// The jobs for `blocks` of `tenant` over `window` (unix nanoseconds, inclusive).
pub fn block_jobs(
    tenant: &TenantId,
    blocks: &[Arc<BlockMeta>],
    window: (u64, u64),
    target_bytes: u64,
) -> Vec<BlockJob> {
    let (window_start, window_end) = window;
    let target_bytes = target_bytes.max(1);
    let mut jobs = Vec::new();
    for meta in blocks {
        let (block_start, block_end) = block_nanos(meta);
        if block_end < window_start || block_start > window_end {
            continue;
        }
        if meta.row_groups.is_empty() {
            // A block without row-group statistics: one job over all of it.
            jobs.push(BlockJob {
                tenant: tenant.clone(),
                meta: meta.clone(),
                row_groups: 0..meta.total_records as usize,
                bytes: meta.size,
                start_unix_nano: block_start,
                end_unix_nano: block_end,
                merge_with: Vec::new(),
            });
            continue;
        }
        let mut current: Option<BlockJob> = None;
        for (index, row_group) in meta.row_groups.iter().enumerate() {
            let overlaps = row_group.end_time_unix_nano >= window_start
                && row_group.start_time_unix_nano <= window_end;
            if !overlaps {
                if let Some(job) = current.take() {
                    jobs.push(job);
                }
                continue;
            }
            let job = current.get_or_insert_with(|| BlockJob {
                tenant: tenant.clone(),
                meta: meta.clone(),
                row_groups: index..index,
                bytes: 0,
                start_unix_nano: u64::MAX,
                end_unix_nano: 0,
                merge_with: Vec::new(),
            });
            job.row_groups.end = index + 1;
            job.bytes += row_group.size;
            job.start_unix_nano = job.start_unix_nano.min(row_group.start_time_unix_nano);
            job.end_unix_nano = job.end_unix_nano.max(row_group.end_time_unix_nano);
            if job.bytes >= target_bytes
                && let Some(full) = current.take()
            {
                jobs.push(full);
            }
        }
        if let Some(job) = current.take() {
            jobs.push(job);
        }
    }
    sort_newest_first(&mut jobs);
    jobs
}

/// Newest first, then block ID, then row group.
pub(crate) fn sort_newest_first(jobs: &mut [BlockJob]) {
    jobs.sort_by(|a, b| {
        b.end_unix_nano
            .cmp(&a.end_unix_nano)
            .then_with(|| a.meta.block_id.cmp(&b.meta.block_id))
            .then_with(|| a.row_groups.start.cmp(&b.row_groups.start))
            .then_with(|| a.tenant.cmp(&b.tenant))
    });
}
