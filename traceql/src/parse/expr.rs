//! Field expressions (inside `{ }`, aggregate arguments and `by()`), parsed by precedence
//! climbing over Tempo's table: `&& ||` < comparisons < `+ -` (and prefix `-`) < prefix `!` <
//! `* / %` < `^` (right-associative). `nil` may only be a direct operand of `=` or `!=`.

use nom::Parser;

use crate::ast::{FieldExpr, FieldOp, Static, UnaryOp};
use crate::parse::ident::{IdentAtom, ident_atom, unscoped_attribute};
use crate::parse::internal::{Ctx, Res, check_tree_depth, expect, fail, punct, sp};
use crate::parse::lexer::{field_op, peek_keyword, raw_ident};
use crate::parse::literal::{number, starts_number, string};

/// Operand of prefix `-`: everything binding tighter than binary `+`/`-`.
const NEG_OPERAND_PRECEDENCE: u8 = 5;
/// Operand of prefix `!`: `* / % ^` and tighter.
const NOT_OPERAND_PRECEDENCE: u8 = 6;
const COMPARISON_PRECEDENCE: u8 = 3;

/// A whole field expression and the depth of its tree.
pub(crate) fn field_expr<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (FieldExpr, usize)> {
    field_expr_min(ctx, input, 0)
}

/// A field expression whose binary operators all bind at least as tight as `min_precedence`.
fn field_expr_min<'a>(
    ctx: &Ctx,
    input: &'a str,
    min_precedence: u8,
) -> Res<'a, (FieldExpr, usize)> {
    let (input, ()) = sp(input)?;
    let (mut rest, (mut lhs, mut depth, is_nil)) = field_unary(ctx, input)?;
    if is_nil {
        let (after, ()) = sp(rest)?;
        let compared = matches!(field_op(after), Some((FieldOp::Eq | FieldOp::Ne, _)));
        if !compared || min_precedence > COMPARISON_PRECEDENCE {
            return fail("nil can only be compared with = or !=", input);
        }
    }
    loop {
        let (after, ()) = sp(rest)?;
        let Some((op, after_op)) = field_op(after) else {
            break;
        };
        let precedence = op.precedence();
        if precedence < min_precedence {
            break;
        }
        let (next, (rhs, rhs_depth)) =
            if matches!(op, FieldOp::Eq | FieldOp::Ne) && peek_keyword(after_op, "nil") {
                let (next, _) = sp(after_op).and_then(|(at, ())| raw_ident(at))?;
                (next, (FieldExpr::Static(Static::Nil), 1))
            } else if op == FieldOp::Pow {
                let _guard = ctx.enter(after_op)?;
                field_expr_min(ctx, after_op, precedence)?
            } else {
                field_expr_min(ctx, after_op, precedence + 1)?
            };
        depth = 1 + depth.max(rhs_depth);
        check_tree_depth(depth, after)?;
        lhs = FieldExpr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        rest = next;
    }
    Ok((rest, (lhs, depth)))
}

/// A prefix operator, a parenthesised expression or an atom; the flag tells a bare `nil`.
fn field_unary<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (FieldExpr, usize, bool)> {
    let prefix = match input.chars().next() {
        Some('!') => Some((UnaryOp::Not, NOT_OPERAND_PRECEDENCE)),
        Some('-') => Some((UnaryOp::Neg, NEG_OPERAND_PRECEDENCE)),
        _ => None,
    };
    if let Some((op, operand_precedence)) = prefix {
        let _guard = ctx.enter(input)?;
        let (rest, (operand, depth)) = field_expr_min(ctx, &input[1..], operand_precedence)?;
        check_tree_depth(depth + 1, input)?;
        return Ok((
            rest,
            (
                FieldExpr::Unary {
                    op,
                    operand: Box::new(operand),
                },
                depth + 1,
                false,
            ),
        ));
    }
    if let Some(inner) = input.strip_prefix('(') {
        let _guard = ctx.enter(input)?;
        let (rest, (expr, depth)) = field_expr(ctx, inner)?;
        let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
        return Ok((rest, (expr, depth, false)));
    }
    if input.starts_with(['"', '`']) {
        let (rest, value) = string(input)?;
        return Ok((rest, (FieldExpr::Static(Static::String(value)), 1, false)));
    }
    if starts_number(input) {
        let (rest, value) = number(input)?;
        return Ok((rest, (FieldExpr::Static(value), 1, false)));
    }
    if input.starts_with('.') {
        let (rest, attribute) = unscoped_attribute(input)?;
        return Ok((rest, (FieldExpr::Attribute(attribute), 1, false)));
    }
    if raw_ident(input).is_ok() {
        let (rest, atom) = ident_atom(input)?;
        let parsed = match atom {
            IdentAtom::Static(value) => (FieldExpr::Static(value), 1, false),
            IdentAtom::Attribute(attribute) => (FieldExpr::Attribute(attribute), 1, false),
            IdentAtom::Nil => (FieldExpr::Static(Static::Nil), 1, true),
        };
        return Ok((rest, parsed));
    }
    if input.is_empty() {
        return fail("unexpected end of query, expected an expression", input);
    }
    fail("expected an expression", input)
}
