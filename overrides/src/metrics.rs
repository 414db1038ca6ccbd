//! [`OverridesMetrics`]: reloads of the per-tenant file.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// Metrics of the per-tenant overrides reloads.
#[derive(Debug, Clone)]
pub struct OverridesMetrics {
    /// `contrail_overrides_reloads_total{status="success|failure"}`.
    pub(crate) reloads: IntCounterVec,
    /// `contrail_overrides_last_reload_successful`: 1 when the last reload was good.
    pub(crate) last_reload_successful: IntGauge,
    /// `contrail_overrides_tenants`: tenants named in the per-tenant file.
    pub(crate) tenants: IntGauge,
}

impl OverridesMetrics {
    /// Creates and registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "contrail_overrides_reloads_total",
                "Reloads of the per-tenant overrides file, by status",
            ),
            &["status"],
        )?;
        let last_reload_successful = IntGauge::new(
            "contrail_overrides_last_reload_successful",
            "1 when the last reload of the per-tenant overrides file succeeded, else 0",
        )?;
        let tenants = IntGauge::new(
            "contrail_overrides_tenants",
            "Tenants named in the per-tenant overrides file",
        )?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_reload_successful.clone()))?;
        registry.register(Box::new(tenants.clone()))?;
        Ok(OverridesMetrics {
            reloads,
            last_reload_successful,
            tenants,
        })
    }
}
