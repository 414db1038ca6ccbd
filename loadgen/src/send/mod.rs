//! Sending a corpus over OTLP: N streams (tokio tasks, one connection each) take encoded batches
//! from a bounded channel fed by one producer thread, optionally paced by a shared token bucket,
//! until the source, the span count or the duration runs out. Every request has a timeout; a
//! server that accepts nothing stops the run early with a clear error.
//!
//! With a [`Source::Preencoded`] pool ([`preencoded`]) the requests are encoded before the run
//! and the client's cost per request is one stamped copy of its bytes (`raw_codec`).

mod exporter;
pub mod preencoded;
mod rate;
mod raw_codec;
mod source;
mod stats;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use preencoded::{EncodedPool, PASS_STAMP_BYTES, PoolSummary};
pub use source::Source;
pub use stats::{LatencySummary, SendReport};

use exporter::Exporter;
use rate::RateLimiter;
use source::Item;
use stats::Stats;

use crate::bench::procfs::read_usage;
use crate::error::{Error, Result};

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (`TraceService/Export`).
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body (hex trace and span ids).
    HttpJson,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http-protobuf",
            Protocol::HttpJson => "http-json",
        }
    }
}

/// How to run a send.
#[derive(Clone, Debug)]
pub struct SendConfig {
    /// `http://host:port` (the scheme may be left out).
    pub endpoint: String,
    pub protocol: Protocol,
    pub source: Source,
    /// Concurrent streams (connections), at least 1.
    pub streams: usize,
    /// Spans per second across all streams; `None` sends as fast as the server acks.
    pub rate_opt: Option<f64>,
    /// Stop after this long.
    pub duration_opt: Option<Duration>,
    /// Stop after about this many spans were sent.
    pub max_spans_opt: Option<u64>,
    /// Sent as `X-Scope-OrgID` (HTTP header and gRPC metadata).
    pub tenant_opt: Option<String>,
    /// Bound on every request, connecting included.
    pub request_timeout: Duration,
    /// Print a progress line on stderr every second.
    pub progress: bool,
    /// After a refused export that says when to retry (gRPC `RetryInfo`, HTTP `Retry-After`),
    /// the stream waits that long before its next export, as OTLP exporters do. `false` sends
    /// the next request at once (the load generator before 2026-12-04).
    pub honor_retry_delay: bool,
}

impl SendConfig {
    pub fn new(endpoint: impl Into<String>, protocol: Protocol, source: Source) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol,
            source,
            streams: 1,
            rate_opt: None,
            duration_opt: None,
            max_spans_opt: None,
            tenant_opt: None,
            request_timeout: Duration::from_secs(10),
            progress: false,
            honor_retry_delay: true,
        }
    }
}

/// State shared by the streams.
struct Shared {
    stats: Stats,
    limiter_opt: Option<RateLimiter>,
    items_rx: Mutex<mpsc::Receiver<Item>>,
    deadline_opt: Option<Instant>,
    abort_reason: std::sync::Mutex<Option<String>>,
    aborted: AtomicBool,
    /// Stop after this many failed requests while none succeeded.
    fail_fast_after: u64,
    honor_retry_delay: bool,
}

/// Sends the source and reports what happened. Errors only on bad configuration; a failing server
/// shows up in the report (`errors`, `aborted`).
pub async fn send(config: SendConfig) -> Result<SendReport> {
    if config.streams == 0 {
        return Err(Error::InvalidArgument(
            "--streams must be at least 1".to_owned(),
        ));
    }
    if let Some(rate) = config.rate_opt
        && (!rate.is_finite() || rate <= 0.0)
    {
        return Err(Error::InvalidArgument(
            "--rate must be a positive number of spans per second".to_owned(),
        ));
    }
    source::validate(&config.source)?;
    let pool_summary_opt = match &config.source {
        Source::Preencoded(pool) => {
            if config.protocol == Protocol::HttpJson {
                return Err(Error::InvalidArgument(
                    "pre-encoded requests are protobuf: use --protocol grpc or http-protobuf"
                        .to_owned(),
                ));
            }
            if config.duration_opt.is_none() && config.max_spans_opt.is_none() {
                return Err(Error::InvalidArgument(
                    "a pre-encoded pool replays until --duration or --spans: give one".to_owned(),
                ));
            }
            Some(pool.summary())
        }
        _ => None,
    };
    let exporters = (0..config.streams)
        .map(|_| {
            Exporter::new(
                config.protocol,
                &config.endpoint,
                config.tenant_opt.as_deref(),
                config.request_timeout,
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let (items_tx, items_rx) = mpsc::channel(config.streams * 2);
    let usage_before_opt = read_usage(std::process::id());
    let started = Instant::now();
    let shared = Arc::new(Shared {
        stats: Stats::default(),
        limiter_opt: config.rate_opt.map(RateLimiter::new),
        items_rx: Mutex::new(items_rx),
        deadline_opt: config.duration_opt.map(|duration| started + duration),
        abort_reason: std::sync::Mutex::new(None),
        aborted: AtomicBool::new(false),
        fail_fast_after: (config.streams as u64).max(3),
        honor_retry_delay: config.honor_retry_delay,
    });
    let (source, protocol, max_spans_opt) =
        (config.source.clone(), config.protocol, config.max_spans_opt);
    let producer: JoinHandle<Result<()>> = tokio::task::spawn_blocking(move || {
        source::produce(source, protocol, max_spans_opt, items_tx)
    });
    let streams: Vec<JoinHandle<()>> = exporters
        .into_iter()
        .map(|exporter| tokio::spawn(run_stream(exporter, Arc::clone(&shared))))
        .collect();
    let progress_opt = config
        .progress
        .then(|| tokio::spawn(report_progress(Arc::clone(&shared), started)));

    for stream in streams {
        if let Err(join_error) = stream.await {
            abort(&shared, format!("a stream failed: {join_error}"));
        }
    }
    if let Some(progress) = progress_opt {
        progress.abort();
        let _ = progress.await;
        eprintln!();
    }
    // the streams are gone, so the producer's next send fails and it returns
    shared.items_rx.lock().await.close();
    let producer_result = producer
        .await
        .map_err(|join_error| Error::InvalidArgument(format!("producer failed: {join_error}")))?;
    producer_result?;

    let duration = started.elapsed();
    let cpu_s = match (usage_before_opt, read_usage(std::process::id())) {
        (Some(before), Some(after)) => {
            Some(((after.cpu_seconds - before.cpu_seconds) * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let stats = &shared.stats;
    let duration_s = duration.as_secs_f64();
    Ok(SendReport {
        mode: "send",
        protocol: config.protocol.name().to_owned(),
        endpoint: config.endpoint.clone(),
        streams: config.streams,
        rate_spans_per_s: config.rate_opt,
        spans_acked: stats.acked(),
        spans_failed: stats.spans_failed.load(Ordering::Relaxed),
        spans_per_s: if duration_s > 0.0 {
            (stats.acked() as f64 / duration_s).round()
        } else {
            0.0
        },
        requests: stats.total_requests(),
        requests_failed: stats.failed_requests(),
        errors: stats.errors(),
        latency_ms: stats.latency_summary(),
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        aborted: shared
            .abort_reason
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone(),
        first_error: stats.first_error(),
        retry_waits: stats.retry_waits(),
        cpu_s,
        preencoded: pool_summary_opt,
    })
}

fn abort(shared: &Shared, reason: String) {
    let mut abort_reason = shared
        .abort_reason
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if abort_reason.is_none() {
        *abort_reason = Some(reason);
    }
    shared.aborted.store(true, Ordering::Relaxed);
}

async fn next_item(shared: &Shared) -> Option<Item> {
    // `timeout_at` polls the future before the clock: with items always ready (a producer
    // ahead of the streams) it would never end the run, so the deadline is checked first.
    if shared
        .deadline_opt
        .is_some_and(|deadline| Instant::now() >= deadline)
    {
        return None;
    }
    let receive = async { shared.items_rx.lock().await.recv().await };
    match shared.deadline_opt {
        Some(deadline) => tokio::time::timeout_at(deadline, receive)
            .await
            .ok()
            .flatten(),
        None => receive.await,
    }
}

async fn run_stream(mut exporter: Exporter, shared: Arc<Shared>) {
    while !shared.aborted.load(Ordering::Relaxed) {
        let Some(item) = next_item(&shared).await else {
            return;
        };
        if let Some(limiter) = &shared.limiter_opt {
            let acquire = limiter.acquire(item.spans);
            match shared.deadline_opt {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, acquire).await.is_err() {
                        return;
                    }
                }
                None => acquire.await,
            }
        }
        let request_started = Instant::now();
        let result = exporter.export(item.payload).await;
        let latency = request_started.elapsed();
        match result {
            Ok(()) => shared.stats.record_success(item.spans, latency),
            Err(failure) => {
                shared
                    .stats
                    .record_failure(item.spans, latency, &failure.kind, &failure.message);
                let stats = &shared.stats;
                if stats.acked() == 0 && stats.failed_requests() >= shared.fail_fast_after {
                    let what = if failure.is_connect() {
                        "cannot reach the server"
                    } else {
                        "the server accepts nothing"
                    };
                    abort(
                        &shared,
                        format!(
                            "{what}: {} requests failed and none succeeded",
                            stats.failed_requests()
                        ),
                    );
                }
                if shared.honor_retry_delay
                    && let Some(delay) = failure.retry_after_opt
                {
                    wait_before_retry(&shared, delay).await;
                }
            }
        }
    }
}

/// Waits the delay a refusal asked for (at most until the run's deadline) and counts the wait.
async fn wait_before_retry(shared: &Shared, delay: Duration) {
    let until = Instant::now() + delay;
    let until = shared
        .deadline_opt
        .map_or(until, |deadline| until.min(deadline));
    shared.stats.record_retry_wait();
    tokio::time::sleep_until(until).await;
}

async fn report_progress(shared: Arc<Shared>, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last_acked = 0;
    loop {
        ticker.tick().await;
        let elapsed = started.elapsed().as_secs();
        let acked = shared.stats.acked();
        let line = format!(
            "{elapsed:>5}s  {acked:>12} spans acked  {:>9} spans/s  {:>7} requests  {} failed",
            acked - last_acked,
            shared.stats.total_requests(),
            shared.stats.failed_requests()
        );
        last_acked = acked;
        if terminal {
            eprint!("\r{line}");
        } else if elapsed.is_multiple_of(10) {
            eprintln!("{line}");
        }
    }
}
