//! Pipelines: the stages of a `|` chain, and wrapped pipelines combined by spanset operators,
//! following the shapes Tempo's grammar accepts.

use crate::ast::{Pipeline, PipelineExpr, Stage};
use crate::lower::scalar::convert_scalar_filter;
use crate::lower::shape::{has_aggregate, is_spanset_like};
use crate::lower::spanset::convert_spanset;
use crate::parse::internal::ParseError;
use crate::parse::node::{
    Converted, Node, NodeKind, cmp_op, error_at, flatten_pipe, is_pipe, spanset_op,
};

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
            convert_scalar_filter(item).map(Stage::ScalarFilter)
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
