//! The wire path: block rows built straight from the encoded `tempopb.Trace` segments an
//! ingester holds, without decoding them into `prost` structs first.
//!
//! [`EncodedTrace::scan`] walks a trace's segments once: it checks every message as `prost`
//! would (`validate`), drops spans of another trace or without an 8-byte span ID, keeps each
//! span ID once (the first, as the ingester's decoding does), and indexes what is kept: one
//! group per (resource, scope) with kept spans, one entry per span with the facts the
//! depth-first numbering needs. `rows` then appends the indexed spans to the same Arrow
//! builders the `prost` path fills, strings borrowed from the segments, resources and scopes
//! interned by their encoded bytes. The rows are the ones the `prost` path builds from the
//! decoded segments (`tests.rs` compares both ways on the load-generator corpus and on odd
//! encodings). Segments the scan does not take (a message `prost` would reject, or one it would
//! merge: a singular message field repeated, an `AnyValue` with two values, deep nesting) are
//! reported as [`Scanned::Decode`]: the caller decodes them with `prost` as before.
//! [`EncodedTrace::scan_checked`] builds the same index from span-level fields alone, for
//! segments whose every field was checked before (by the in-process distributor, ADR 007).

mod fields;
mod raw_attrs;
pub(crate) mod rows;
mod scan;
#[cfg(test)]
mod tests;
mod validate;

pub use scan::{EncodedTrace, Scanned};
