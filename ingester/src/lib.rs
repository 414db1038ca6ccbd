//! Ingester: appends pushed spans to a write-ahead log (fsync before the ack), keeps live
//! traces in memory for recent search, cuts them into `vc1` blocks and uploads those through
//! `storage`. Flushes everything on shutdown.
//!
//! May depend on `proto`, `storage` and `traceql`; never on another service crate.
