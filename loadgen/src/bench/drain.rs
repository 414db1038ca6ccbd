//! W1's drain: after the send, how much the server still held and what flushing it cost.
//!
//! A 60 s send can be acked faster than the server writes blocks while the held bytes grow
//! toward `max_bytes_in_memory`; the CPU those held spans still need is spent after the send.
//! The drain reads `contrail_ingester_bytes_in_memory`, asks for `/flush` (Tempo's endpoint)
//! and polls `/metrics` until nothing is held and no trace is live, so that the runner can
//! report the CPU and the rate of the send and its flush together.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_millis(200);

/// What the drain saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Drained {
    /// `contrail_ingester_bytes_in_memory` when the send ended.
    pub(super) held_bytes_at_end: u64,
    /// From the end of the send until nothing was held.
    pub(super) seconds: f64,
}

/// The two ingester gauges the drain watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) bytes: u64,
    pub(super) live_traces: u64,
}

/// Reads the gauges from Prometheus text: `contrail_ingester_bytes_in_memory` and the sum of
/// `contrail_ingester_live_traces` over tenants. `None` when the bytes gauge is missing.
pub(super) fn parse_held(metrics: &str) -> Option<Held> {
    let mut bytes = None;
    let mut live_traces = 0u64;
    for line in metrics.lines().filter(|line| !line.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let metric = name.split('{').next().unwrap_or(name);
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        match metric {
            "contrail_ingester_bytes_in_memory" => bytes = Some(value.max(0.0) as u64),
            "contrail_ingester_live_traces" => live_traces += value.max(0.0) as u64,
            _ => {}
        }
    }
    bytes.map(|bytes| Held { bytes, live_traces })
}

async fn read_held(http: &reqwest::Client, api: SocketAddr) -> Result<Held, String> {
    let url = format!("http://{api}/metrics");
    let text = http
        .get(&url)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|error| format!("GET {url}: {error}"))?
        .text()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    parse_held(&text).ok_or_else(|| format!("{url} has no contrail_ingester_bytes_in_memory gauge"))
}

/// Flushes what the server at `api` holds and waits (at most `give_up`) until it holds nothing.
pub(super) async fn drain(api: SocketAddr, give_up: Duration) -> Result<Drained, String> {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| error.to_string())?;
    let at_end = read_held(&http, api).await?;
    let url = format!("http://{api}/flush");
    http.post(&url)
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|error| format!("POST {url}: {error}"))?;
    loop {
        let held = read_held(&http, api).await?;
        if held == Held::default() {
            return Ok(Drained {
                held_bytes_at_end: at_end.bytes,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        if started.elapsed() > give_up {
            return Err(format!(
                "the server still held {} bytes and {} live traces {give_up:?} after /flush",
                held.bytes, held.live_traces
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bytes_gauge_and_sums_live_traces_over_tenants() {
        let text = "# HELP contrail_ingester_bytes_in_memory bytes held\n\
                    # TYPE contrail_ingester_bytes_in_memory gauge\n\
                    contrail_ingester_bytes_in_memory 123456\n\
                    contrail_ingester_live_traces{tenant=\"a\"} 3\n\
                    contrail_ingester_live_traces{tenant=\"b\"} 4\n\
                    contrail_ingester_live_traces_other 9\n";
        assert_eq!(
            parse_held(text),
            Some(Held {
                bytes: 123_456,
                live_traces: 7
            })
        );
        assert_eq!(
            parse_held("contrail_ingester_bytes_in_memory 0\n"),
            Some(Held::default())
        );
        assert_eq!(parse_held("contrail_ingester_live_traces 1\n"), None);
    }
}
