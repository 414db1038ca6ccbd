//! The command line: `generate` writes a corpus, `send` sends one over OTLP. Each prints a
//! one-line JSON summary on stdout.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::corpus::CorpusConfig;
use crate::error::{Error, Result};
use crate::files::{CorpusSummary, write_corpus};

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
    }
}
