//! Pipelines: the `by()`, `select()` and `coalesce()` operations, and the conversion of the
//! untyped outer tree into spanset expressions, pipelines and wrapped-pipeline expressions,
//! following the shapes Tempo's grammar accepts.

use nom::Parser;
use nom::multi::separated_list1;

use crate::aggregate::{self, cmp_op, has_aggregate, is_scalar_pipe_like};
use crate::ast::{
    Body, MetricsExpr, MetricsRoot, Pipeline, PipelineExpr, SpansetExpr, SpansetOp, Stage,
};
use crate::expr::field_expr;
use crate::ident::attribute;
use crate::internal::{Ctx, ParseError, Res, expect, punct};
use crate::lexer::OuterOp;
use crate::metrics::{self, cmp_core};
use crate::spanset::{Node, NodeKind, flatten_pipe, is_pipe, is_spanset_like};

/// The result of converting the outer tree; errors carry the node's position.
pub(crate) type Converted<T> = Result<T, ParseError>;

pub(crate) fn error_at<T>(
    node: &Node,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Converted<T> {
    Err(ParseError::at_remaining(message, node.at))
}

/// `by(expr)`, `select(attr, ...)` and `coalesce()`; `None` if `name` is none of them.
pub(crate) fn operation_call<'a>(
    ctx: &Ctx,
    name: &str,
    input: &'a str,
) -> Option<Res<'a, (NodeKind, usize)>> {
    let parsed = match name {
        "by" => (|| {
            let (rest, ()) = expect("expected '(' after by", punct("(")).parse(input)?;
            let (rest, (field, depth)) = field_expr(ctx, rest)?;
            let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::GroupBy(field), depth)))
        })(),
        "select" => (|| {
            let (rest, ()) = expect("expected '(' after select", punct("(")).parse(input)?;
            let (rest, attributes) = separated_list1(punct(","), attribute).parse(rest)?;
            let (rest, ()) = expect("expected ')' or ','", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::Select(attributes), 1)))
        })(),
        "coalesce" => (|| {
            let (rest, ()) = expect("expected '(' after coalesce", punct("(")).parse(input)?;
            let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::Coalesce, 1)))
        })(),
        _ => return None,
    };
    Some(parsed)
}

/// The spanset operator an outer operator means between spansets, if any.
pub(crate) fn spanset_op(op: OuterOp) -> Option<SpansetOp> {
    Some(match op {
        OuterOp::And => SpansetOp::And,
        OuterOp::Or => SpansetOp::Union,
        OuterOp::Gt => SpansetOp::Child,
        OuterOp::Lt => SpansetOp::Parent,
        OuterOp::Descendant => SpansetOp::Descendant,
        OuterOp::Ancestor => SpansetOp::Ancestor,
        OuterOp::Sibling => SpansetOp::Sibling,
        OuterOp::NotChild => SpansetOp::NotChild,
        OuterOp::NotParent => SpansetOp::NotParent,
        OuterOp::NotDescendant => SpansetOp::NotDescendant,
        OuterOp::NotAncestor => SpansetOp::NotAncestor,
        OuterOp::NotSibling => SpansetOp::NotSibling,
        OuterOp::UnionChild => SpansetOp::UnionChild,
        OuterOp::UnionParent => SpansetOp::UnionParent,
        OuterOp::UnionDescendant => SpansetOp::UnionDescendant,
        OuterOp::UnionAncestor => SpansetOp::UnionAncestor,
        OuterOp::UnionSibling => SpansetOp::UnionSibling,
        _ => return None,
    })
}

/// Converts the whole outer tree of a query.
pub(crate) fn convert_body(node: Node) -> Converted<Body> {
    let items = flatten_pipe(node);
    if let Some(index) = items
        .iter()
        .position(|item| matches!(cmp_core(item).kind, NodeKind::Metrics(_)))
    {
        let query = metrics::convert_query(items, index)?;
        let expr = MetricsExpr::Query(Box::new(query));
        return Ok(Body::Metrics(MetricsRoot {
            expr,
            second_stage: Vec::new(),
        }));
    }
    if items
        .first()
        .is_some_and(|first| metrics::contains_metrics(cmp_core(first)))
    {
        return metrics::convert_metrics_root(items).map(Body::Metrics);
    }
    if items.len() > 1 {
        return convert_pipeline(items).map(Body::Pipeline);
    }
    let Some(item) = items.into_iter().next() else {
        return Err(ParseError::at_remaining("empty query", 0));
    };
    if is_spanset_like(&item) {
        let spanset = convert_spanset(item)?;
        return Ok(Body::Pipeline(Pipeline {
            stages: vec![Stage::Spanset(spanset)],
        }));
    }
    if let NodeKind::Binary { op, lhs, rhs, .. } = &item.kind {
        if cmp_op(*op).is_some() {
            if is_scalar_pipe_like(lhs) || is_scalar_pipe_like(rhs) {
                return aggregate::convert_scalar_pipeline_filter(item)
                    .map(Body::ScalarPipelineFilter);
            }
            if has_aggregate(lhs) || has_aggregate(rhs) {
                let stage = convert_stage(item, true)?;
                return Ok(Body::Pipeline(Pipeline {
                    stages: vec![stage],
                }));
            }
        }
        if spanset_op(*op).is_some() {
            return convert_pipeline_expr(item).map(Body::PipelineExpr);
        }
    }
    if matches!(item.kind, NodeKind::Paren(_)) {
        return convert_pipeline_expr(item).map(Body::PipelineExpr);
    }
    let stage = convert_stage(item, true)?;
    Ok(Body::Pipeline(Pipeline {
        stages: vec![stage],
    }))
}

/// The items of a `|` chain as pipeline stages.
pub(crate) fn convert_pipeline(items: Vec<Node>) -> Converted<Pipeline> {
    let stages = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| convert_stage(item, index == 0))
        .collect::<Converted<Vec<_>>>()?;
    Ok(Pipeline { stages })
}

/// One pipeline stage; `is_head` for the first stage, which cannot be `coalesce()`.
pub(crate) fn convert_stage(item: Node, is_head: bool) -> Converted<Stage> {
    if is_spanset_like(&item) {
        return convert_spanset(item).map(Stage::Spanset);
    }
    match item.kind {
        NodeKind::GroupBy(field) => Ok(Stage::GroupBy(field)),
        NodeKind::Select(attributes) => Ok(Stage::Select(attributes)),
        NodeKind::Coalesce if is_head => error_at(&item, "a pipeline cannot start with coalesce()"),
        NodeKind::Coalesce => Ok(Stage::Coalesce),
        NodeKind::Binary {
            op,
            ref lhs,
            ref rhs,
            ..
        } if cmp_op(op).is_some() && (has_aggregate(lhs) || has_aggregate(rhs)) => {
            aggregate::convert_scalar_filter(item).map(Stage::ScalarFilter)
        }
        NodeKind::Aggregate(_) => error_at(
            &item,
            "an aggregate must be compared with a value, e.g. count() > 1",
        ),
        NodeKind::Metrics(_) => {
            error_at(&item, "a metrics function must follow a spanset pipeline")
        }
        NodeKind::TopK(_) | NodeKind::BottomK(_) => {
            error_at(&item, "topk() and bottomk() must follow a metrics function")
        }
        NodeKind::Paren(_) => error_at(&item, "a wrapped pipeline cannot be a pipeline stage"),
        NodeKind::Binary { op, op_at, .. } if cmp_op(op).is_some() => {
            Err(ParseError::at_remaining(
                format!(
                    "'{}' needs an aggregate such as count() on one side",
                    op.symbol()
                ),
                op_at,
            ))
        }
        NodeKind::Binary { op, op_at, .. } => Err(ParseError::at_remaining(
            format!("operator '{}' cannot be used here", op.symbol()),
            op_at,
        )),
        _ => error_at(
            &item,
            "expected a spanset filter, a scalar filter, by(), select() or coalesce()",
        ),
    }
}

/// Filters combined by spanset operators (parentheses only group).
pub(crate) fn convert_spanset(node: Node) -> Converted<SpansetExpr> {
    match node.kind {
        NodeKind::Filter(field) => Ok(SpansetExpr::Filter(field)),
        NodeKind::Paren(inner) => {
            if is_pipe(&inner) {
                return error_at(
                    &inner,
                    "a wrapped pipeline cannot be combined with a spanset filter",
                );
            }
            convert_spanset(*inner)
        }
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => {
            let Some(spanset_op) = spanset_op(op) else {
                return Err(ParseError::at_remaining(
                    format!("operator '{}' cannot be used between spansets", op.symbol()),
                    op_at,
                ));
            };
            if !is_spanset_like(&rhs) {
                return Err(ParseError::at_remaining(
                    format!("expected a spanset filter after '{}'", op.symbol()),
                    rhs.at,
                ));
            }
            Ok(SpansetExpr::Binary {
                op: spanset_op,
                lhs: Box::new(convert_spanset(*lhs)?),
                rhs: Box::new(convert_spanset(*rhs)?),
            })
        }
        _ => error_at(&node, "expected a spanset filter"),
    }
}

/// Wrapped pipelines combined by spanset operators.
pub(crate) fn convert_pipeline_expr(node: Node) -> Converted<PipelineExpr> {
    match node.kind {
        NodeKind::Paren(inner) => {
            let groups_only = matches!(inner.kind, NodeKind::Paren(_))
                || matches!(&inner.kind, NodeKind::Binary { op, .. } if spanset_op(*op).is_some());
            if is_pipe(&inner) || !groups_only {
                return convert_pipeline(flatten_pipe(*inner)).map(PipelineExpr::Wrapped);
            }
            if is_spanset_like(&inner) {
                let spanset = convert_spanset(*inner)?;
                return Ok(PipelineExpr::Wrapped(Pipeline {
                    stages: vec![Stage::Spanset(spanset)],
                }));
            }
            convert_pipeline_expr(*inner)
        }
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => {
            let Some(spanset_op) = spanset_op(op) else {
                return Err(ParseError::at_remaining(
                    format!(
                        "operator '{}' cannot be used between pipelines",
                        op.symbol()
                    ),
                    op_at,
                ));
            };
            Ok(PipelineExpr::Binary {
                op: spanset_op,
                lhs: Box::new(convert_pipeline_expr(*lhs)?),
                rhs: Box::new(convert_pipeline_expr(*rhs)?),
            })
        }
        NodeKind::Filter(_) => error_at(
            &node,
            "a spanset filter cannot be combined with a wrapped pipeline; wrap it in parentheses",
        ),
        _ => error_at(&node, "expected a wrapped pipeline '( ... )'"),
    }
}
