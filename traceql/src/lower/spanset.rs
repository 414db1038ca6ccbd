//! Filters combined by spanset operators (`{ a } && ({ b } > { c })`) as a typed
//! [`SpansetExpr`].

use crate::ast::SpansetExpr;
use crate::lower::shape::is_spanset_like;
use crate::parse::internal::ParseError;
use crate::parse::node::{Converted, Node, NodeKind, error_at, is_pipe, spanset_op};

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
