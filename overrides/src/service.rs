//! [`Overrides`]: the limits in force, per tenant, with the per-tenant file reloaded at runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use contrail_proto::TenantId;
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::OverridesConfig;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metrics::OverridesMetrics;
use crate::tenant_file::TenantLimits;

/// The limits in force. Shared (`Arc<Overrides>`) by every component of a process.
#[derive(Debug)]
pub struct Overrides {
    defaults: Arc<Limits>,
    tenants: ArcSwap<TenantLimits>,
    file_opt: Option<PathBuf>,
    period: Duration,
    metrics: Option<OverridesMetrics>,
}

impl Overrides {
    /// Builds the overrides of `config`, reading the per-tenant file once: a file that is
    /// missing or invalid at start-up is an error.
    pub fn new(config: &OverridesConfig, registry: &Registry) -> Result<Arc<Self>> {
        let metrics = OverridesMetrics::new(registry)?;
        let defaults = Arc::new(config.defaults.clone());
        let tenants = match &config.per_tenant_override_config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
                    path: path.display().to_string(),
                    source,
                })?;
                let (tenants, warnings) =
                    TenantLimits::parse(&text, &defaults, &path.display().to_string())?;
                for warning in warnings {
                    tracing::warn!(key = %warning.key, "{}", warning.message);
                }
                tenants
            }
            None => TenantLimits::default(),
        };
        metrics.tenants.set(gauge_value(tenants.len()));
        metrics.last_reload_successful.set(1);
        Ok(Arc::new(Overrides {
            defaults,
            tenants: ArcSwap::from_pointee(tenants),
            file_opt: config.per_tenant_override_config.clone(),
            period: config.per_tenant_override_period,
            metrics: Some(metrics),
        }))
    }

    /// The same limits for every tenant, no file, no metrics (tests, tools).
    pub fn fixed(limits: Limits) -> Arc<Self> {
        Arc::new(Overrides {
            defaults: Arc::new(limits),
            tenants: ArcSwap::from_pointee(TenantLimits::default()),
            file_opt: None,
            period: Duration::from_secs(10),
            metrics: None,
        })
    }

    /// The limits of `tenant`: its per-tenant entry, else the `*` entry, else the defaults.
    /// Lock-free; clones one `Arc`.
    pub fn limits_for(&self, tenant: &TenantId) -> Arc<Limits> {
        let tenants = self.tenants.load();
        match tenants.get(tenant) {
            Some(limits) => Arc::clone(limits),
            None => Arc::clone(&self.defaults),
        }
    }

    /// The default limits.
    pub fn defaults(&self) -> &Arc<Limits> {
        &self.defaults
    }

    /// Reads the per-tenant file again. On failure the limits in force stay as they are, the
    /// failure is counted and returned.
    pub async fn reload(&self) -> Result<()> {
        let Some(path) = &self.file_opt else {
            return Ok(());
        };
        let outcome = match tokio::fs::read_to_string(path).await {
            Ok(text) => TenantLimits::parse(&text, &self.defaults, &path.display().to_string()),
            Err(source) => Err(Error::ReadFile {
                path: path.display().to_string(),
                source,
            }),
        };
        match outcome {
            Ok((tenants, warnings)) => {
                for warning in warnings {
                    tracing::debug!(key = %warning.key, "{}", warning.message);
                }
                if let Some(metrics) = &self.metrics {
                    metrics.reloads.with_label_values(&["success"]).inc();
                    metrics.last_reload_successful.set(1);
                    metrics.tenants.set(gauge_value(tenants.len()));
                }
                self.tenants.store(Arc::new(tenants));
                Ok(())
            }
            Err(error) => {
                tracing::error!(
                    file = %path.display(),
                    error = %error,
                    "per-tenant overrides reload failed; keeping the last good limits"
                );
                if let Some(metrics) = &self.metrics {
                    metrics.reloads.with_label_values(&["failure"]).inc();
                    metrics.last_reload_successful.set(0);
                }
                Err(error)
            }
        }
    }

    /// Reloads the per-tenant file every `per_tenant_override_period` until `shutdown` (with no
    /// per-tenant file there is nothing to reload; it just waits for `shutdown`).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<()> {
        if self.file_opt.is_none() {
            shutdown.cancelled().await;
            return Ok(());
        }
        let mut ticker = tokio::time::interval(self.period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = ticker.tick() => {
                    // A failed reload is logged and counted; the loop goes on.
                    let _ = self.reload().await;
                }
            }
        }
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
