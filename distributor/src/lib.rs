//! Distributor: receives OTLP over gRPC (`TraceService/Export`) and HTTP (`POST /v1/traces`,
//! protobuf and JSON, gzip), resolves the tenant, applies the tenant's limits (rate and burst in
//! bytes, trace size, attribute size), regroups spans by trace ID into one encoded segment per
//! trace and pushes each segment to its replica set of ingesters chosen by the ring, answering
//! once a write quorum has acknowledged (partial success for segments the ingesters refused).
//!
//! Must not depend on `storage`, `traceql` or any other service crate: ingesters are reached
//! through `proto`'s `PushTarget` (gRPC or the in-process ingester).

mod config;
mod decode;
mod error;
mod limits;
mod metrics;
mod receiver;
mod regroup;
mod routing;
mod service;
mod wire;

pub use config::{
    DistributorConfig, GrpcReceiverConfig, HttpReceiverConfig, OtlpProtocols, OtlpReceiverConfig,
    ReceiversConfig, SECTION,
};
pub use decode::{ContentEncoding, DecodeJob, Decoded, PayloadFormat, run_decode_job};
pub use error::{Error, Result};
pub use limits::RateLimiter;
pub use metrics::DistributorMetrics;
pub use receiver::grpc::OtlpGrpcService;
pub use receiver::http::otlp_http_router;
pub use receiver::{Receivers, bind_receivers, no_delay};
pub use regroup::{RegroupLimits, Regrouped, regroup_export_request};
pub use routing::quorum_for;
pub use service::{Distributor, DistributorArgs, PushSummary, RawExport};
