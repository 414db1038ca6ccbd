//! TraceQL: the nom parser, the typed AST, validation, canonical printing, and the planner and
//! evaluation against the [`fetch::SpanSource`] trait that `storage` (vc1 blocks) and the
//! ingester (recent traces in memory) implement; [`value`] holds the comparison rules both
//! sides share.
//!
//! A pure library: no IO. May depend on `proto`; never on `storage`, a service crate or the
//! `contrail` binary.
//!
//! `parse` turns a query into an [`ast::RootExpr`] (errors carry line and column),
//! `validate` applies Tempo's type and validation rules, and every AST node prints its
//! canonical form with `Display`, which parses back to the same tree.

pub mod arith;
pub mod ast;
mod cpu;
mod display;
mod entry;
mod error;
pub mod eval;
pub mod fetch;
pub mod memory;
pub mod metrics;
pub mod needles;
pub mod plan;
pub mod retain;
pub mod search;
pub mod structure;
pub mod tags;
mod validate;
pub mod value;

mod lower;
mod parse;

pub use ast::RootExpr;
pub use cpu::{CpuRunError, CpuRunner, InlineRunner, run_cpu};
pub use entry::{parse, parse_and_validate};
pub use error::{Error, ErrorKind, Result};
pub use memory::{MemorySource, MemoryTrace};
pub use plan::{Plan, SearchOptions, plan_search};
pub use search::driver::{SearchOutcome, search};
pub use validate::validate;

#[cfg(test)]
mod tests;
