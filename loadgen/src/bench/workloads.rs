//! W1 (ingest over OTLP gRPC into a freshly started `contrail`) and W2 (bytes per span of blocks
//! written by `contrail-cli block write`), and the server start shared with W6 (`freshness`).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::drain::drain;
use super::procfs::{dir_bytes, read_usage, run_measured, stop};
use super::{BenchConfig, Figure, Outcome, WorkloadResult};
use crate::corpus::CorpusConfig;
use crate::files::CorpusSummary;
use crate::send::{EncodedPool, Protocol, SendConfig, Source, send};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// How long W1 waits for the server to flush what it held when the send ended.
const DRAIN_GIVE_UP: Duration = Duration::from_secs(600);

/// A started server, or why there is none.
pub(super) fn start_server(config: &BenchConfig, data_dir: &Path) -> Result<Child, String> {
    let address = config.otlp_grpc_address;
    if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
        return Err(format!(
            "{address} is already in use by another process; stop it first"
        ));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
    let config_file = std::path::absolute(&config.server_config)
        .map_err(|error| format!("{}: {error}", config.server_config.display()))?;
    // The server runs in its data directory: a relative binary path would not resolve there
    // (a bare name is still looked up in PATH).
    let contrail_bin = if config.contrail_bin.components().count() > 1 {
        std::path::absolute(&config.contrail_bin)
            .map_err(|error| format!("{}: {error}", config.contrail_bin.display()))?
    } else {
        config.contrail_bin.clone()
    };
    let mut child = Command::new(&contrail_bin)
        .arg(format!("-config.file={}", config_file.display()))
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", contrail_bin.display()))?;
    let deadline = Instant::now() + config.server_start_timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "server not available yet: contrail exited ({status}) without listening on {address}"
            ));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut child);
    Err(format!(
        "server not available yet: contrail did not listen on {address} within {:?}",
        config.server_start_timeout
    ))
}

/// W1: 8 streams of about 1,000-span batches over OTLP gRPC for `w1_duration`, replayed from a
/// pool encoded before the window (`w1_pool_batches_opt`) or generated on the fly.
pub(super) fn ingest(config: &BenchConfig) -> WorkloadResult {
    let mut spans_per_second = Vec::new();
    let mut cpu_per_million = Vec::new();
    let mut peak_rss_gib = Vec::new();
    let mut client_cpu_per_million = Vec::new();
    let mut pool_build_seconds = Vec::new();
    let mut refused_shares = Vec::new();
    let mut drained_cpu_per_million = Vec::new();
    let mut drained_spans_per_second = Vec::new();
    let mut held_at_end_gib = Vec::new();
    let mut drain_seconds = Vec::new();
    for run in 0..config.runs {
        let data_dir = config.work_dir.join(format!("w1-data-{run}"));
        let _ = std::fs::remove_dir_all(&data_dir);
        let corpus = CorpusConfig {
            seed: 1 + run as u64,
            // timestamps start now and keep up with about 200,000 spans/s
            start_time_unix_nano: crate::cli::now_unix_nano(),
            traces_per_second: 10_000.0,
        };
        // the pool is built before the server starts and before the client's CPU is read
        let source = match config.w1_pool_batches_opt {
            Some(batches) => match EncodedPool::generate(corpus, batches, 1000) {
                Ok(pool) => {
                    pool_build_seconds.push(pool.summary().build_s);
                    Source::Preencoded(Arc::new(pool))
                }
                Err(error) => return WorkloadResult::not_run("W1 ingest", error.to_string()),
            },
            None => Source::Generated {
                config: corpus,
                traces_opt: None,
                spans_per_batch: 1000,
            },
        };
        let mut child = match start_server(config, &data_dir) {
            Ok(child) => child,
            Err(reason) => return WorkloadResult::not_run("W1 ingest", reason),
        };
        let before = read_usage(child.id()).unwrap_or_default();
        let client_before = read_usage(std::process::id()).unwrap_or_default();
        let mut send_config = SendConfig::new(
            format!("http://{}", config.otlp_grpc_address),
            Protocol::Grpc,
            source,
        );
        send_config.streams = 8;
        send_config.duration_opt = Some(config.w1_duration);
        send_config.honor_retry_delay = config.w1_honor_retry_delay;
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime,
            Err(error) => {
                stop(&mut child);
                return WorkloadResult::not_run("W1 ingest", error.to_string());
            }
        };
        let report = runtime
            .block_on(send(send_config))
            .map_err(|error| error.to_string());
        let after = read_usage(child.id()).unwrap_or_default();
        let client_after = read_usage(std::process::id()).unwrap_or_default();
        // What the server still held when the send ended is flushed, and its CPU counted in
        // the drained figures.
        let drained = runtime.block_on(drain(config.api_address, DRAIN_GIVE_UP));
        let after_drain = read_usage(child.id()).unwrap_or_default();
        stop(&mut child);
        let drained = match drained {
            Ok(drained) => drained,
            Err(reason) => return WorkloadResult::not_run("W1 ingest", reason),
        };
        let report = match report {
            Ok(report) if report.spans_acked > 0 => report,
            Ok(report) => {
                return WorkloadResult::not_run(
                    "W1 ingest",
                    format!(
                        "the server acked no spans: {}",
                        report.first_error.unwrap_or_default()
                    ),
                );
            }
            Err(reason) => return WorkloadResult::not_run("W1 ingest", reason),
        };
        spans_per_second.push(report.spans_per_s);
        cpu_per_million
            .push((after.cpu_seconds - before.cpu_seconds) / (report.spans_acked as f64 / 1e6));
        // The high-water mark after the drain: the peak of the send and of its flush.
        peak_rss_gib.push(after_drain.peak_rss_bytes as f64 / GIB);
        let millions = report.spans_acked as f64 / 1e6;
        drained_cpu_per_million.push((after_drain.cpu_seconds - before.cpu_seconds) / millions);
        drained_spans_per_second
            .push(report.spans_acked as f64 / (report.duration_s + drained.seconds));
        held_at_end_gib.push(drained.held_bytes_at_end as f64 / GIB);
        drain_seconds.push(drained.seconds);
        client_cpu_per_million.push(
            (client_after.cpu_seconds - client_before.cpu_seconds)
                / (report.spans_acked as f64 / 1e6),
        );
        refused_shares.push(report.requests_failed as f64 / report.requests.max(1) as f64);
    }
    let client = match config.w1_pool_batches_opt {
        Some(batches) => format!("pre-encoded replay of {batches} requests"),
        None => "generated on the fly".to_owned(),
    };
    let mut figures = vec![
        Figure::at_least(
            "acked spans/s (OTLP gRPC, 8 streams, 1,000-span batches)",
            200_000.0,
            spans_per_second,
        ),
        Figure::at_most(
            "server CPU-seconds per 1M spans (during the send)",
            5.0,
            cpu_per_million,
        ),
        Figure::at_least(
            "acked spans/s over the send and the flush of what it still held",
            200_000.0,
            drained_spans_per_second,
        ),
        Figure::at_most(
            "server CPU-seconds per 1M spans, the send and the flush of what it still held",
            5.0,
            drained_cpu_per_million,
        ),
        Figure::at_most(
            "server peak RSS (GiB, the send and the flush)",
            1.5,
            peak_rss_gib,
        ),
        Figure::informative(
            "held when the send ended (GiB, contrail_ingester_bytes_in_memory)",
            held_at_end_gib,
        ),
        Figure::informative(
            "seconds from the end of the send until nothing was held",
            drain_seconds,
        ),
        Figure::informative(
            &format!(
                "client CPU-seconds per 1M spans (the load generator, {client}, same 2 cores)"
            ),
            client_cpu_per_million,
        ),
    ];
    let waits = if config.w1_honor_retry_delay {
        "each refusal's RetryInfo delay waited out, as OTLP exporters do"
    } else {
        "next request sent at once"
    };
    figures.push(Figure::informative(
        &format!("share of requests refused ({waits})"),
        refused_shares,
    ));
    if !pool_build_seconds.is_empty() {
        figures.push(Figure::informative(
            "client pool generation + encoding, before the measured window (s)",
            pool_build_seconds,
        ));
    }
    WorkloadResult {
        workload: "W1 ingest",
        outcome: Outcome::Measured(figures),
    }
}

/// W2: writes the corpus into blocks with `contrail-cli block write` and measures bytes per span.
pub(super) fn storage(
    config: &BenchConfig,
    corpus_dir: &Path,
    corpus: &CorpusSummary,
) -> WorkloadResult {
    let mut bytes_per_span = Vec::new();
    let mut ratio = Vec::new();
    let mut write_spans_per_second = Vec::new();
    let mut write_peak_rss_mib = Vec::new();
    for run in 0..config.runs {
        let out_dir = config.work_dir.join(format!("w2-blocks-{run}"));
        let _ = std::fs::remove_dir_all(&out_dir);
        let mut command = Command::new(&config.cli_bin);
        command
            .args(["block", "write", "--from"])
            .arg(corpus_dir)
            .arg("--out")
            .arg(&out_dir);
        let measured = match run_measured(&mut command, Duration::from_secs(1800)) {
            Ok(measured) => measured,
            Err(error) => {
                return WorkloadResult::not_run(
                    "W2 storage",
                    format!("`contrail-cli block write` failed: {error}"),
                );
            }
        };
        if !measured.status.success() {
            let first_line = measured
                .stderr
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("no output");
            return WorkloadResult::not_run(
                "W2 storage",
                format!(
                    "`contrail-cli block write` is not available yet ({}): {first_line}",
                    measured.status
                ),
            );
        }
        let stored = dir_bytes(&out_dir);
        if stored == 0 {
            return WorkloadResult::not_run(
                "W2 storage",
                "`contrail-cli block write` wrote nothing".to_owned(),
            );
        }
        bytes_per_span.push(stored as f64 / corpus.spans as f64);
        ratio.push(stored as f64 / corpus.bytes as f64);
        write_spans_per_second.push(corpus.spans as f64 / measured.wall.as_secs_f64());
        write_peak_rss_mib.push(measured.usage.peak_rss_bytes as f64 / (1024.0 * 1024.0));
    }
    WorkloadResult {
        workload: "W2 storage",
        outcome: Outcome::Measured(vec![
            Figure::at_most(
                "bytes per span in blocks (block write, before compaction)",
                68.0,
                bytes_per_span,
            ),
            Figure::at_most("block bytes / OTLP protobuf bytes", 0.24, ratio),
            Figure::informative(
                "block write throughput (spans/s, one process)",
                write_spans_per_second,
            ),
        ]),
    }
}
