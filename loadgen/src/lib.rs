//! Load generator: seeded, realistic OTLP traces (the benchmark corpus), written to files or sent
//! over OTLP gRPC / HTTP at a fixed rate or as fast as possible, with a one-line JSON summary.
//!
//! May depend on `proto` only; never on `storage`, `traceql` or a service crate.
