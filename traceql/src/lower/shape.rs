//! Shape predicates on the untyped outer tree: which construct a node is, looked at without
//! taking it apart, so that lowering can choose the conversion.

use crate::parse::lexer::OuterOp;
use crate::parse::node::{Node, NodeKind, arith_op, cmp_op, is_pipe, last_pipe_item, spanset_op};

/// Whether `node` is a spanset expression: a filter, a parenthesised spanset expression, or a
/// spanset operator whose left operand is one (Tempo's parser commits on the left operand).
pub(crate) fn is_spanset_like(node: &Node) -> bool {
    let mut current = node;
    loop {
        match &current.kind {
            NodeKind::Filter(_) => return true,
            NodeKind::Paren(inner) => current = inner,
            NodeKind::Binary { op, lhs, .. } if spanset_op(*op).is_some() => current = lhs,
            _ => return false,
        }
    }
}

/// Whether the node is arithmetic over at least one aggregate (not looking through
/// comparisons or pipes).
pub(crate) fn has_aggregate(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Aggregate(_) => true,
        NodeKind::Paren(inner) | NodeKind::Neg(inner) => has_aggregate(inner),
        NodeKind::Binary { op, lhs, rhs, .. } if arith_op(*op).is_some() => {
            has_aggregate(lhs) || has_aggregate(rhs)
        }
        _ => false,
    }
}

/// Whether the node is arithmetic over wrapped pipelines ending in a bare aggregate.
pub(crate) fn is_scalar_pipe_like(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Paren(inner) => {
            (is_pipe(inner) && matches!(last_pipe_item(inner).kind, NodeKind::Aggregate(_)))
                || is_scalar_pipe_like(inner)
        }
        NodeKind::Binary { op, lhs, rhs, .. } if arith_op(*op).is_some() => {
            is_scalar_pipe_like(lhs) || is_scalar_pipe_like(rhs)
        }
        _ => false,
    }
}

/// The node under a chain of comparisons (`rate() > 1 < 5` → `rate()`).
pub(crate) fn cmp_core(node: &Node) -> &Node {
    let mut current = node;
    while let NodeKind::Binary { op, lhs, .. } = &current.kind {
        if cmp_op(*op).is_none() {
            break;
        }
        current = lhs;
    }
    current
}

/// Whether the node is arithmetic involving a metrics query or function.
pub(crate) fn contains_metrics(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Metrics(_) => true,
        NodeKind::Paren(inner) if is_pipe(inner) => {
            let mut current: &Node = inner;
            loop {
                match &current.kind {
                    NodeKind::Binary {
                        op: OuterOp::Pipe,
                        lhs,
                        rhs,
                        ..
                    } => {
                        if matches!(cmp_core(rhs).kind, NodeKind::Metrics(_)) {
                            return true;
                        }
                        current = lhs;
                    }
                    _ => return matches!(cmp_core(current).kind, NodeKind::Metrics(_)),
                }
            }
        }
        NodeKind::Paren(inner) | NodeKind::Neg(inner) => contains_metrics(cmp_core(inner)),
        NodeKind::Binary { op, lhs, rhs, .. } if arith_op(*op).is_some() => {
            contains_metrics(lhs) || contains_metrics(rhs)
        }
        _ => false,
    }
}
