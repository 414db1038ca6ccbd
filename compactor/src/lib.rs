//! Compactor: merges the blocks of one tenant and time window into larger blocks, drops
//! duplicate spans, recomputes trace-level fields, applies retention and writes the tenant index.
//!
//! Each cycle, per tenant: list the blocks, `planner` groups them into jobs (pure), jobs whose
//! (tenant, window) hashes to this compactor (`members`) run under a window lease (`lease`) in
//! `executor` (storage's streaming merge, then the swap), and the tenant's owner runs
//! `retention` and writes `<tenant>/index.json.zst`. `service::Compactor::run` loops until
//! shutdown. Decisions and their measurements: `docs/adr/010-compactor.md`.
//!
//! May depend on `proto` and `storage`; never on `traceql` or another service crate.

pub mod config;
pub mod error;
pub mod executor;
pub mod lease;
pub mod members;
pub mod metrics;
pub mod overrides;
pub mod planner;
pub mod retention;
pub mod service;

pub use config::{CompactionConfig, CompactorConfig, ShardingConfig};
pub use error::{Error, Result};
pub use executor::JobReport;
pub use lease::{JobIntent, Lease, Leases};
pub use members::{CompactorMembers, StaticMembers, owner_of};
pub use metrics::CompactorMetrics;
pub use overrides::{CompactionOverrides, NoOverrides, StaticOverrides};
pub use planner::{Job, PlannerConfig, plan};
pub use retention::{RetentionReport, RetentionSettings, superseded};
pub use service::{Compactor, CompactorArgs, CycleReport, FailedJob, TenantReport};
