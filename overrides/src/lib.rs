//! Overrides: per-tenant limits in Tempo's `overrides` section. Parses the nested form
//! (`defaults: { ingestion, read, compaction, global, ... }`) and the legacy flat form
//! (`ingestion_rate_limit_bytes`, `max_bytes_per_trace`, ...), reloads the per-tenant file
//! (`per_tenant_override_config`) every `per_tenant_override_period`, and answers
//! [`Overrides::limits_for`] with a shared [`Limits`] snapshot that is cheap on the hot path.
//!
//! Tempo keys Contrail accepts but does not enforce are reported as `ConfigWarning`s.
//! Depends on `proto` only; the distributor, ingester, querier and compactor read it.

mod bytes;
mod config;
mod error;
mod legacy;
mod limits;
mod metrics;
mod service;
mod tenant_file;

#[cfg(test)]
mod tests;

pub use config::{OverridesConfig, SECTION};
pub use error::{Error, Result};
pub use limits::{
    CompactionLimits, GlobalLimits, IngestionLimits, Limits, RateStrategy, ReadLimits,
};
pub use metrics::OverridesMetrics;
pub use service::Overrides;
pub use tenant_file::TenantLimits;
