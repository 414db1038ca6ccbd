//! Ring: discovers the live ingesters (Kubernetes DNS or a static list), checks their health
//! and places (tenant, trace ID) on replica sets by rendezvous hashing.
//!
//! May depend on `proto` only; never on `storage`, `traceql` or a service crate.
