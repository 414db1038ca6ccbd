//! Querier and query-frontend: parses and validates TraceQL, splits a search into jobs over
//! ingesters (recent data) and backend blocks (row-group ranges), runs the `traceql` engine over
//! them and merges results; trace by ID through bloom filters and row-group statistics.
//!
//! May depend on `proto`, `storage`, `traceql` and `ring`; never on another service crate.
