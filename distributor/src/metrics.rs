//! [`DistributorMetrics`]: Tempo's distributor metric names with the `contrail_` prefix.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, exponential_buckets,
};

/// Metrics of one distributor.
#[derive(Debug, Clone)]
pub struct DistributorMetrics {
    /// `contrail_distributor_spans_received_total{tenant}` (Tempo:
    /// `tempo_distributor_spans_received_total`).
    pub(crate) spans_received: IntCounterVec,
    /// `contrail_distributor_bytes_received_total{tenant}`.
    pub(crate) bytes_received: IntCounterVec,
    /// `contrail_discarded_spans_total{tenant, reason}` (Tempo: `tempo_discarded_spans_total`):
    /// spans refused, by reason (`rate_limited`, `trace_too_large`, `live_traces_exceeded`,
    /// `invalid_trace_id`, `invalid_span_id`, `no_quorum`, `unknown_error`, ...).
    pub(crate) discarded_spans: IntCounterVec,
    /// `contrail_distributor_requests_refused_total{tenant, reason}`: whole requests refused,
    /// including those whose spans could not be counted (malformed, missing tenant, too large,
    /// refused before their decode because every ingester is at its memory limit).
    pub(crate) requests_refused: IntCounterVec,
    /// `contrail_distributor_attributes_truncated_total{tenant}` (Tempo:
    /// `tempo_distributor_attributes_truncated_total`).
    pub(crate) attributes_truncated: IntCounterVec,
    /// `contrail_distributor_ingester_appends_total{ingester}`.
    pub(crate) ingester_appends: IntCounterVec,
    /// `contrail_distributor_ingester_append_failures_total{ingester}`.
    pub(crate) ingester_append_failures: IntCounterVec,
    /// `contrail_distributor_push_duration_seconds{protocol}`.
    pub(crate) push_duration: HistogramVec,
    /// `contrail_distributor_traces_per_batch`.
    pub(crate) traces_per_batch: Histogram,
}

impl DistributorMetrics {
    /// Creates and registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let metrics = DistributorMetrics {
            spans_received: counter(
                "contrail_distributor_spans_received_total",
                "Spans received per tenant",
                &["tenant"],
            )?,
            bytes_received: counter(
                "contrail_distributor_bytes_received_total",
                "Decompressed OTLP bytes received per tenant",
                &["tenant"],
            )?,
            discarded_spans: counter(
                "contrail_discarded_spans_total",
                "Spans refused, per tenant and reason",
                &["tenant", "reason"],
            )?,
            requests_refused: counter(
                "contrail_distributor_requests_refused_total",
                "Requests refused as a whole, per tenant and reason",
                &["tenant", "reason"],
            )?,
            attributes_truncated: counter(
                "contrail_distributor_attributes_truncated_total",
                "Attribute keys or string values cut to max_attribute_bytes",
                &["tenant"],
            )?,
            ingester_appends: counter(
                "contrail_distributor_ingester_appends_total",
                "Push requests sent to each ingester",
                &["ingester"],
            )?,
            ingester_append_failures: counter(
                "contrail_distributor_ingester_append_failures_total",
                "Push requests to each ingester that failed",
                &["ingester"],
            )?,
            push_duration: HistogramVec::new(
                HistogramOpts::new(
                    "contrail_distributor_push_duration_seconds",
                    "Time from receiving an export to answering it",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 16)?),
                &["protocol"],
            )?,
            traces_per_batch: Histogram::with_opts(
                HistogramOpts::new(
                    "contrail_distributor_traces_per_batch",
                    "Traces in one export request",
                )
                .buckets(exponential_buckets(1.0, 2.0, 14)?),
            )?,
        };
        registry.register(Box::new(metrics.spans_received.clone()))?;
        registry.register(Box::new(metrics.bytes_received.clone()))?;
        registry.register(Box::new(metrics.discarded_spans.clone()))?;
        registry.register(Box::new(metrics.requests_refused.clone()))?;
        registry.register(Box::new(metrics.attributes_truncated.clone()))?;
        registry.register(Box::new(metrics.ingester_appends.clone()))?;
        registry.register(Box::new(metrics.ingester_append_failures.clone()))?;
        registry.register(Box::new(metrics.push_duration.clone()))?;
        registry.register(Box::new(metrics.traces_per_batch.clone()))?;
        Ok(metrics)
    }
}
