//! Hints: `with(name = value, ...)` clauses at the end of a query; only the last one is kept.

use nom::Parser;
use nom::multi::separated_list1;

use crate::ast::Hint;
use crate::parse::internal::{Res, expect, fail, punct, sp};
use crate::parse::lexer::{ident, keyword, peek_keyword};
use crate::parse::literal::hint_static;

fn hint(input: &str) -> Res<'_, Hint> {
    let (rest, name) = match ident(input) {
        Ok(parsed) => parsed,
        Err(_) => {
            let (at, ()) = sp(input)?;
            return fail("expected a hint name", at);
        }
    };
    let (rest, ()) = expect("expected '=' after the hint name", punct("=")).parse(rest)?;
    let (rest, ()) = sp(rest)?;
    let (rest, value) = hint_static(rest)?;
    Ok((
        rest,
        Hint {
            name: name.to_owned(),
            value,
        },
    ))
}

/// Zero or more `with(...)` clauses; returns the hints of the last one.
pub(crate) fn hints(input: &str) -> Res<'_, Vec<Hint>> {
    let mut rest = input;
    let mut last = Vec::new();
    while peek_keyword(rest, "with") {
        let (after, ()) = keyword("with").parse(rest)?;
        let (after, ()) = expect("expected '(' after with", punct("(")).parse(after)?;
        let (after, list) = separated_list1(punct(","), hint).parse(after)?;
        let (after, ()) = expect("expected ')' or ','", punct(")")).parse(after)?;
        last = list;
        rest = after;
    }
    Ok((rest, last))
}
