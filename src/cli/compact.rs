//! `contrail-cli block compact DIR [--tenant T]`: one compaction cycle on a local storage folder,
//! as the compactor service runs it (plan, merge, swap, clean-up, tenant index), printing what
//! it did. Retention of live blocks is off unless `--block-retention` is given, so compacting
//! an old corpus keeps it. The operator's tool and the W5/W2 benchmarks' driver: the
//! `key: value` lines at the end are stable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use contrail_compactor::{
    Compactor, CompactorArgs, CompactorConfig, NoOverrides, StaticMembers, TenantReport,
};
use contrail_proto::{SystemClock, TenantId};
use contrail_storage::config::BlockConfig;
use tokio_util::sync::CancellationToken;

use super::block::local_store;

/// The options of `block compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// Storage folder holding `<tenant>/<block>/...`.
    pub dir: PathBuf,
    /// Only this tenant (default: every tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Inputs of one job, at most (`compactor.compaction.max_input_blocks`).
    #[arg(long)]
    pub max_input_blocks: Option<usize>,
    /// Window width (`compactor.compaction.compaction_window`), e.g. `1h`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub compaction_window: Option<Duration>,
    /// zstd level of the output blocks (`compactor.compaction.zstd_level`).
    #[arg(long)]
    pub zstd_level: Option<i32>,
    /// zstd level of the outputs' generic attribute string values
    /// (`compactor.compaction.attribute_zstd_level`).
    #[arg(long)]
    pub attribute_zstd_level: Option<i32>,
    /// Data page size of the outputs in bytes (`compactor.compaction.data_page_size`).
    #[arg(long)]
    pub data_page_size_bytes: Option<u64>,
    /// Rows of an output data page, at most (`compactor.compaction.data_page_row_limit`).
    #[arg(long)]
    pub data_page_row_limit: Option<usize>,
    /// BYTE_STREAM_SPLIT for offsets, durations and int attributes
    /// (`compactor.compaction.byte_stream_split`).
    #[arg(long)]
    pub byte_stream_split: Option<bool>,
    /// Mark live blocks ending longer ago than this compacted (off by default).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub block_retention: Option<Duration>,
}

/// Retention long enough to never expire anything.
const NO_RETENTION: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

pub async fn compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let store = local_store(&args.dir)?;
    let mut config = CompactorConfig::default();
    config.sharding.instance_id = Some("contrail-cli".to_owned());
    config.compaction.block_retention = args.block_retention.unwrap_or(NO_RETENTION);
    if let Some(max_input_blocks) = args.max_input_blocks {
        config.compaction.max_input_blocks = max_input_blocks;
    }
    if let Some(window) = args.compaction_window {
        config.compaction.compaction_window = window;
    }
    let compaction = &mut config.compaction;
    if let Some(level) = args.zstd_level {
        compaction.zstd_level = level;
    }
    if let Some(level) = args.attribute_zstd_level {
        compaction.attribute_zstd_level = level;
    }
    if let Some(bytes) = args.data_page_size_bytes {
        compaction.data_page_size = bytesize::ByteSize::b(bytes);
    }
    if let Some(rows) = args.data_page_row_limit {
        compaction.data_page_row_limit = rows;
    }
    if let Some(enabled) = args.byte_stream_split {
        compaction.byte_stream_split = enabled;
    }
    config.validate().context("invalid compaction settings")?;
    let registry = prometheus::Registry::new();
    let compactor = Compactor::new(CompactorArgs {
        config,
        block: BlockConfig::default(),
        store,
        members: Arc::new(StaticMembers::new("contrail-cli", Vec::new())),
        overrides: Arc::new(NoOverrides),
        clock: SystemClock::shared(),
        registry: &registry,
    })?;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let reports = match args.tenant {
        Some(tenant) => {
            let tenant = TenantId::new(tenant).context("invalid tenant")?;
            vec![compactor.compact_tenant(&tenant, &shutdown).await?]
        }
        None => compactor.run_cycle(&shutdown).await?.tenants,
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok(print_reports(&reports, seconds))
}

fn print_reports(reports: &[TenantReport], seconds: f64) -> ExitCode {
    let mut totals = Totals::default();
    let mut failed = false;
    for report in reports {
        let tenant = report
            .tenant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        for job in &report.jobs {
            let stats = &job.stats;
            outln!(
                "job {tenant}: {} blocks ({} spans, {} bytes) -> {} level {}: {} spans, {} bytes, \
                 {} duplicate spans dropped, {} traces rebuilt, {:.2} s",
                job.inputs.len(),
                stats.input_spans,
                stats.input_bytes,
                job.output,
                job.output_level,
                stats.output_spans,
                job.output_bytes,
                stats.duplicate_spans,
                stats.rebuilt_traces,
                job.duration.as_secs_f64()
            );
            totals.jobs += 1;
            totals.input_blocks += job.inputs.len() as u64;
            totals.input_bytes += stats.input_bytes;
            totals.input_spans += stats.input_spans;
            totals.output_bytes += job.output_bytes;
            totals.output_spans += stats.output_spans;
            totals.duplicates += stats.duplicate_spans;
        }
        for job in &report.failed {
            failed = true;
            eprintln!(
                "error: job {tenant} window {} ({} blocks) failed ({}): {}",
                job.window,
                job.inputs.len(),
                job.status,
                job.message
            );
        }
        if let Some(error) = &report.error {
            failed = true;
            eprintln!("error: tenant {tenant}: {error}");
        }
        if let Some(retention) = &report.retention {
            outln!(
                "tenant {tenant}: {} superseded and {} expired blocks marked compacted, {} \
                 compacted blocks and {} partial writes deleted, tenant index {}",
                retention.superseded,
                retention.expired,
                retention.deleted,
                retention.orphans,
                if report.index_written {
                    "written"
                } else {
                    "not written"
                }
            );
        }
    }
    outln!("jobs: {}", totals.jobs);
    outln!("input blocks: {}", totals.input_blocks);
    outln!("input bytes: {}", totals.input_bytes);
    outln!("input spans: {}", totals.input_spans);
    outln!("output bytes: {}", totals.output_bytes);
    outln!("output spans: {}", totals.output_spans);
    outln!("duplicate spans: {}", totals.duplicates);
    outln!("seconds: {seconds:.3}");
    outln!(
        "input MB/s: {:.1}",
        if seconds > 0.0 {
            totals.input_bytes as f64 / seconds / 1e6
        } else {
            0.0
        }
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Debug, Default)]
struct Totals {
    jobs: u64,
    input_blocks: u64,
    input_bytes: u64,
    input_spans: u64,
    output_bytes: u64,
    output_spans: u64,
    duplicates: u64,
}
