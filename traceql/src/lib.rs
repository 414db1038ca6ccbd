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

pub mod ast;
mod display;
mod error;
pub mod eval;
pub mod fetch;
pub mod memory;
pub mod metrics;
pub mod plan;
pub mod search;
pub mod structure;
mod validate;
pub mod value;

mod lower;
mod parse;

pub use ast::RootExpr;
pub use error::{Error, ErrorKind, Result};
pub use memory::{MemorySource, MemoryTrace};
pub use plan::{Plan, SearchOptions, plan_search};
pub use search::driver::{CpuRunError, CpuRunner, InlineRunner, SearchOutcome, run_cpu, search};
pub use validate::validate;

use parse::internal::{Ctx, ParseError, sp};

fn parse_root(query: &str) -> Result<RootExpr, ParseError> {
    let ctx = Ctx::default();
    let unwrap = |error: nom::Err<ParseError>| match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error,
        nom::Err::Incomplete(_) => ParseError::at_remaining("unexpected end of query", 0),
    };
    let (rest, (node, _depth)) = parse::outer::outer_expr(&ctx, query, 0).map_err(unwrap)?;
    let (rest, hints) = parse::hints::hints(rest).map_err(unwrap)?;
    let (rest, ()) = sp(rest).map_err(unwrap)?;
    if !rest.is_empty() {
        return Err(ParseError::new(
            "unexpected input, expected an operator, '|', with(...) or the end of the query",
            rest,
        ));
    }
    let body = lower::body::convert_body(node)?;
    Ok(RootExpr { body, hints })
}

/// Parses a TraceQL query into its AST. Does not validate it (see [`validate`]).
pub fn parse(query: &str) -> Result<RootExpr> {
    parse_root(query)
        .map_err(|error| Error::parse_at(query, error.remaining, error.message.into_owned()))
}

/// Parses and validates a query: what the API does before running it.
pub fn parse_and_validate(query: &str) -> Result<RootExpr> {
    let root = parse(query)?;
    validate(&root)?;
    Ok(root)
}

#[cfg(test)]
mod tests;
