//! `contrail-cli query blocks DIR QUERY`: a TraceQL search over the vc1 blocks of a local
//! storage folder, printed as the JSON of Tempo's `/api/search` response (a
//! `tempopb.SearchResponse`), so the engine is usable and testable before the HTTP server.
//! With `--metrics`, QUERY is a TraceQL metrics query and the answer is the JSON of
//! `/api/metrics/query_range` (or `/api/metrics/query` with `--instant`): see
//! [`query_metrics`](super::query_metrics).
//!
//! Each block is one unit of the search; the vc1 source overlaps its row groups' reads and
//! decodes, and evaluation runs on the same decode pool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use contrail_proto::TenantId;
use contrail_storage::DecodePool;
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::{SearchOptions, parse, plan_search, search};

use super::query_metrics::{MetricsArgs, run_metrics_query};
use super::sources::{QUERY_BUDGET_BYTES, open_blocks, print_json, runtime};

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Search the vc1 blocks under DIR (`DIR/<tenant>/<block>/...`) with a TraceQL query and
    /// print the `/api/search` response JSON (with `--metrics`: a TraceQL metrics query, and
    /// the `/api/metrics/query_range` response JSON).
    Blocks {
        /// Storage folder.
        dir: PathBuf,
        /// The TraceQL query (a metrics query with `--metrics`).
        query: String,
        /// Tenant whose blocks are searched.
        #[arg(long, default_value = TenantId::SINGLE_TENANT)]
        tenant: String,
        /// Start of the time range, unix seconds (default: all time; with `--metrics`, the
        /// earliest span start of the blocks).
        #[arg(long)]
        start: Option<u64>,
        /// End of the time range, unix seconds (default: all time; with `--metrics`, the
        /// latest span end of the blocks).
        #[arg(long)]
        end: Option<u64>,
        /// Traces returned.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Spans shown per spanset (0: all).
        #[arg(long, default_value_t = 3)]
        spss: usize,
        /// QUERY is a TraceQL metrics query (`{ } | rate() by (...)`); prints the
        /// `/api/metrics/query_range` response JSON.
        #[arg(long)]
        metrics: bool,
        /// `--metrics`: the step of the range query (`60s`, `1m`, ...; default: about 240
        /// points over the range, as the API's).
        #[arg(long, requires = "metrics", value_parser = humantime::parse_duration)]
        step: Option<std::time::Duration>,
        /// `--metrics`: one value per series over the whole range, printed as the
        /// `/api/metrics/query` response JSON.
        #[arg(long, requires = "metrics", conflicts_with = "step")]
        instant: bool,
        /// `--metrics`: exemplars per series (default and cap: the API's, 100).
        #[arg(long, requires = "metrics")]
        exemplars: Option<u32>,
    },
}

pub fn run(command: QueryCommand) -> anyhow::Result<ExitCode> {
    let QueryCommand::Blocks {
        dir,
        query,
        tenant,
        start,
        end,
        limit,
        spss,
        metrics,
        step,
        instant,
        exemplars,
    } = command;
    let tenant = TenantId::new(tenant).context("invalid tenant")?;
    let start_unix_nano = start.map(|seconds| seconds.saturating_mul(1_000_000_000));
    let end_unix_nano = end.map(|seconds| seconds.saturating_mul(1_000_000_000));
    if start_unix_nano.unwrap_or(0) > end_unix_nano.unwrap_or(u64::MAX) {
        bail!("--start must not be after --end");
    }
    if metrics {
        return run_metrics_query(MetricsArgs {
            dir,
            query,
            tenant,
            start_unix_nano,
            end_unix_nano,
            step,
            instant,
            exemplars,
        });
    }
    let root = parse(&query).map_err(|error| anyhow::anyhow!("invalid query: {error}"))?;
    let options = SearchOptions {
        start_unix_nano: start_unix_nano.unwrap_or(0),
        end_unix_nano: end_unix_nano.unwrap_or(u64::MAX),
        limit,
        spans_per_spanset: spss,
        most_recent: false,
    };
    let plan = Arc::new(plan_search(&root, options).map_err(|error| anyhow::anyhow!("{error}"))?);
    if !dir.is_dir() {
        bail!("storage folder {} does not exist", dir.display());
    }
    runtime()?.block_on(async move {
        let pool = DecodePool::shared();
        let folder = open_blocks(&dir, &tenant, &pool).await?;
        let budget = MemoryBudget::new(QUERY_BUDGET_BYTES);
        let outcome = search(&plan, &folder.sources, &pool, &budget)
            .await
            .map_err(|error| anyhow::anyhow!("search failed: {error}"))?;
        print_json(&serde_json::to_string(&outcome.response)?)?;
        Ok(ExitCode::SUCCESS)
    })
}
