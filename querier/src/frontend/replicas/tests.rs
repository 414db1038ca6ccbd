//! Planning of metrics jobs over replicated blocks: overlapping replicated level-0 blocks (and
//! replicated compacted blocks overlapping them) become one merged job; everything else is cut
//! as before; replaced blocks are skipped.

use chrono::{TimeZone, Utc};
use contrail_proto::TraceId;
use contrail_storage::block::{RowGroupMeta, Uuid};

use super::*;

const SECOND: u64 = 1_000_000_000;

fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

/// Block `id` over `[start_s, end_s]` with one row group, at `level` and `rf`.
fn block(id: u128, start: u64, end: u64, level: u32, rf: u32) -> Arc<BlockMeta> {
    Arc::new(BlockMeta {
        format: "vc1".into(),
        block_id: Uuid::from_u128(id),
        tenant_id: tenant(),
        start_time: Utc.timestamp_opt(start as i64, 0).unwrap(),
        end_time: Utc.timestamp_opt(end as i64, 0).unwrap(),
        min_id: TraceId::from_array([0; 16]),
        max_id: TraceId::from_array([0xff; 16]),
        total_objects: 1,
        total_spans: 1,
        total_records: 1,
        size: 100,
        footer_size: 10,
        bloom_shards: 1,
        bloom_size: 10,
        compaction_level: level,
        replication_factor: rf,
        dedicated_columns: Vec::new(),
        compacted_from: Vec::new(),
        row_groups: vec![RowGroupMeta {
            min_id: TraceId::from_array([0; 16]),
            max_id: TraceId::from_array([0xff; 16]),
            traces: 1,
            spans: 1,
            start_time_unix_nano: start * SECOND,
            end_time_unix_nano: end * SECOND,
            size: 100,
        }],
    })
}

/// Each job as its block IDs (the job's block first, then the merged ones).
fn shapes(jobs: &[BlockJob]) -> Vec<Vec<u128>> {
    let mut shapes: Vec<Vec<u128>> = jobs
        .iter()
        .map(|job| {
            std::iter::once(&job.meta)
                .chain(&job.merge_with)
                .map(|meta| meta.block_id.as_u128())
                .collect()
        })
        .collect();
    shapes.sort();
    shapes
}

const WINDOW: (u64, u64) = (0, 10_000 * SECOND);

#[test]
fn overlapping_replicated_level_0_blocks_are_one_merged_job() {
    let blocks = [
        block(1, 100, 200, 0, 3),
        block(2, 150, 250, 0, 3),
        block(3, 240, 300, 0, 3), // overlaps 2 only: same group through it
        block(4, 500, 600, 0, 3), // alone: nothing to share spans with
        block(5, 100, 300, 0, 1), // RF = 1: never merged
    ];
    let jobs = metrics_jobs(&tenant(), &blocks, WINDOW, 1 << 20);
    assert_eq!(shapes(&jobs), [vec![1, 2, 3], vec![4], vec![5]]);
    let merged = jobs.iter().find(|job| !job.merge_with.is_empty()).unwrap();
    assert_eq!(merged.start_unix_nano, 100 * SECOND);
    assert_eq!(merged.end_unix_nano, 300 * SECOND);
    assert_eq!(merged.bytes, 300);
    assert_eq!(merged.row_groups, 0..1);
    // Newest first, as every job list.
    let ends: Vec<u64> = jobs.iter().map(|job| job.end_unix_nano).collect();
    let mut sorted = ends.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ends, sorted);
}

#[test]
fn a_compacted_block_joins_the_level_0_blocks_it_overlaps_only() {
    let blocks = [
        block(1, 100, 200, 1, 3), // two replicas' blocks, compacted
        block(2, 150, 180, 0, 3), // the third replica's, uploaded later
        block(3, 400, 500, 1, 3), // compacted blocks overlapping each other only
        block(4, 450, 550, 2, 3),
    ];
    let jobs = metrics_jobs(&tenant(), &blocks, WINDOW, 1 << 20);
    assert_eq!(shapes(&jobs), [vec![1, 2], vec![3], vec![4]]);
}

#[test]
fn replaced_blocks_and_blocks_outside_the_window_are_not_read() {
    let mut output = (*block(9, 100, 200, 1, 3)).clone();
    output.compacted_from = vec![Uuid::from_u128(1), Uuid::from_u128(2)];
    let blocks = [
        block(1, 100, 200, 0, 3),
        block(2, 100, 200, 0, 3),
        Arc::new(output),
        block(4, 20_000, 20_100, 0, 3),
        block(5, 20_050, 20_100, 0, 3),
    ];
    let jobs = metrics_jobs(&tenant(), &blocks, WINDOW, 1 << 20);
    assert_eq!(shapes(&jobs), [vec![9]]);
}
