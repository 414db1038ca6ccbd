//! The entry points from text: parse a query into its AST, and parse and validate it.

use crate::ast::RootExpr;
use crate::error::{Error, Result};
use crate::lower;

use crate::parse::internal::{Ctx, ParseError, sp};
use crate::validate::validate;

fn parse_root(query: &str) -> Result<RootExpr, ParseError> {
    let ctx = Ctx::default();
    let unwrap = |error: nom::Err<ParseError>| match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error,
        nom::Err::Incomplete(_) => ParseError::at_remaining("unexpected end of query", 0),
    };
    let (rest, (node, _depth)) = crate::parse::outer::outer_expr(&ctx, query, 0).map_err(unwrap)?;
    let (rest, hints) = crate::parse::hints::hints(rest).map_err(unwrap)?;
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
