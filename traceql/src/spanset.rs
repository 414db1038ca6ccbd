//! The outer language: spanset filters and everything that combines them (spanset and
//! structural operators, pipelines, aggregates, metrics functions and constants). It is first
//! parsed by precedence climbing into an untyped [`Node`] tree, because the meaning of `>`,
//! `&&` or `(` depends on the operands; `pipeline.rs` then checks the shapes Tempo's grammar
//! allows and builds the typed AST.

use nom::Parser;

use crate::ast::{Aggregate, Attribute, FieldExpr, MetricsFunction, Static};
use crate::internal::{Ctx, Res, check_tree_depth, expect, fail, punct, sp};
use crate::lexer::{OuterOp, outer_op, raw_ident};
use crate::literal::{number, starts_number};
use crate::{aggregate, expr, metrics, pipeline};

/// A node of the untyped outer tree; `at` is the position (bytes left) where it starts.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) at: usize,
    pub(crate) kind: NodeKind,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Filter(FieldExpr),
    Paren(Box<Node>),
    Aggregate(Aggregate),
    GroupBy(FieldExpr),
    Select(Vec<Attribute>),
    Coalesce,
    Metrics(MetricsFunction),
    TopK(i64),
    BottomK(i64),
    /// An int, float or duration literal.
    Number(Static),
    Neg(Box<Node>),
    Binary {
        op: OuterOp,
        op_at: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
}

/// `{ expr }` or `{ }` (stored as `{ true }`), after optional whitespace.
pub(crate) fn spanset_filter<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (FieldExpr, usize)> {
    let (input, ()) = punct("{").parse(input)?;
    if let Ok((rest, ())) = punct("}").parse(input) {
        return Ok((rest, (FieldExpr::Static(Static::Bool(true)), 1)));
    }
    let (rest, (field, depth)) = expr::field_expr(ctx, input)?;
    let (rest, ()) = expect("expected '}'", punct("}")).parse(rest)?;
    Ok((rest, (field, depth)))
}

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
    if let Some(parsed) = aggregate::aggregate_call(ctx, name, after_name) {
        let (rest, (aggregate, depth)) = parsed?;
        return Ok((rest, (node(NodeKind::Aggregate(aggregate)), depth + 1)));
    }
    if let Some(parsed) = pipeline::operation_call(ctx, name, after_name) {
        let (rest, (kind, depth)) = parsed?;
        return Ok((rest, (node(kind), depth + 1)));
    }
    if let Some(parsed) = metrics::metrics_call(ctx, name, after_name) {
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

/// Whether `node` is a spanset expression: a filter, a parenthesised spanset expression, or a
/// spanset operator whose left operand is one (Tempo's parser commits on the left operand).
pub(crate) fn is_spanset_like(node: &Node) -> bool {
    let mut current = node;
    loop {
        match &current.kind {
            NodeKind::Filter(_) => return true,
            NodeKind::Paren(inner) => current = inner,
            NodeKind::Binary { op, lhs, .. } if pipeline::spanset_op(*op).is_some() => {
                current = lhs
            }
            _ => return false,
        }
    }
}

/// `[a, b, c]` for `a | b | c` (a left-deep chain of pipes), else `[node]`.
pub(crate) fn flatten_pipe(node: Node) -> Vec<Node> {
    let mut items = Vec::new();
    let mut current = node;
    loop {
        match current.kind {
            NodeKind::Binary {
                op: OuterOp::Pipe,
                lhs,
                rhs,
                ..
            } => {
                items.push(*rhs);
                current = *lhs;
            }
            kind => {
                items.push(Node {
                    at: current.at,
                    kind,
                });
                break;
            }
        }
    }
    items.reverse();
    items
}

/// Whether the node is a `|` chain (checked without taking it apart).
pub(crate) fn is_pipe(node: &Node) -> bool {
    matches!(
        node.kind,
        NodeKind::Binary {
            op: OuterOp::Pipe,
            ..
        }
    )
}

/// The last item of a `|` chain (or the node itself).
pub(crate) fn last_pipe_item(node: &Node) -> &Node {
    match &node.kind {
        NodeKind::Binary {
            op: OuterOp::Pipe,
            rhs,
            ..
        } => rhs,
        _ => node,
    }
}
