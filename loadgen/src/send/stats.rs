//! What a send run measured: acked spans, requests, errors by kind and request latencies, shared
//! by the streams and summarised in a [`SendReport`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Counters updated by every stream.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) spans_acked: AtomicU64,
    pub(crate) spans_failed: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) requests_failed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    first_error: Mutex<Option<String>>,
    latencies_micros: Mutex<Vec<u64>>,
    retry_waits: AtomicU64,
}

impl Stats {
    pub(crate) fn record_success(&self, spans: usize, latency: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.spans_acked.fetch_add(spans as u64, Ordering::Relaxed);
        self.push_latency(latency);
    }

    pub(crate) fn record_failure(
        &self,
        spans: usize,
        latency: Duration,
        kind: &str,
        message: &str,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.requests_failed.fetch_add(1, Ordering::Relaxed);
        self.spans_failed.fetch_add(spans as u64, Ordering::Relaxed);
        self.push_latency(latency);
        *lock(&self.errors).entry(kind.to_owned()).or_default() += 1;
        let mut first_error = lock(&self.first_error);
        if first_error.is_none() {
            *first_error = Some(message.to_owned());
        }
    }

    /// A stream waits, before its next export, the delay a refusal asked for.
    pub(crate) fn record_retry_wait(&self) {
        self.retry_waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry_waits(&self) -> u64 {
        self.retry_waits.load(Ordering::Relaxed)
    }

    fn push_latency(&self, latency: Duration) {
        lock(&self.latencies_micros).push(latency.as_micros() as u64);
    }

    pub(crate) fn acked(&self) -> u64 {
        self.spans_acked.load(Ordering::Relaxed)
    }

    pub(crate) fn failed_requests(&self) -> u64 {
        self.requests_failed.load(Ordering::Relaxed)
    }

    pub(crate) fn total_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }

    pub(crate) fn latency_summary(&self) -> LatencySummary {
        let mut latencies = lock(&self.latencies_micros).clone();
        latencies.sort_unstable();
        let percentile = |fraction: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let rank =
                ((latencies.len() as f64 * fraction).ceil() as usize).clamp(1, latencies.len());
            round_ms(latencies[rank - 1])
        };
        LatencySummary {
            p50: percentile(0.50),
            p90: percentile(0.90),
            p99: percentile(0.99),
            max: latencies.last().copied().map(round_ms).unwrap_or(0.0),
        }
    }

    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }
}

fn round_ms(micros: u64) -> f64 {
    (micros as f64 / 10.0).round() / 100.0
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Request latency percentiles in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The one-line JSON summary of a send run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SendReport {
    pub mode: &'static str,
    pub protocol: String,
    pub endpoint: String,
    pub streams: usize,
    pub rate_spans_per_s: Option<f64>,
    pub spans_acked: u64,
    pub spans_failed: u64,
    pub spans_per_s: f64,
    pub requests: u64,
    pub requests_failed: u64,
    /// Failed requests by kind: `connect`, `timeout`, `http_503`, `grpc_unavailable`, ...
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: LatencySummary,
    pub duration_s: f64,
    /// Why the run stopped early, if it did (for example: the server is down).
    pub aborted: Option<String>,
    /// The first error's full message, to tell the user what went wrong.
    pub first_error: Option<String>,
    /// Waits that refusals asked for (`RetryInfo`, `Retry-After`) and the streams honoured.
    pub retry_waits: u64,
    /// CPU time (user + system) of this whole process during the run, from /proc (Linux): the
    /// client's cost when nothing else runs in it.
    pub cpu_s: Option<f64>,
    /// The pre-encoded pool replayed, and what building it cost before the run.
    pub preencoded: Option<super::PoolSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_error_kinds() {
        let stats = Stats::default();
        for millis in 1..=100 {
            stats.record_success(10, Duration::from_millis(millis));
        }
        stats.record_failure(
            10,
            Duration::from_millis(500),
            "http_503",
            "server said 503",
        );
        stats.record_failure(10, Duration::from_millis(1), "connect", "refused");
        let summary = stats.latency_summary();
        assert_eq!(summary.p50, 50.0);
        assert_eq!(summary.p90, 91.0);
        assert_eq!(summary.p99, 100.0);
        assert_eq!(summary.max, 500.0);
        assert_eq!(stats.acked(), 1000);
        assert_eq!(stats.failed_requests(), 2);
        assert_eq!(stats.errors().get("http_503"), Some(&1));
        assert_eq!(stats.first_error().as_deref(), Some("server said 503"));
    }
}
