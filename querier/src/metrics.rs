//! The querier's Prometheus metrics, built from an injected registry (no globals, so two
//! queriers in one process, or one per test, each have their own).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::error::Result;

/// Metrics of the read path.
#[derive(Debug, Clone)]
pub struct QuerierMetrics {
    /// `contrail_querier_requests_total{method, status}`.
    pub requests: IntCounterVec,
    /// `contrail_querier_request_duration_seconds{method}`.
    pub request_duration: HistogramVec,
    /// `contrail_querier_jobs_total{status}`: block jobs run (or skipped) for searches, tags and metrics.
    pub jobs: IntCounterVec,
    /// `contrail_querier_cache_requests_total{method, status}`: `method` is the cache (`footer`,
    /// `bloom`), `status` is `hit` or `miss`.
    pub cache_requests: IntCounterVec,
    /// `contrail_querier_cache_bytes{method}`: bytes held by each cache.
    pub cache_bytes: IntGaugeVec,
    /// `contrail_querier_blocklist_blocks{tenant, status}`: live and compacted blocks known.
    pub blocklist_blocks: IntGaugeVec,
    /// `contrail_querier_blocklist_polls_total{status}`: `index`, `list` or `error`.
    pub blocklist_polls: IntCounterVec,
}

impl QuerierMetrics {
    /// Registers the metrics in `registry` (an error when they already are).
    pub fn new(registry: &Registry) -> Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "contrail_querier_requests_total",
                "query API requests by method and status",
            ),
            &["method", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "contrail_querier_request_duration_seconds",
                "query API request latency by method",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 16)?),
            &["method"],
        )?;
        let jobs = IntCounterVec::new(
            Opts::new("contrail_querier_jobs_total", "block jobs by outcome"),
            &["status"],
        )?;
        let cache_requests = IntCounterVec::new(
            Opts::new(
                "contrail_querier_cache_requests_total",
                "read-path cache lookups by cache and outcome",
            ),
            &["method", "status"],
        )?;
        let cache_bytes = IntGaugeVec::new(
            Opts::new(
                "contrail_querier_cache_bytes",
                "bytes held by each read-path cache",
            ),
            &["method"],
        )?;
        let blocklist_blocks = IntGaugeVec::new(
            Opts::new(
                "contrail_querier_blocklist_blocks",
                "blocks known per tenant, live or compacted",
            ),
            &["tenant", "status"],
        )?;
        let blocklist_polls = IntCounterVec::new(
            Opts::new(
                "contrail_querier_blocklist_polls_total",
                "tenant blocklist polls by source (index, list) or error",
            ),
            &["status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(cache_requests.clone()))?;
        registry.register(Box::new(cache_bytes.clone()))?;
        registry.register(Box::new(blocklist_blocks.clone()))?;
        registry.register(Box::new(blocklist_polls.clone()))?;
        Ok(QuerierMetrics {
            requests,
            request_duration,
            jobs,
            cache_requests,
            cache_bytes,
            blocklist_blocks,
            blocklist_polls,
        })
    }

    /// Counts one finished request of `method`.
    pub(crate) fn observe_request(&self, method: &str, status: &str, seconds: f64) {
        self.requests.with_label_values(&[method, status]).inc();
        self.request_duration
            .with_label_values(&[method])
            .observe(seconds);
    }
}

/// Metrics of the engine behind block jobs ([`crate::engine::EngineBlockSearch`]).
#[derive(Debug, Clone)]
pub struct EngineMetrics {
    /// `contrail_querier_engine_jobs_total{method, status}`: `method` is `search`, `tag_names`
    /// or `tag_values`; `status` is `ok` or the error's kind.
    pub jobs: IntCounterVec,
    /// `contrail_querier_engine_job_duration_seconds{method}`.
    pub job_duration: HistogramVec,
    /// `contrail_querier_engine_readers_total{status}`: block reader cache lookups, `hit` or
    /// `miss` (a miss reads the footer again on first use).
    pub readers: IntCounterVec,
}

impl EngineMetrics {
    /// Registers the metrics in `registry` (an error when they already are).
    pub fn new(registry: &Registry) -> Result<Self> {
        let jobs = IntCounterVec::new(
            Opts::new(
                "contrail_querier_engine_jobs_total",
                "block jobs run by the engine, by method and outcome",
            ),
            &["method", "status"],
        )?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                "contrail_querier_engine_job_duration_seconds",
                "time to run one block job, by method",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 16)?),
            &["method"],
        )?;
        let readers = IntCounterVec::new(
            Opts::new(
                "contrail_querier_engine_readers_total",
                "block reader cache lookups by outcome",
            ),
            &["status"],
        )?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        registry.register(Box::new(readers.clone()))?;
        Ok(EngineMetrics {
            jobs,
            job_duration,
            readers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_instances_in_two_registries_and_an_error_for_the_same_one() {
        let registry = Registry::new();
        QuerierMetrics::new(&registry).unwrap();
        assert!(QuerierMetrics::new(&registry).is_err());
        QuerierMetrics::new(&Registry::new()).unwrap();
    }

    #[test]
    fn engine_metrics_live_beside_the_querier_metrics() {
        let registry = Registry::new();
        QuerierMetrics::new(&registry).unwrap();
        EngineMetrics::new(&registry).unwrap();
        assert!(EngineMetrics::new(&registry).is_err());
    }
}
