//! Distributor: receives OTLP over gRPC and HTTP, resolves the tenant, applies per-tenant
//! limits, regroups spans by trace ID and pushes them to the replica set of ingesters chosen by the
//! ring (through `proto`'s push-target trait, or a direct call in single-binary mode).
//!
//! Must not depend on `storage`, `traceql` or any other service crate.
