//! [`IngesterMetrics`]: the ingester's Prometheus metrics, registered in an injected registry
//! (no globals: two ingesters in one process each get their own registry).

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::error::{Error, Result};

/// Metrics of one ingester.
#[derive(Debug, Clone)]
pub struct IngesterMetrics {
    /// Spans accepted (durable in the WAL), by tenant.
    pub spans_received: IntCounterVec,
    /// Segments refused, by tenant and status (`max_live_traces`, `trace_too_large`).
    pub segments_refused: IntCounterVec,
    /// Whole pushes refused, by status (`memory_limit`, `not_accepting`, `wal_error`).
    pub pushes_refused: IntCounterVec,
    /// Live traces held, by tenant.
    pub live_traces: IntGaugeVec,
    /// Bytes of trace segments held in memory (live, head and flushing blocks).
    pub bytes_in_memory: IntGauge,
    /// Group commits (one write + one sync covering many pushes).
    pub wal_group_commits: IntCounter,
    /// WAL records appended (one per push).
    pub wal_records: IntCounter,
    /// Bytes appended to WAL segment files.
    pub wal_bytes: IntCounter,
    /// Appends that failed (write or sync error): their pushes were not acknowledged.
    pub wal_append_failures: IntCounter,
    /// WAL segment files deleted after their traces reached the object store.
    pub wal_segments_deleted: IntCounter,
    /// Records replayed at start.
    pub wal_records_replayed: IntCounter,
    /// Torn records truncated at the end of a segment at replay.
    pub wal_torn_records_truncated: IntCounter,
    /// Corrupt records skipped at replay (`storage.trace.wal.skip_corrupt_records`).
    pub wal_corrupt_records_skipped: IntCounter,
    /// Blocks uploaded, by tenant.
    pub blocks_flushed: IntCounterVec,
    /// Spans written into uploaded blocks, by tenant.
    pub spans_flushed: IntCounterVec,
    /// Block write or upload attempts that failed (retried).
    pub flush_failures: IntCounter,
    /// Spans dropped while writing a block (undecodable, wrong trace ID, bad span ID).
    pub invalid_spans_dropped: IntCounter,
    /// Seconds from cut to `meta.json` in the object store, per block.
    pub flush_duration_seconds: Histogram,
}

impl IngesterMetrics {
    /// Registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> Result<Self> {
        let metrics = IngesterMetrics {
            spans_received: IntCounterVec::new(
                Opts::new(
                    "contrail_ingester_spans_received_total",
                    "spans accepted (durable in the wal)",
                ),
                &["tenant"],
            )
            .map_err(metrics_error)?,
            segments_refused: IntCounterVec::new(
                Opts::new(
                    "contrail_ingester_segments_refused_total",
                    "trace segments refused by a per-tenant limit",
                ),
                &["tenant", "status"],
            )
            .map_err(metrics_error)?,
            pushes_refused: IntCounterVec::new(
                Opts::new(
                    "contrail_ingester_pushes_refused_total",
                    "pushes refused as a whole",
                ),
                &["status"],
            )
            .map_err(metrics_error)?,
            live_traces: IntGaugeVec::new(
                Opts::new("contrail_ingester_live_traces", "live traces held"),
                &["tenant"],
            )
            .map_err(metrics_error)?,
            bytes_in_memory: IntGauge::new(
                "contrail_ingester_bytes_in_memory",
                "bytes of trace segments held in memory",
            )
            .map_err(metrics_error)?,
            wal_group_commits: counter(
                "contrail_ingester_wal_group_commits_total",
                "wal group commits (one write and one sync for many pushes)",
            )?,
            wal_records: counter(
                "contrail_ingester_wal_records_total",
                "wal records appended",
            )?,
            wal_bytes: counter(
                "contrail_ingester_wal_bytes_total",
                "bytes appended to wal segments",
            )?,
            wal_append_failures: counter(
                "contrail_ingester_wal_append_failures_total",
                "wal appends that failed; their pushes were not acknowledged",
            )?,
            wal_segments_deleted: counter(
                "contrail_ingester_wal_segments_deleted_total",
                "wal segments deleted once their traces were in the object store",
            )?,
            wal_records_replayed: counter(
                "contrail_ingester_wal_records_replayed_total",
                "wal records replayed at start",
            )?,
            wal_torn_records_truncated: counter(
                "contrail_ingester_wal_torn_records_truncated_total",
                "torn records truncated from the end of a wal segment at replay",
            )?,
            wal_corrupt_records_skipped: counter(
                "contrail_ingester_wal_corrupt_records_skipped_total",
                "corrupt wal records skipped at replay",
            )?,
            blocks_flushed: IntCounterVec::new(
                Opts::new(
                    "contrail_ingester_blocks_flushed_total",
                    "blocks uploaded to the object store",
                ),
                &["tenant"],
            )
            .map_err(metrics_error)?,
            spans_flushed: IntCounterVec::new(
                Opts::new(
                    "contrail_ingester_spans_flushed_total",
                    "spans written into uploaded blocks",
                ),
                &["tenant"],
            )
            .map_err(metrics_error)?,
            flush_failures: counter(
                "contrail_ingester_flush_failures_total",
                "block write or upload attempts that failed",
            )?,
            invalid_spans_dropped: counter(
                "contrail_ingester_invalid_spans_dropped_total",
                "spans dropped while writing a block (undecodable or invalid ids)",
            )?,
            flush_duration_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "contrail_ingester_flush_duration_seconds",
                    "seconds from cut to meta.json in the object store",
                )
                .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
            )
            .map_err(metrics_error)?,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(metrics.spans_received.clone()),
            Box::new(metrics.segments_refused.clone()),
            Box::new(metrics.pushes_refused.clone()),
            Box::new(metrics.live_traces.clone()),
            Box::new(metrics.bytes_in_memory.clone()),
            Box::new(metrics.wal_group_commits.clone()),
            Box::new(metrics.wal_records.clone()),
            Box::new(metrics.wal_bytes.clone()),
            Box::new(metrics.wal_append_failures.clone()),
            Box::new(metrics.wal_segments_deleted.clone()),
            Box::new(metrics.wal_records_replayed.clone()),
            Box::new(metrics.wal_torn_records_truncated.clone()),
            Box::new(metrics.wal_corrupt_records_skipped.clone()),
            Box::new(metrics.blocks_flushed.clone()),
            Box::new(metrics.spans_flushed.clone()),
            Box::new(metrics.flush_failures.clone()),
            Box::new(metrics.invalid_spans_dropped.clone()),
            Box::new(metrics.flush_duration_seconds.clone()),
        ];
        for collector in collectors {
            registry.register(collector).map_err(metrics_error)?;
        }
        Ok(metrics)
    }
}

fn counter(name: &str, help: &str) -> Result<IntCounter> {
    IntCounter::new(name, help).map_err(metrics_error)
}

fn metrics_error(source: prometheus::Error) -> Error {
    Error::Metrics { source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_ingesters_register_in_their_own_registries_not_twice_in_one() {
        let first = Registry::new();
        IngesterMetrics::new(&first).expect("first");
        IngesterMetrics::new(&Registry::new()).expect("second registry");
        let error = IngesterMetrics::new(&first).expect_err("same registry twice");
        assert!(matches!(error, Error::Metrics { .. }));
    }
}
