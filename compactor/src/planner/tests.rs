//! Planner properties, over random block lists.

use std::collections::HashSet;

use chrono::TimeZone;
use contrail_storage::block::Uuid;
use proptest::prelude::*;

use super::*;

const NOW_SECS: i64 = 1_800_000_000;

fn tenant() -> TenantId {
    TenantId::new("tenant-a").expect("valid tenant")
}

fn meta(seed: u128, end_secs: i64, level: u32, bytes: u64, objects: u64) -> BlockMeta {
    let end_time = Utc.timestamp_opt(end_secs, 0).single().expect("valid time");
    BlockMeta {
        format: "vc1".to_owned(),
        block_id: Uuid::from_u128(seed),
        tenant_id: tenant(),
        start_time: end_time - chrono::Duration::seconds(60),
        end_time,
        min_id: contrail_proto::TraceId::from_bytes(&[0; 16]).expect("16 bytes"),
        max_id: contrail_proto::TraceId::from_bytes(&[0xff; 16]).expect("16 bytes"),
        total_objects: objects,
        total_spans: objects * 20,
        total_records: 1,
        size: bytes,
        footer_size: 100,
        bloom_shards: 1,
        bloom_size: 0,
        compaction_level: level,
        replication_factor: 1,
        dedicated_columns: Vec::new(),
        row_groups: Vec::new(),
        compacted_from: Vec::new(),
    }
}

fn config(max_inputs: usize, max_bytes: u64, max_objects: u64) -> PlannerConfig {
    PlannerConfig {
        compaction_window: Duration::from_secs(3600),
        active_window: Duration::from_secs(24 * 3600),
        max_input_blocks: max_inputs,
        max_compaction_objects: max_objects,
        max_block_bytes: max_bytes,
    }
}

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW_SECS, 0).single().expect("valid time")
}

fn blocks_strategy() -> impl Strategy<Value = Vec<BlockMeta>> {
    // Ends within the last 3 days (so both zones), levels 0-3, sizes up to 1000 units.
    prop::collection::vec((0i64..3 * 86_400, 0u32..4, 1u64..1000, 1u64..1000), 0..60).prop_map(
        |specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(index, (age, level, bytes, objects))| {
                    meta(index as u128 + 1, NOW_SECS - age, level, bytes, objects)
                })
                .collect()
        },
    )
}

fn config_strategy() -> impl Strategy<Value = PlannerConfig> {
    (2usize..10, 500u64..5000, 500u64..5000)
        .prop_map(|(inputs, bytes, objects)| config(inputs, bytes, objects))
}

fn is_old(meta: &BlockMeta, config: &PlannerConfig) -> bool {
    meta.end_time.timestamp() <= NOW_SECS - config.active_window.as_secs() as i64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jobs_respect_every_bound(blocks in blocks_strategy(), config in config_strategy()) {
        for job in plan(&tenant(), &blocks, &config, now()) {
            prop_assert!(job.blocks.len() >= MIN_INPUT_BLOCKS);
            prop_assert!(job.blocks.len() <= config.max_input_blocks);
            prop_assert!(job.input_bytes() <= config.max_block_bytes);
            let objects: u64 = job.blocks.iter().map(|meta| meta.total_objects).sum();
            prop_assert!(objects <= config.max_compaction_objects);
        }
    }

    #[test]
    fn a_job_stays_in_one_window_and_zone_and_recent_jobs_in_one_level(
        blocks in blocks_strategy(),
        config in config_strategy(),
    ) {
        for job in plan(&tenant(), &blocks, &config, now()) {
            let windows: HashSet<_> = job
                .blocks
                .iter()
                .map(|meta| window_of(meta, config.compaction_window))
                .collect();
            prop_assert_eq!(windows.into_iter().collect::<Vec<_>>(), vec![job.window]);
            let zones: HashSet<bool> = job.blocks.iter().map(|meta| is_old(meta, &config)).collect();
            prop_assert_eq!(zones.len(), 1);
            if !is_old(&job.blocks[0], &config) {
                let levels: HashSet<u32> =
                    job.blocks.iter().map(|meta| meta.compaction_level).collect();
                prop_assert_eq!(levels.len(), 1);
            }
            let highest = job.blocks.iter().map(|meta| meta.compaction_level).max();
            prop_assert_eq!(Some(job.output_level), highest.map(|level| level + 1));
        }
    }

    #[test]
    fn no_block_is_in_two_jobs_and_every_input_is_a_given_block(
        blocks in blocks_strategy(),
        config in config_strategy(),
    ) {
        let given: HashSet<Uuid> = blocks.iter().map(|meta| meta.block_id).collect();
        let mut seen = HashSet::new();
        for job in plan(&tenant(), &blocks, &config, now()) {
            for meta in &job.blocks {
                prop_assert!(given.contains(&meta.block_id));
                prop_assert!(seen.insert(meta.block_id), "block {} twice", meta.block_id);
            }
        }
    }

    #[test]
    fn the_plan_does_not_depend_on_the_listing_order(
        blocks in blocks_strategy(),
        config in config_strategy(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = blocks.clone();
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for index in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(index, (state % (index as u64 + 1)) as usize);
        }
        prop_assert_eq!(
            plan(&tenant(), &blocks, &config, now()),
            plan(&tenant(), &shuffled, &config, now())
        );
    }

    /// With only the byte bound binding, no two blocks left out of every job of a group would fit
    /// into one job together: the planner leaves no merge on the table.
    #[test]
    fn leftovers_of_a_group_never_fit_together(
        blocks in blocks_strategy(),
        max_inputs in 2usize..10,
        max_bytes in 500u64..5000,
    ) {
        let config = config(max_inputs, max_bytes, u64::MAX);
        let jobs = plan(&tenant(), &blocks, &config, now());
        let planned: HashSet<Uuid> = jobs
            .iter()
            .flat_map(|job| job.blocks.iter().map(|meta| meta.block_id))
            .collect();
        let leftovers: Vec<&BlockMeta> =
            blocks.iter().filter(|meta| !planned.contains(&meta.block_id)).collect();
        let group = |meta: &BlockMeta| {
            let old = is_old(meta, &config);
            (old, if old { 0 } else { meta.compaction_level }, window_of(meta, config.compaction_window))
        };
        for (index, first) in leftovers.iter().enumerate() {
            for second in &leftovers[index + 1..] {
                if group(first) == group(second) {
                    prop_assert!(
                        first.size + second.size > config.max_block_bytes,
                        "{} and {} fit together", first.block_id, second.block_id
                    );
                }
            }
        }
    }

    /// Compacting what the planner says, again and again, ends (every output is one block made
    /// of its inputs), and never loses a byte of the inputs.
    #[test]
    fn repeated_planning_converges(blocks in blocks_strategy(), config in config_strategy()) {
        let total: u64 = blocks.iter().map(|meta| meta.size).sum();
        let mut live = blocks;
        let mut next_id = 10_000u128;
        for _round in 0..200 {
            let jobs = plan(&tenant(), &live, &config, now());
            if jobs.is_empty() {
                let stored: u64 = live.iter().map(|meta| meta.size).sum();
                prop_assert_eq!(stored, total);
                return Ok(());
            }
            for job in jobs {
                let inputs: HashSet<Uuid> = job.blocks.iter().map(|meta| meta.block_id).collect();
                live.retain(|meta| !inputs.contains(&meta.block_id));
                let end = job.blocks.iter().map(|meta| meta.end_time.timestamp()).max().unwrap_or(0);
                let bytes = job.input_bytes();
                let objects = job.blocks.iter().map(|meta| meta.total_objects).sum();
                next_id += 1;
                live.push(meta(next_id, end, job.output_level, bytes, objects));
            }
        }
        prop_assert!(false, "planning did not converge in 200 rounds");
    }
}

#[test]
fn other_tenants_and_single_blocks_are_not_planned() {
    let config = config(4, 10_000, 10_000);
    let mut other = meta(1, NOW_SECS - 10, 0, 10, 10);
    other.tenant_id = TenantId::new("tenant-b").expect("valid tenant");
    let alone = meta(2, NOW_SECS - 10, 0, 10, 10);
    assert!(plan(&tenant(), &[other, alone], &config, now()).is_empty());
}

#[test]
fn recent_blocks_merge_by_level_and_old_windows_across_levels() {
    let config = config(8, 10_000, 10_000);
    let window_start = (NOW_SECS - 3600).div_euclid(3600) * 3600;
    let recent = [
        meta(1, window_start + 10, 0, 10, 10),
        meta(2, window_start + 20, 0, 20, 10),
        meta(3, window_start + 30, 1, 30, 10),
    ];
    let jobs = plan(&tenant(), &recent, &config, now());
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0]
            .blocks
            .iter()
            .map(|meta| meta.block_id)
            .collect::<Vec<_>>(),
        vec![Uuid::from_u128(1), Uuid::from_u128(2)]
    );
    assert_eq!(jobs[0].output_level, 1);
    assert_eq!(outstanding_blocks(&jobs), 2);

    let old_start = (NOW_SECS - 3 * 86_400).div_euclid(3600) * 3600;
    let old = [
        meta(4, old_start + 10, 0, 10, 10),
        meta(5, old_start + 20, 2, 20, 10),
        meta(6, old_start + 30, 1, 30, 10),
    ];
    let jobs = plan(&tenant(), &old, &config, now());
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].blocks.len(), 3);
    assert_eq!(jobs[0].output_level, 3);
}
