//! TraceQL: the nom parser, the typed AST, validation, canonical printing, and (later) the
//! planner and evaluation against the `SpansetFetcher` trait that `storage` implements.
//!
//! A pure library: no IO. May depend on `proto`; never on `storage`, a service crate or the
//! `contrail` binary.
