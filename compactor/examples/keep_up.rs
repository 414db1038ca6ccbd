//! Does one compactor keep up with the blocks the ingester cuts under W1? A discrete-time
//! simulation that drives the real planner (`contrail_compactor::plan`) with the block stream of
//! a given ingest rate and runs the planned jobs one after another at a given merge throughput
//! (input block bytes per second, from the W5 measurement), as `Compactor::run` does: a cycle
//! every `compaction_cycle`, at most `max_time_per_tenant` of jobs per cycle.
//!
//! `cargo run --release -p contrail-compactor --example keep_up -- \
//!     [--spans-per-second 200000] [--block-spans 1000000] [--bytes-per-span 46.7] \
//!     [--throughput-mb 30] [--hours 30] [--max-input-blocks 8] [--rf 1]`
//!
//! Prints the outstanding blocks (blocks in planned jobs at each cycle start) and the live
//! blocks, their maximum over the run and over the last hour, the compactor's busy share and the
//! write amplification (bytes merged / bytes ingested).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use contrail_compactor::{CompactorConfig, plan};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{BlockMeta, Uuid};

struct Settings {
    spans_per_second: f64,
    block_spans: f64,
    bytes_per_span: f64,
    throughput_bytes: f64,
    hours: f64,
    max_input_blocks: usize,
    replication_factor: f64,
}

fn parse() -> Settings {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|index| args.get(index + 1))
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    };
    Settings {
        spans_per_second: value("--spans-per-second", 200_000.0),
        block_spans: value("--block-spans", 1_000_000.0),
        bytes_per_span: value("--bytes-per-span", 46.7),
        throughput_bytes: value("--throughput-mb", 30.0) * 1e6,
        hours: value("--hours", 30.0),
        max_input_blocks: value("--max-input-blocks", 8.0) as usize,
        replication_factor: value("--rf", 1.0),
    }
}

fn time(seconds: f64) -> DateTime<Utc> {
    let start = 1_800_000_000.0;
    Utc.timestamp_nanos(((start + seconds) * 1e9) as i64)
}

fn block(tenant: &TenantId, id: u128, end: f64, spans: f64, bytes: f64, level: u32) -> BlockMeta {
    let any_id = TraceId::from_bytes(&[0; 16]).expect("16 bytes");
    BlockMeta {
        format: "vc1".to_owned(),
        block_id: Uuid::from_u128(id),
        tenant_id: tenant.clone(),
        start_time: time(end - 60.0),
        end_time: time(end),
        min_id: any_id,
        max_id: any_id,
        total_objects: (spans / 19.5) as u64,
        total_spans: spans as u64,
        total_records: 1,
        size: bytes as u64,
        footer_size: 0,
        bloom_shards: 1,
        bloom_size: 0,
        compaction_level: level,
        replication_factor: 1,
        dedicated_columns: Vec::new(),
        row_groups: Vec::new(),
        compacted_from: Vec::new(),
    }
}

/// The ingester's block stream: one level-0 block every `interval` seconds.
struct Arrivals {
    tenant: TenantId,
    interval: f64,
    spans: f64,
    bytes: f64,
    next_at: f64,
    next_id: u128,
    ingested: f64,
}

impl Arrivals {
    fn arrive_until(&mut self, now: f64, live: &mut Vec<BlockMeta>) {
        while self.next_at <= now {
            live.push(block(
                &self.tenant,
                self.next_id,
                self.next_at,
                self.spans,
                self.bytes,
                0,
            ));
            self.next_id += 1;
            self.ingested += self.bytes;
            self.next_at += self.interval;
        }
    }
}

fn main() {
    let settings = parse();
    let tenant = TenantId::new("single-tenant").expect("tenant");
    let mut config = CompactorConfig::default();
    config.compaction.max_input_blocks = settings.max_input_blocks;
    let planner = config.planner();
    let cycle = config.compaction.compaction_cycle.as_secs_f64();
    let budget = config.compaction.max_time_per_tenant.as_secs_f64();
    let block_interval =
        settings.block_spans / (settings.spans_per_second * settings.replication_factor);
    let block_bytes = settings.block_spans * settings.bytes_per_span;
    let end = settings.hours * 3600.0;

    let mut arrivals = Arrivals {
        tenant: tenant.clone(),
        interval: block_interval,
        spans: settings.block_spans,
        bytes: block_bytes,
        next_at: block_interval,
        next_id: 1,
        ingested: 0.0,
    };
    let mut live: Vec<BlockMeta> = Vec::new();
    let mut now = 0.0;
    let mut busy = 0.0;
    let mut merged = 0.0;
    let mut samples: Vec<(f64, usize, usize)> = Vec::new();
    while now < end {
        arrivals.arrive_until(now, &mut live);
        let jobs = plan(&tenant, &live, &planner, time(now));
        samples.push((
            now,
            jobs.iter().map(|job| job.blocks.len()).sum(),
            live.len(),
        ));
        let cycle_start = now;
        for job in jobs {
            if now - cycle_start >= budget {
                break;
            }
            let bytes = job.input_bytes() as f64;
            let seconds = bytes / settings.throughput_bytes;
            now += seconds;
            busy += seconds;
            merged += bytes;
            let inputs: Vec<Uuid> = job.blocks.iter().map(|meta| meta.block_id).collect();
            live.retain(|meta| !inputs.contains(&meta.block_id));
            let spans: f64 = job.blocks.iter().map(|meta| meta.total_spans as f64).sum();
            let last_end = job
                .blocks
                .iter()
                .map(|meta| meta.end_time)
                .max()
                .unwrap_or_else(|| time(now));
            let end_seconds = (last_end - time(0.0)).num_milliseconds() as f64 / 1e3;
            let output = block(
                &tenant,
                arrivals.next_id,
                end_seconds,
                spans,
                bytes,
                job.output_level,
            );
            arrivals.next_id += 1;
            live.push(output);
            // Blocks cut while the job ran arrive before the next job is planned.
            arrivals.arrive_until(now, &mut live);
        }
        now = (cycle_start + cycle).max(now);
    }
    let ingested = arrivals.ingested;
    let last_hour: Vec<&(f64, usize, usize)> = samples
        .iter()
        .filter(|(at, _, _)| *at >= end - 3600.0)
        .collect();
    let max_outstanding = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let max_live = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let max_outstanding_last = last_hour.iter().map(|s| s.1).max().unwrap_or(0);
    let max_live_last = last_hour.iter().map(|s| s.2).max().unwrap_or(0);
    let mean_outstanding =
        samples.iter().map(|s| s.1 as f64).sum::<f64>() / samples.len().max(1) as f64;
    println!(
        "ingest {:.0} spans/s x RF {}: a block of {:.0} spans ({:.1} MB) every {:.2} s = {:.1} MB/s of blocks",
        settings.spans_per_second,
        settings.replication_factor,
        settings.block_spans,
        block_bytes / 1e6,
        block_interval,
        block_bytes / block_interval / 1e6
    );
    println!(
        "compactor: {:.1} MB/s of input, max_input_blocks {}, {:.0} h simulated, cycle {:?}",
        settings.throughput_bytes / 1e6,
        settings.max_input_blocks,
        settings.hours,
        Duration::from_secs_f64(cycle)
    );
    println!(
        "outstanding blocks: max {max_outstanding}, mean {mean_outstanding:.1}, max in the last hour {max_outstanding_last}"
    );
    println!("live blocks: max {max_live}, max in the last hour {max_live_last}");
    println!("compactor busy: {:.0}%", 100.0 * busy / end);
    println!("write amplification: {:.2}", merged / ingested.max(1.0));
}
