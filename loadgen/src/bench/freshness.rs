//! W6 freshness: how long after the ack of an export its span is returned by `/api/search`.
//!
//! A freshly started single binary receives a steady background load (the generated corpus at
//! `w6_background_spans_per_s` over 4 OTLP gRPC streams); after a warm-up of 30 s a probe
//! loop sends one span at a time with a unique attribute (`span.contrail.probe`), notes the
//! instant the export was acknowledged, and polls `GET /api/search?q={ span.contrail.probe = "<id>" }` every 5 ms until
//! the trace is in the answer. The figure is the time from the ack to the first answer that has
//! it (p50, p99, max over the probes); a probe not found within 30 s counts as 30 s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use rand::RngCore;

use super::procfs::stop;
use super::workloads::start_server;
use super::{BenchConfig, Figure, Outcome, WorkloadResult};
use crate::corpus::CorpusConfig;
use crate::send::{Protocol, SendConfig, Source, send};

const WORKLOAD: &str = "W6 freshness";
const GIVE_UP: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(5);
/// Background load before the first probe: the live traces, the head block and the blocks
/// being flushed fill up to their steady state.
const WARM_UP: Duration = Duration::from_secs(30);

/// Runs W6 `config.runs` times; each run sends `config.w6_probes` probes.
pub(super) fn freshness(config: &BenchConfig) -> WorkloadResult {
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut max = Vec::new();
    let mut missed = Vec::new();
    for run in 0..config.runs {
        let data_dir = config.work_dir.join(format!("w6-data-{run}"));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut child = match start_server(config, &data_dir) {
            Ok(child) => child,
            Err(reason) => return WorkloadResult::not_run(WORKLOAD, reason),
        };
        let measured = tokio::runtime::Runtime::new()
            .map_err(|error| error.to_string())
            .and_then(|runtime| runtime.block_on(run_probes(config, run)));
        stop(&mut child);
        match measured {
            Ok(mut latencies) => {
                latencies.sort_by(f64::total_cmp);
                let cap = GIVE_UP.as_secs_f64();
                missed.push(latencies.iter().filter(|latency| **latency >= cap).count() as f64);
                p50.push(percentile(&latencies, 0.50));
                p99.push(percentile(&latencies, 0.99));
                max.push(latencies.last().copied().unwrap_or(f64::NAN));
            }
            Err(reason) => return WorkloadResult::not_run(WORKLOAD, reason),
        }
    }
    WorkloadResult {
        workload: WORKLOAD,
        outcome: Outcome::Measured(vec![
            Figure::at_most("ack to returned by /api/search, p99 (s)", 1.0, p99),
            Figure::informative("ack to returned by /api/search, p50 (s)", p50),
            Figure::informative("ack to returned by /api/search, max (s)", max),
            Figure::informative("probes not returned within 30 s", missed),
        ]),
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run_probes(config: &BenchConfig, run: usize) -> Result<Vec<f64>, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| error.to_string())?;
    wait_ready(&http, config.api_address, config.server_start_timeout).await?;
    let mut background = SendConfig::new(
        format!("http://{}", config.otlp_grpc_address),
        Protocol::Grpc,
        Source::Generated {
            config: CorpusConfig {
                seed: 100 + run as u64,
                start_time_unix_nano: crate::cli::now_unix_nano(),
                traces_per_second: config.w6_background_spans_per_s / 20.0,
            },
            traces_opt: None,
            spans_per_batch: 1000,
        },
    );
    background.streams = 4;
    background.rate_opt = Some(config.w6_background_spans_per_s);
    // Longer than the probes can take; the task is aborted when they are done.
    background.duration_opt = Some(Duration::from_secs(3600));
    let load = tokio::spawn(send(background));
    tokio::time::sleep(WARM_UP).await;
    let result = probe_loop(config, &http, run).await;
    load.abort();
    let _ = load.await;
    result
}

async fn wait_ready(
    http: &reqwest::Client,
    api: SocketAddr,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let url = format!("http://{api}/ready");
    loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not answer 200 within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn probe_loop(
    config: &BenchConfig,
    http: &reqwest::Client,
    run: usize,
) -> Result<Vec<f64>, String> {
    let mut client = TraceServiceClient::connect(format!("http://{}", config.otlp_grpc_address))
        .await
        .map_err(|error| format!("OTLP gRPC connect: {error}"))?;
    let mut latencies = Vec::with_capacity(config.w6_probes);
    for probe in 0..config.w6_probes {
        let probe_id = format!("w6-{run}-{probe}");
        client
            .export(probe_request(&probe_id))
            .await
            .map_err(|status| format!("probe export refused: {status}"))?;
        let acked = Instant::now();
        latencies.push(poll_until_found(http, config.api_address, &probe_id, acked).await?);
        // Probes about 20 per second: each starts after the previous one was found.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(latencies)
}

async fn poll_until_found(
    http: &reqwest::Client,
    api: SocketAddr,
    probe_id: &str,
    acked: Instant,
) -> Result<f64, String> {
    let url = format!("http://{api}/api/search");
    let query = format!("{{ span.contrail.probe = \"{probe_id}\" }}");
    loop {
        let now_s = crate::cli::now_unix_nano() / 1_000_000_000;
        let sent = http
            .get(&url)
            .query(&[
                ("q", query.as_str()),
                ("start", &(now_s - 300).to_string()),
                ("end", &(now_s + 60).to_string()),
                ("limit", "5"),
            ])
            .send()
            .await;
        // A search slower than the client's timeout, or one the server gave up on (5xx), is
        // an answer without the probe: the clock keeps running.
        let found = match sent {
            Ok(response) if response.status().is_success() => {
                let body: serde_json::Value = response
                    .json()
                    .await
                    .map_err(|error| format!("GET {url}: the body is not JSON: {error}"))?;
                body["traces"]
                    .as_array()
                    .is_some_and(|traces| !traces.is_empty())
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                return Err(format!("GET {url}: {status}: {body}"));
            }
            Ok(_) => false,
            Err(error) if error.is_timeout() => false,
            Err(error) => return Err(format!("GET {url}: {error}")),
        };
        let elapsed = acked.elapsed();
        if found {
            return Ok(elapsed.as_secs_f64());
        }
        if elapsed > GIVE_UP {
            return Ok(GIVE_UP.as_secs_f64());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// One span of service `w6-probe` carrying `contrail.probe = probe_id`, starting now.
fn probe_request(probe_id: &str) -> ExportTraceServiceRequest {
    let mut rng = rand::rng();
    let mut trace_id = vec![0u8; 16];
    rng.fill_bytes(&mut trace_id);
    let mut span_id = vec![0u8; 8];
    rng.fill_bytes(&mut span_id);
    let start = crate::cli::now_unix_nano();
    let string = |key: &str, value: &str| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "w6-probe")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id,
                    span_id,
                    name: "freshness probe".to_owned(),
                    kind: 2,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000_000,
                    attributes: vec![string("contrail.probe", probe_id)],
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}
