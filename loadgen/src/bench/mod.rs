//! The benchmark runner behind `contrail-loadgen bench` (and `scripts/bench.sh`, which builds
//! the release binaries first): runs each workload of `../shared/BENCHMARKS.md` that exists so
//! far several times against freshly started processes, reads their CPU time and peak RSS from
//! /proc, and writes the medians between the `bench-runner` markers of the project's
//! BENCHMARKS.md. Workloads whose components do not exist yet are listed as not run.

mod drain;
mod freshness;
pub(crate) mod procfs;
mod workloads;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::corpus::CorpusConfig;
use crate::error::{Error, Result};
use crate::files::write_corpus;

pub const BEGIN_MARKER: &str = "<!-- bench-runner:begin -->";
pub const END_MARKER: &str = "<!-- bench-runner:end -->";

/// What to run and where.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub contrail_bin: PathBuf,
    pub cli_bin: PathBuf,
    /// The repository (BENCHMARKS.md, `tempo.yaml`).
    pub repo_dir: PathBuf,
    /// The server's configuration file (`-config.file`).
    pub server_config: PathBuf,
    /// Scratch space: corpus, data directories, blocks.
    pub work_dir: PathBuf,
    /// The file whose marked section receives the results (`None`: print only).
    pub markdown_opt: Option<PathBuf>,
    pub runs: usize,
    pub w1_duration: Duration,
    /// W1's client: replay a pool of this many pre-encoded requests (`None`: generate and
    /// encode every request during the run, the client of the first W1 figures).
    pub w1_pool_batches_opt: Option<usize>,
    /// W1's streams wait out the delay a refusal asks for, as OTLP exporters do.
    pub w1_honor_retry_delay: bool,
    /// Traces of the W2 corpus (seed 1).
    pub w2_traces: usize,
    pub server_start_timeout: Duration,
    /// Where the started server receives OTLP gRPC (`tempo.yaml`: 4317).
    pub otlp_grpc_address: SocketAddr,
    /// Where the started server answers the Tempo HTTP API (`tempo.yaml`: 3200).
    pub api_address: SocketAddr,
    /// W6: probes per run.
    pub w6_probes: usize,
    /// W6: the background load while probing, spans per second.
    pub w6_background_spans_per_s: f64,
    /// The workloads to run (`w1`, `w2`, `w6`); empty: all of them.
    pub workloads: Vec<String>,
}

impl BenchConfig {
    fn selected(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|name| name == workload)
    }
}

/// Prints one workload's result on stderr as soon as it is known (a long run that is stopped
/// keeps what it measured), then keeps it.
fn report(results: &mut Vec<WorkloadResult>, result: WorkloadResult) {
    if let Ok(line) = serde_json::to_string(&result) {
        eprintln!("bench: {line}");
    }
    results.push(result);
}

/// One measured figure: its samples (one per run) and its target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub samples: Vec<f64>,
    pub target: Target,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Figure {
    fn at_least(name: &str, target: f64, samples: Vec<f64>) -> Self {
        Self {
            name: name.to_owned(),
            samples,
            target: Target::AtLeast(target),
        }
    }

    fn at_most(name: &str, target: f64, samples: Vec<f64>) -> Self {
        Self {
            name: name.to_owned(),
            samples,
            target: Target::AtMost(target),
        }
    }

    fn informative(name: &str, samples: Vec<f64>) -> Self {
        Self {
            name: name.to_owned(),
            samples,
            target: Target::None,
        }
    }

    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    /// `Some(true)` when the median meets the target, `None` without a target.
    pub fn passes(&self) -> Option<bool> {
        let value = self.median();
        match self.target {
            Target::AtLeast(target) => Some(value >= target),
            Target::AtMost(target) => Some(value <= target),
            Target::None => None,
        }
    }
}

pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Measured(Vec<Figure>),
    NotRun(String),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadResult {
    pub workload: &'static str,
    pub outcome: Outcome,
}

impl WorkloadResult {
    fn not_run(workload: &'static str, reason: String) -> Self {
        Self {
            workload,
            outcome: Outcome::NotRun(reason),
        }
    }
}

const NOT_SELECTED: &str = "not selected (--workloads)";

/// Runs every workload and, when configured, writes the table into the markdown file.
pub fn run_bench(config: &BenchConfig) -> Result<Vec<WorkloadResult>> {
    if config.runs == 0 {
        return Err(Error::InvalidArgument(
            "--runs must be at least 1".to_owned(),
        ));
    }
    std::fs::create_dir_all(&config.work_dir)
        .map_err(|source| Error::io("create directory", &config.work_dir, source))?;
    let mut results = Vec::new();

    let mut server_reason_opt = None;
    if config.selected("w1") {
        let w1 = workloads::ingest(config);
        server_reason_opt = match &w1.outcome {
            Outcome::NotRun(reason) if reason.starts_with("server not available") => {
                Some(reason.clone())
            }
            _ => None,
        };
        report(&mut results, w1);
    } else {
        report(
            &mut results,
            WorkloadResult::not_run("W1 ingest", NOT_SELECTED.to_owned()),
        );
    }

    if config.selected("w2") {
        let corpus_dir = config.work_dir.join("corpus");
        let _ = std::fs::remove_dir_all(&corpus_dir);
        let corpus = write_corpus(&corpus_dir, CorpusConfig::default(), config.w2_traces, 1000)?;
        report(
            &mut results,
            workloads::storage(config, &corpus_dir, &corpus),
        );
    } else {
        report(
            &mut results,
            WorkloadResult::not_run("W2 storage", NOT_SELECTED.to_owned()),
        );
    }

    for (workload, elsewhere) in [
        (
            "W3 search",
            "scripts/w3/run_w3.py and run_w3_http.py, see \"Search end to end (W3)\"",
        ),
        (
            "W4 trace by ID",
            "cargo bench -p contrail-querier --bench trace_by_id, see \"Trace by ID over 1,000 blocks\"",
        ),
        (
            "W5 compaction",
            "scripts/compactor-bench.sh, see \"Compactor\"",
        ),
    ] {
        results.push(WorkloadResult::not_run(
            workload,
            format!("not in the runner: measured with {elsewhere}"),
        ));
    }
    let w6 = match server_reason_opt {
        _ if !config.selected("w6") => {
            WorkloadResult::not_run("W6 freshness", NOT_SELECTED.to_owned())
        }
        Some(reason) => WorkloadResult::not_run("W6 freshness", reason),
        None => freshness::freshness(config),
    };
    report(&mut results, w6);

    if let Some(markdown) = &config.markdown_opt {
        let table = render_table(config, &results);
        update_markdown(markdown, &table)?;
    }
    Ok(results)
}

fn format_value(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// The results section: one row per figure, or one per workload not run.
pub fn render_table(config: &BenchConfig, results: &[WorkloadResult]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Written by `scripts/bench.sh` (`contrail-loadgen bench`): median of {} runs per figure, \
         W1 {} s per run, W2 corpus of {} traces (seed 1).\n",
        config.runs,
        config.w1_duration.as_secs(),
        config.w2_traces
    );
    table.push_str(
        "| workload | figure | target | median | runs | status |\n|---|---|---|---|---|---|\n",
    );
    for result in results {
        match &result.outcome {
            Outcome::NotRun(reason) => {
                let _ = writeln!(
                    table,
                    "| {} | | | | | not run: {} |",
                    result.workload,
                    reason.replace('|', "/")
                );
            }
            Outcome::Measured(figures) => {
                for figure in figures {
                    let target = match figure.target {
                        Target::AtLeast(target) => format!(">= {}", format_value(target)),
                        Target::AtMost(target) => format!("<= {}", format_value(target)),
                        Target::None => "(none)".to_owned(),
                    };
                    let runs: Vec<String> = figure
                        .samples
                        .iter()
                        .map(|sample| format_value(*sample))
                        .collect();
                    let status = match figure.passes() {
                        Some(true) => "meets target",
                        Some(false) => "misses target",
                        None => "measured",
                    };
                    let _ = writeln!(
                        table,
                        "| {} | {} | {} | {} | {} | {} |",
                        result.workload,
                        figure.name,
                        target,
                        format_value(figure.median()),
                        runs.join(", "),
                        status
                    );
                }
            }
        }
    }
    table
}

/// Replaces what lies between the markers (appending the markers when they are missing).
pub fn update_markdown(path: &Path, table: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(Error::io("read", path, source)),
    };
    let updated = replace_between_markers(&existing, table);
    std::fs::write(path, updated).map_err(|source| Error::io("write", path, source))
}

pub(crate) fn replace_between_markers(existing: &str, table: &str) -> String {
    let section = format!(
        "{BEGIN_MARKER}\n{}{END_MARKER}",
        table.trim_end().to_owned() + "\n"
    );
    match (existing.find(BEGIN_MARKER), existing.find(END_MARKER)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{section}{}",
                &existing[..begin],
                &existing[end + END_MARKER.len()..]
            )
        }
        _ => {
            let separator = if existing.is_empty() || existing.ends_with("\n\n") {
                ""
            } else if existing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{existing}{separator}{section}\n")
        }
    }
}

#[cfg(test)]
mod tests;
