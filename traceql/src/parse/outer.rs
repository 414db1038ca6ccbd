//! The outer language: spanset filters and everything that combines them (spanset and
//! structural operators, pipelines, aggregates, metrics functions and constants), parsed by
//! precedence climbing into the untyped [`Node`] tree of `node.rs`.

use nom::Parser;

use crate::parse::calls::{aggregate_call, metrics_call, operation_call, spanset_filter};
use crate::parse::internal::{Ctx, Res, check_tree_depth, expect, fail, punct, sp};
use crate::parse::lexer::{OuterOp, outer_op, raw_ident};
use crate::parse::literal::{number, starts_number};
use crate::parse::node::{Node, NodeKind};

/// An outer expression whose operators all bind at least as tight as `min_precedence`.
pub(crate) fn outer_expr<'a>(
    ctx: &Ctx,
    input: &'a str,
    min_precedence: u8,
) -> Res<'a, (Node, usize)> {
    let (mut rest, (mut lhs, mut depth)) = outer_unary(ctx, input)?;
    loop {
        let (after, ()) = sp(rest)?;
        let Some((op, after_op)) = outer_op(after) else {
            break;
        };
        let precedence = op.precedence();
        if precedence < min_precedence {
            break;
        }
        let (next, (rhs, rhs_depth)) = if op == OuterOp::Pow {
            let _guard = ctx.enter(after_op)?;
            outer_expr(ctx, after_op, precedence)?
        } else {
            outer_expr(ctx, after_op, precedence + 1)?
        };
        depth = 1 + depth.max(rhs_depth);
        check_tree_depth(depth, after)?;
        let at = lhs.at;
        let kind = NodeKind::Binary {
            op,
            op_at: after.len(),
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        lhs = Node { at, kind };
        rest = next;
    }
    Ok((rest, (lhs, depth)))
}

/// A prefix `-` (binding tightest: it applies to constants), a parenthesised expression or an
/// atom.
fn outer_unary<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (Node, usize)> {
    let (input, ()) = sp(input)?;
    let at = input.len();
    let node = |kind| Node { at, kind };
    if let Some(operand_input) = input.strip_prefix('-') {
        let _guard = ctx.enter(input)?;
        let (rest, (operand, depth)) = outer_unary(ctx, operand_input)?;
        return Ok((rest, (node(NodeKind::Neg(Box::new(operand))), depth + 1)));
    }
    if let Some(inner) = input.strip_prefix('(') {
        let _guard = ctx.enter(input)?;
        let (rest, (content, depth)) = outer_expr(ctx, inner, 0)?;
        let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
        return Ok((rest, (node(NodeKind::Paren(Box::new(content))), depth + 1)));
    }
    if input.starts_with('{') {
        let (rest, (field, depth)) = spanset_filter(ctx, input)?;
        return Ok((rest, (node(NodeKind::Filter(field)), depth + 1)));
    }
    if starts_number(input) {
        let (rest, value) = number(input)?;
        return Ok((rest, (node(NodeKind::Number(value)), 1)));
    }
    let Ok((after_name, name)) = raw_ident(input) else {
        if input.is_empty() {
            return fail("unexpected end of query, expected a spanset filter", input);
        }
        return fail(
            "expected a spanset filter, a pipeline stage or a metrics query",
            input,
        );
    };
    if let Some(parsed) = aggregate_call(ctx, name, after_name) {
        let (rest, (aggregate, depth)) = parsed?;
        return Ok((rest, (node(NodeKind::Aggregate(aggregate)), depth + 1)));
    }
    if let Some(parsed) = operation_call(ctx, name, after_name) {
        let (rest, (kind, depth)) = parsed?;
        return Ok((rest, (node(kind), depth + 1)));
    }
    if let Some(parsed) = metrics_call(ctx, name, after_name) {
        let (rest, (kind, depth)) = parsed?;
        return Ok((rest, (node(kind), depth + 1)));
    }
    fail(
        format!(
            "unexpected '{name}', expected a spanset filter, a pipeline stage or a metrics query"
        ),
        input,
    )
}
