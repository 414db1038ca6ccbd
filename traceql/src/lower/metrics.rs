//! Metrics queries: a pipeline ending in a metrics function with its second stage (`topk`,
//! `bottomk`, comparison filters), and arithmetic between parenthesised metrics queries and
//! constants.

use crate::ast::{ArithOp, MetricsExpr, MetricsQuery, MetricsRoot, Pipeline, SecondStageOp};
use crate::lower::pipeline::convert_stage;
use crate::lower::scalar::convert_constant;
use crate::lower::shape::{cmp_core, contains_metrics};
use crate::parse::internal::ParseError;
use crate::parse::node::{Converted, Node, NodeKind, arith_op, cmp_op, error_at, flatten_pipe};

/// Splits `node` into the node under its comparison chain and the comparisons as filters.
fn unwrap_filters(node: Node) -> Converted<(Node, Vec<SecondStageOp>)> {
    let mut filters = Vec::new();
    let mut current = node;
    loop {
        match current.kind {
            NodeKind::Binary {
                op,
                op_at,
                lhs,
                rhs,
            } => match cmp_op(op) {
                Some(cmp) => {
                    filters.push(SecondStageOp::Filter {
                        op: cmp,
                        value: convert_constant(*rhs, true)?,
                    });
                    current = *lhs;
                }
                None => {
                    let kind = NodeKind::Binary {
                        op,
                        op_at,
                        lhs,
                        rhs,
                    };
                    current = Node {
                        at: current.at,
                        kind,
                    };
                    break;
                }
            },
            kind => {
                current = Node {
                    at: current.at,
                    kind,
                };
                break;
            }
        }
    }
    filters.reverse();
    Ok((current, filters))
}

/// A second-stage item after a metrics function: `topk(k)` / `bottomk(k)`, with filters.
fn convert_second_stage_item(node: Node) -> Converted<Vec<SecondStageOp>> {
    let (core, filters) = unwrap_filters(node)?;
    let head = match core.kind {
        NodeKind::TopK(limit) => SecondStageOp::TopK(limit),
        NodeKind::BottomK(limit) => SecondStageOp::BottomK(limit),
        _ => {
            return error_at(
                &core,
                "expected topk(), bottomk() or a comparison after a metrics function",
            );
        }
    };
    let mut ops = vec![head];
    ops.extend(filters);
    Ok(ops)
}

/// `stages... | function filters | second stage...`, the function at `index`.
pub(crate) fn convert_query(items: Vec<Node>, index: usize) -> Converted<MetricsQuery> {
    if index == 0 {
        return error_at(
            &items[0],
            "a metrics function must follow a spanset pipeline, e.g. { } | rate()",
        );
    }
    let mut items = items.into_iter();
    let stages = items
        .by_ref()
        .take(index)
        .enumerate()
        .map(|(position, item)| convert_stage(item, position == 0))
        .collect::<Converted<Vec<_>>>()?;
    let Some(function_item) = items.next() else {
        return Err(ParseError::at_remaining("expected a metrics function", 0));
    };
    let (core, mut second_stage) = unwrap_filters(function_item)?;
    let NodeKind::Metrics(function) = core.kind else {
        return error_at(&core, "expected a metrics function");
    };
    for item in items {
        second_stage.extend(convert_second_stage_item(item)?);
    }
    Ok(MetricsQuery {
        pipeline: Pipeline { stages },
        function,
        second_stage,
    })
}

fn convert_metrics_expr(node: Node) -> Converted<MetricsExpr> {
    if !contains_metrics(&node) {
        return convert_constant(node, false).map(MetricsExpr::Scalar);
    }
    let at = node.at;
    match node.kind {
        NodeKind::Paren(inner) => {
            let items = flatten_pipe(*inner);
            match items
                .iter()
                .position(|item| matches!(cmp_core(item).kind, NodeKind::Metrics(_)))
            {
                Some(index) => {
                    convert_query(items, index).map(|query| MetricsExpr::Query(Box::new(query)))
                }
                None if items.len() == 1 => match items.into_iter().next() {
                    Some(single) => convert_metrics_expr(single),
                    None => Err(ParseError::at_remaining("expected a metrics query", at)),
                },
                None => Err(ParseError::at_remaining("expected a metrics query", at)),
            }
        }
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match arith_op(op) {
            Some(arith @ (ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div)) => {
                Ok(MetricsExpr::Binary {
                    op: arith,
                    lhs: Box::new(convert_metrics_expr(*lhs)?),
                    rhs: Box::new(convert_metrics_expr(*rhs)?),
                })
            }
            _ => Err(ParseError::at_remaining(
                format!(
                    "operator '{}' cannot be used between metrics queries",
                    op.symbol()
                ),
                op_at,
            )),
        },
        NodeKind::Metrics(_) => error_at(
            &node,
            "a metrics function must follow a spanset pipeline, e.g. { } | rate()",
        ),
        _ => error_at(
            &node,
            "metrics queries in arithmetic must be wrapped in parentheses",
        ),
    }
}

/// Arithmetic over parenthesised metrics queries, then second-stage items.
pub(crate) fn convert_metrics_root(items: Vec<Node>) -> Converted<MetricsRoot> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Err(ParseError::at_remaining("expected a metrics query", 0));
    };
    let (core, mut second_stage) = unwrap_filters(first)?;
    let mut expr = convert_metrics_expr(core)?;
    for item in items {
        second_stage.extend(convert_second_stage_item(item)?);
    }
    if let MetricsExpr::Query(query) = &mut expr {
        query.second_stage.append(&mut second_stage);
    }
    Ok(MetricsRoot { expr, second_stage })
}
