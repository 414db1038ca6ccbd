//! Querier and query-frontend: Tempo's HTTP query API and `tempopb.StreamingQuerier` gRPC over
//! one [`QueryService`]. Searches are parsed and validated once, split between recent data
//! (ingesters) and blocks, cut into (block, row-group range) jobs run newest first on a bounded
//! pool or on remote queriers, and merged; trace by ID reads the ingesters and the candidate
//! blocks at once (meta ID range → one bloom shard → the row group and pages of the hit).
//!
//! Data flow: `http` / `grpc` (convert) → [`Querier`] ([`QueryService`]) → `trace_by_id`,
//! `frontend` (split, jobs, combine) → `recent` (ingesters), `blocklist` + `cache` (blocks);
//! block jobs run on [`EngineBlockSearch`] (`engine`: the TraceQL engine and the tag scan over
//! `vc1` blocks).
//!
//! May depend on `proto`, `storage`, `traceql` and `ring`; never on another service crate.

pub mod blocklist;
pub mod cache;
pub mod config;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod grpc;
pub mod http;
pub mod merge;
pub mod metrics;
pub mod params;
mod querier;
pub mod recent;
pub mod remote;
pub mod service;
mod task_stream;
pub mod tenant;
pub mod trace_by_id;

pub use config::{QuerierConfig, QueryFrontendConfig};
pub use engine::EngineBlockSearch;
pub use error::{Error, Result};
pub use metrics::QuerierMetrics;
pub use querier::{Querier, QuerierArgs};
pub use service::QueryService;
