//! End-to-end tests: spawn the Contrail binaries, drive OTLP in and TraceQL out, and check the
//! workspace's own rules (such as the crate dependency table).
//!
//! Nothing depends on this crate; it may depend on `contrail` (as spawned binaries) and `proto`.

pub mod module_graph;
