//! Compactor: merges the blocks of one tenant and time window into larger blocks, drops
//! duplicate spans, recomputes trace-level fields, applies retention and writes the tenant index.
//!
//! May depend on `proto` and `storage`; never on `traceql` or another service crate.
