//! The command line: `generate` writes a corpus, `send` sends one over OTLP. Each prints a
//! one-line JSON summary on stdout.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::bench::{BenchConfig, run_bench};
use crate::corpus::CorpusConfig;
use crate::error::{Error, Result};
use crate::files::{CorpusSummary, write_corpus};
use crate::send::{Protocol, SendConfig, Source, send};

#[derive(Debug, Parser)]
#[command(
    name = "contrail-loadgen",
    version,
    about = "Realistic OTLP trace load for Contrail"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a seeded corpus to DIR as batch-NNNNNN.pb files (OTLP protobuf) plus corpus.json.
    Generate(GenerateArgs),
    /// Send a corpus (replayed from --from DIR, or generated from --seed) over OTLP.
    Send(SendArgs),
    /// Run the benchmark workloads against release binaries and record the medians in
    /// BENCHMARKS.md (scripts/bench.sh builds the binaries and calls this).
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The all-in-one server binary.
    #[arg(long, default_value = "target/release/contrail")]
    pub contrail: PathBuf,
    /// The operator's CLI (`block write`).
    #[arg(long, default_value = "target/release/contrail-cli")]
    pub cli: PathBuf,
    /// The repository (its BENCHMARKS.md receives the table).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The server's configuration (default: REPO/tempo.yaml).
    #[arg(long)]
    pub server_config: Option<PathBuf>,
    /// Scratch directory for corpora, data and blocks (emptied per run).
    #[arg(long, default_value = "/tmp/contrail-bench")]
    pub work_dir: PathBuf,
    /// File whose bench-runner section receives the table (default: REPO/BENCHMARKS.md).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Print the results only; leave BENCHMARKS.md alone.
    #[arg(long)]
    pub no_markdown: bool,
    /// Runs per workload (the table shows the median).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of W1 ingest per run.
    #[arg(long, default_value_t = 60)]
    pub w1_duration: u64,
    /// W1's client replays this many requests, generated and encoded before the measured
    /// window, pass after pass with fresh trace IDs and times (about 470 KB of memory each;
    /// 2,048: a 60 s run sends each about four times, so attribute values repeat less; no
    /// difference to 256 was measurable in BENCHMARKS.md's W1 runs).
    #[arg(long, default_value_t = 2048)]
    pub w1_pool_batches: usize,
    /// W1's client generates and encodes every request during the run instead (the client of
    /// the first W1 figures, about 15 CPU-s per 1M spans).
    #[arg(long, conflicts_with = "w1_pool_batches")]
    pub w1_on_the_fly: bool,
    /// W1's streams send their next request at once after a refusal that asks for a delay
    /// (RetryInfo), instead of waiting it out as OTLP exporters do (the W1 client before
    /// 2026-12-04).
    #[arg(long)]
    pub w1_ignore_retry_delay: bool,
    /// Traces in the W2 corpus.
    #[arg(long, default_value_t = 50_000)]
    pub w2_traces: usize,
    /// Seconds to wait for the server to listen.
    #[arg(long, default_value_t = 15)]
    pub server_start_timeout: u64,
    /// Where the server receives OTLP gRPC.
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub otlp_grpc_address: std::net::SocketAddr,
    /// Where the server answers the Tempo HTTP API.
    #[arg(long, default_value = "127.0.0.1:3200")]
    pub api_address: std::net::SocketAddr,
    /// W6: probes per run.
    #[arg(long, default_value_t = 200)]
    pub w6_probes: usize,
    /// W6: background load while probing, spans per second (10,000: a load the single binary
    /// sustains on a 2-core machine beside the load generator; at 50,000 it measures ingest
    /// overload, not freshness).
    #[arg(long, default_value_t = 10_000.0)]
    pub w6_background_spans_per_s: f64,
    /// Run only these workloads (comma-separated: w1,w2,w6); the others are reported as not
    /// selected. BENCHMARKS.md is left alone unless every workload runs.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
}

impl BenchArgs {
    fn config(&self) -> Result<BenchConfig> {
        let mut selected = Vec::new();
        for name in &self.workloads {
            let name = name.trim().to_ascii_lowercase();
            if !matches!(name.as_str(), "w1" | "w2" | "w6") {
                return Err(Error::InvalidArgument(format!(
                    "--workloads: unknown workload {name:?} (the runner drives w1, w2 and w6)"
                )));
            }
            selected.push(name);
        }
        let markdown_opt = if self.no_markdown || !selected.is_empty() {
            None
        } else {
            Some(
                self.markdown
                    .clone()
                    .unwrap_or_else(|| self.repo.join("BENCHMARKS.md")),
            )
        };
        Ok(BenchConfig {
            contrail_bin: self.contrail.clone(),
            cli_bin: self.cli.clone(),
            repo_dir: self.repo.clone(),
            server_config: self
                .server_config
                .clone()
                .unwrap_or_else(|| self.repo.join("tempo.yaml")),
            work_dir: self.work_dir.clone(),
            markdown_opt,
            runs: self.runs,
            w1_duration: Duration::from_secs(self.w1_duration),
            w1_pool_batches_opt: (!self.w1_on_the_fly).then_some(self.w1_pool_batches),
            w1_honor_retry_delay: !self.w1_ignore_retry_delay,
            w2_traces: self.w2_traces,
            server_start_timeout: Duration::from_secs(self.server_start_timeout),
            otlp_grpc_address: self.otlp_grpc_address,
            api_address: self.api_address,
            w6_probes: self.w6_probes,
            w6_background_spans_per_s: self.w6_background_spans_per_s,
            workloads: selected,
        })
    }
}

/// Where the generated timestamps start.
#[derive(Debug, Args, Clone)]
pub struct CorpusArgs {
    /// Seed of the generator: the same seed gives the same traces.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Traces started per second of simulated time.
    #[arg(long, default_value_t = 100.0)]
    pub traces_per_second: f64,
    /// Start time of the first trace, in unix seconds, or `now` (the default: the corpus then
    /// ends around now).
    #[arg(long, default_value = "now")]
    pub start_time: String,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Number of traces to generate.
    #[arg(long)]
    pub traces: usize,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Spans per batch file (whole traces per file).
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Base URL of the OTLP receiver, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318
    /// (HTTP, the request goes to {endpoint}/v1/traces).
    #[arg(long)]
    pub endpoint: String,
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: Protocol,
    /// Replay the *.pb batches of a corpus directory written by `generate`.
    #[arg(long, conflicts_with_all = ["seed", "traces", "start_time", "traces_per_second", "batch_spans"])]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Traces to generate (without --from); without it the run lasts until --duration or --spans.
    #[arg(long)]
    pub traces: Option<usize>,
    /// Spans per request when generating.
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
    /// Spans per second across all streams; as fast as possible when left out.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Concurrent streams (one connection each).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after about this many spans.
    #[arg(long)]
    pub spans: Option<u64>,
    /// Tenant, sent as X-Scope-OrgID.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Timeout of every request in seconds, connecting included.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Encode the requests once, before the run (generated from --seed, or the --from files as
    /// they are), then replay them pass after pass, every pass with its own trace IDs and later
    /// timestamps, until --duration or --spans: each request then costs the client one copy.
    #[arg(long, conflicts_with = "traces")]
    pub preencoded: bool,
    /// Requests generated into the pre-encoded pool (about 470 KB each at 1,000 spans).
    #[arg(
        long,
        default_value_t = 256,
        requires = "preencoded",
        conflicts_with = "from"
    )]
    pub pool_batches: usize,
    /// Send the next request at once after a refusal that asks for a delay (gRPC RetryInfo,
    /// HTTP Retry-After), instead of waiting it out as OTLP exporters do.
    #[arg(long)]
    pub ignore_retry_delay: bool,
}

impl SendArgs {
    fn config(&self) -> Result<SendConfig> {
        if self.preencoded && self.duration.is_none() && self.spans.is_none() {
            return Err(Error::InvalidArgument(
                "--preencoded replays until --duration or --spans: give one".to_owned(),
            ));
        }
        let source = match &self.from {
            Some(dir) => Source::Files(dir.clone()),
            None => {
                if self.traces.is_none() && self.duration.is_none() && self.spans.is_none() {
                    return Err(Error::InvalidArgument(
                        "give --from DIR, or --traces, --spans or --duration to bound the run"
                            .to_owned(),
                    ));
                }
                // timestamps end around now when the run's size is known, start now otherwise
                let traces_estimate = self.traces.unwrap_or(0);
                let mut corpus = self.corpus.clone();
                if let Some(rate) = self.rate {
                    // simulated time advances with the sending rate (about 20 spans per trace)
                    corpus.traces_per_second = (rate / 20.0).max(1.0);
                }
                Source::Generated {
                    config: corpus.config(traces_estimate)?,
                    traces_opt: self.traces,
                    spans_per_batch: self.batch_spans,
                }
            }
        };
        let seconds = |value: f64, flag: &str| -> Result<Duration> {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|duration| !duration.is_zero())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("{flag} must be a positive number of seconds"))
                })
        };
        Ok(SendConfig {
            endpoint: self.endpoint.clone(),
            protocol: self.protocol,
            source,
            streams: self.streams,
            rate_opt: self.rate,
            duration_opt: self
                .duration
                .map(|value| seconds(value, "--duration"))
                .transpose()?,
            max_spans_opt: self.spans,
            tenant_opt: self.tenant.clone(),
            request_timeout: seconds(self.timeout, "--timeout")?,
            progress: !self.quiet,
            honor_retry_delay: !self.ignore_retry_delay,
        })
    }
}

impl CorpusArgs {
    /// The generator configuration for `traces` traces: with `--start-time now` the corpus ends
    /// at the current time.
    pub fn config(&self, traces: usize) -> Result<CorpusConfig> {
        if !self.traces_per_second.is_finite() || self.traces_per_second <= 0.0 {
            return Err(Error::InvalidArgument(
                "--traces-per-second must be positive".to_owned(),
            ));
        }
        let start_time_unix_nano = if self.start_time == "now" {
            let now = now_unix_nano();
            let span_nanos = (traces as f64 / self.traces_per_second * 1e9) as u64;
            now.saturating_sub(span_nanos)
        } else {
            let seconds: u64 = self.start_time.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--start-time must be unix seconds or `now`, got `{}`",
                    self.start_time
                ))
            })?;
            seconds.saturating_mul(1_000_000_000)
        };
        Ok(CorpusConfig {
            seed: self.seed,
            start_time_unix_nano,
            traces_per_second: self.traces_per_second,
        })
    }
}

pub(crate) fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Serialize)]
struct GenerateReport<'a> {
    mode: &'static str,
    out: String,
    #[serde(flatten)]
    summary: &'a CorpusSummary,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => {
            let config = args.corpus.config(args.traces)?;
            let summary = write_corpus(&args.out, config, args.traces, args.batch_spans)?;
            let report = GenerateReport {
                mode: "generate",
                out: args.out.display().to_string(),
                summary: &summary,
            };
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Bench(args) => {
            let results = run_bench(&args.config()?)?;
            let report = serde_json::json!({ "mode": "bench", "results": results });
            println!("{report}");
            Ok(())
        }
        Command::Send(args) => {
            let mut config = args.config()?;
            if args.preencoded {
                let pool = config.source.preencode(args.pool_batches)?;
                config.source = Source::Preencoded(std::sync::Arc::new(pool));
            }
            let runtime = tokio::runtime::Runtime::new()
                .map_err(|source| Error::io("start", "the tokio runtime", source))?;
            let report = runtime.block_on(send(config))?;
            println!("{}", serde_json::to_string(&report)?);
            if let Some(reason) = report.aborted {
                return Err(Error::SendFailed(format!(
                    "{reason} ({} at {}: {})",
                    report.protocol,
                    report.endpoint,
                    report.first_error.unwrap_or_default()
                )));
            }
            if report.requests_failed > 0 {
                return Err(Error::SendFailed(format!(
                    "{} of {} requests failed; first error: {}",
                    report.requests_failed,
                    report.requests,
                    report.first_error.unwrap_or_default()
                )));
            }
            if report.spans_acked == 0 {
                return Err(Error::SendFailed("no spans were sent".to_owned()));
            }
            Ok(())
        }
    }
}
