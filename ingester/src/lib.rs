//! Ingester: appends pushed spans to a write-ahead log (group commit, fsync before the ack),
//! keeps live traces in memory as the segment bytes they arrived as (ranges of the WAL records,
//! held compressed and, while recent, uncompressed: `packed`), cuts idle traces into `vc1`
//! blocks, uploads them through `storage` and serves recent data (trace by ID, snapshots for
//! search). Flushes everything on shutdown.
//!
//! Data flow: `push` → limits → WAL record (`wal`) → live traces (`instance`) → head block →
//! cut → `flush` (local block, then the object store, `meta.json` last) → WAL segments deleted.
//!
//! Search over recent data runs the `traceql` engine over an in-memory source and the local
//! complete blocks (`search`); tag names and values use the same units (`tags`); TraceQL
//! metrics over recent data likewise (`recent_metrics`).
//!
//! May depend on `proto`, `storage`, `traceql` and `ring` (the distributor's placement, to
//! count each replicated trace once in recent metrics, `ownership`); never on another service
//! crate.

mod config;
mod cpu;
mod error;
mod flush;
pub mod grpc;
pub mod http;
mod instance;
mod lifecycle;
mod limits;
mod metrics;
mod ownership;
mod packed;
mod reads;
mod recent_metrics;
mod recent_units;
mod reload;
mod search;
mod service;
mod tags;
mod trace;
mod wal;

#[cfg(test)]
mod tests;

pub use config::IngesterConfig;
pub use error::{Error, Result};
pub use limits::{StaticLimits, TenantLimits};
pub use metrics::IngesterMetrics;
pub use reads::{RecentSnapshot, RecentTrace};
pub use service::{Ingester, IngesterArgs};
pub use wal::ReplayStats;
