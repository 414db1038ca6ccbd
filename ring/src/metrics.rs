//! [`RingMetrics`]: membership, discovery and health checks.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Metrics of one ring (label `ring`: `ingester`, `compactor`).
#[derive(Debug, Clone)]
pub struct RingMetrics {
    /// `contrail_ring_members{ring, state="healthy|unhealthy"}`.
    pub(crate) members: IntGaugeVec,
    /// `contrail_ring_discovery_failures_total{ring}`.
    pub(crate) discovery_failures: IntCounter,
    /// `contrail_ring_health_checks_total{ring, result="healthy|unhealthy"}`.
    pub(crate) health_checks: IntCounterVec,
    ring: String,
}

impl RingMetrics {
    /// Creates and registers the metrics of the ring named `ring` in `registry`.
    pub fn new(registry: &Registry, ring: &str) -> Result<Self, prometheus::Error> {
        let labels = std::collections::HashMap::from([("ring".to_owned(), ring.to_owned())]);
        let members = IntGaugeVec::new(
            Opts::new("contrail_ring_members", "Ring members by health state")
                .const_labels(labels.clone()),
            &["state"],
        )?;
        let discovery_failures = IntCounter::with_opts(
            Opts::new(
                "contrail_ring_discovery_failures_total",
                "Discovery rounds that failed (the previous members were kept)",
            )
            .const_labels(labels.clone()),
        )?;
        let health_checks = IntCounterVec::new(
            Opts::new(
                "contrail_ring_health_checks_total",
                "Health checks of ring members by result",
            )
            .const_labels(labels),
            &["result"],
        )?;
        registry.register(Box::new(members.clone()))?;
        registry.register(Box::new(discovery_failures.clone()))?;
        registry.register(Box::new(health_checks.clone()))?;
        Ok(RingMetrics {
            members,
            discovery_failures,
            health_checks,
            ring: ring.to_owned(),
        })
    }

    /// The ring's name.
    pub fn ring(&self) -> &str {
        &self.ring
    }
}
