//! `contrail-cli query blocks --metrics DIR QUERY`: a TraceQL metrics query over the vc1 blocks
//! of a local storage folder, answered by the same engine and with the same request rules as
//! `/api/metrics/query_range` (window alignment, default step, step and exemplar limits) and
//! printed as that endpoint's JSON (`/api/metrics/query`'s with `--instant`). Without
//! `--start`/`--end` the range is the blocks' own (earliest span start to latest span end).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contrail_proto::TenantId;
use contrail_querier::QueryFrontendConfig;
use contrail_querier::params::MetricsLimits;
use contrail_querier::service::MetricsQueryRequest;
use contrail_storage::DecodePool;
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, SpanStarts, run_metrics,
};
use contrail_traceql::parse_and_validate;

use super::sources::{QUERY_BUDGET_BYTES, open_blocks, print_json, runtime};

/// What `query blocks --metrics` was given.
pub(super) struct MetricsArgs {
    pub(super) dir: PathBuf,
    pub(super) query: String,
    pub(super) tenant: TenantId,
    pub(super) start_unix_nano: Option<u64>,
    pub(super) end_unix_nano: Option<u64>,
    pub(super) step: Option<Duration>,
    pub(super) instant: bool,
    pub(super) exemplars: Option<u32>,
}

/// The API's limits, without its maximum range: a folder of blocks is queried whole.
fn limits() -> MetricsLimits {
    let metrics = QueryFrontendConfig::default().metrics;
    MetricsLimits {
        max_duration: Duration::ZERO,
        max_exemplars: metrics.max_exemplars,
        max_series: metrics.max_response_series,
    }
}

/// Runs the query and prints its answer.
pub(super) fn run_metrics_query(args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let root = parse_and_validate(&args.query)
        .map_err(|error| anyhow::anyhow!("invalid query: {error}"))?;
    let plan = Arc::new(
        MetricsPlan::new(&root).map_err(|error| anyhow::anyhow!("invalid query: {error}"))?,
    );
    if !args.dir.is_dir() {
        anyhow::bail!("storage folder {} does not exist", args.dir.display());
    }
    let step_nano = args
        .step
        .map(|step| u64::try_from(step.as_nanos()).unwrap_or(u64::MAX));
    if step_nano == Some(0) {
        anyhow::bail!("--step must be greater than zero");
    }
    runtime()?.block_on(async move {
        let pool = DecodePool::shared();
        let folder = open_blocks(&args.dir, &args.tenant, &pool).await?;
        // Without blocks and without a range there is nothing to count: the empty answer of
        // the last minute (said on stderr, so that a wrong folder or tenant is noticed).
        let (low, high) = match folder.time_range {
            Some(range) => range,
            None => {
                eprintln!(
                    "no blocks of tenant {} under {}",
                    args.tenant,
                    args.dir.display()
                );
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| {
                        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
                    });
                (now.saturating_sub(60_000_000_000).max(1), now)
            }
        };
        let start = args.start_unix_nano.unwrap_or(low);
        // The window's end is exclusive of nothing the blocks hold.
        let end = args
            .end_unix_nano
            .unwrap_or(high.saturating_add(1))
            .max(start + 1);
        let request = MetricsQueryRequest {
            query: args.query.clone(),
            root: Arc::new(root),
            start_unix_nano: Some(start),
            end_unix_nano: Some(end),
            since: None,
            step_nano,
            instant: args.instant,
            exemplars: args.exemplars,
            max_series: None,
        };
        let limits = limits();
        let window = request
            .window(end, &limits)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let metrics_request = MetricsRequest {
            window,
            max_series: request.series_cap(&limits),
            max_exemplars: request.exemplar_limit(&plan.hints, &limits),
            span_starts: SpanStarts::ALL,
        };
        let query = Arc::new(
            MetricsQuery::new(plan.as_ref().clone(), metrics_request)
                .map_err(|error| anyhow::anyhow!("invalid query: {error}"))?,
        );
        let budget = MemoryBudget::new(QUERY_BUDGET_BYTES);
        let outcome = run_metrics(&query, &folder.sources, &pool, &budget)
            .await
            .map_err(|error| anyhow::anyhow!("metrics query failed: {error}"))?;
        let result = plan
            .evaluate(&metrics_request, &outcome.partial)
            .map_err(|error| anyhow::anyhow!("metrics query failed: {error}"))?;
        let json = if args.instant {
            serde_json::to_string(&result.to_instant_response())
        } else {
            serde_json::to_string(&result.to_range_response())
        }
        .context("encode the response")?;
        print_json(&json)?;
        Ok(ExitCode::SUCCESS)
    })
}
