//! Numeric constants (folded later by `Constant::evaluate`), arithmetic over aggregates and
//! scalar filters (`count() > 3`).

use crate::ast::{ArithOp, Constant, ScalarExpr, ScalarFilter, Static};
use crate::lower::shape::has_aggregate;
use crate::parse::internal::ParseError;
use crate::parse::node::{Converted, Node, NodeKind, arith_op, cmp_op, error_at};

/// A constant: numbers, `-`, parentheses and `+ - * /` between numbers. Durations are
/// accepted only alone (`allow_duration`), never inside arithmetic.
pub(crate) fn convert_constant(node: Node, allow_duration: bool) -> Converted<Constant> {
    match node.kind {
        NodeKind::Number(Static::Int(value)) => Ok(Constant::Int(value)),
        NodeKind::Number(Static::Float(value)) => Ok(Constant::Float(value)),
        NodeKind::Number(Static::Duration(nanos)) if allow_duration => {
            Ok(Constant::Duration(nanos))
        }
        NodeKind::Number(_) => error_at(&node, "durations cannot be used in arithmetic here"),
        NodeKind::Neg(inner) => Ok(Constant::Neg(Box::new(convert_constant(
            *inner,
            allow_duration,
        )?))),
        NodeKind::Paren(inner) => convert_constant(*inner, allow_duration),
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match arith_op(op) {
            Some(arith @ (ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div)) => {
                Ok(Constant::Binary {
                    op: arith,
                    lhs: Box::new(convert_constant(*lhs, false)?),
                    rhs: Box::new(convert_constant(*rhs, false)?),
                })
            }
            _ => Err(ParseError::at_remaining(
                format!(
                    "operator '{}' cannot be used between constants",
                    op.symbol()
                ),
                op_at,
            )),
        },
        _ => error_at(&node, "expected a number"),
    }
}

/// Arithmetic over aggregates and constants.
fn convert_scalar_expr(node: Node) -> Converted<ScalarExpr> {
    if !has_aggregate(&node) {
        return convert_constant(node, true).map(ScalarExpr::Constant);
    }
    match node.kind {
        NodeKind::Aggregate(aggregate) => Ok(ScalarExpr::Aggregate(aggregate)),
        NodeKind::Paren(inner) => convert_scalar_expr(*inner),
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match arith_op(op) {
            Some(arith) => Ok(ScalarExpr::Binary {
                op: arith,
                lhs: Box::new(convert_scalar_expr(*lhs)?),
                rhs: Box::new(convert_scalar_expr(*rhs)?),
            }),
            None => Err(ParseError::at_remaining(
                format!(
                    "operator '{}' cannot be used between aggregates",
                    op.symbol()
                ),
                op_at,
            )),
        },
        _ => error_at(&node, "unary minus can only be applied to numbers"),
    }
}

/// `scalar OP scalar` where at least one side has an aggregate.
pub(crate) fn convert_scalar_filter(node: Node) -> Converted<ScalarFilter> {
    match node.kind {
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match cmp_op(op) {
            Some(cmp) => Ok(ScalarFilter {
                op: cmp,
                lhs: convert_scalar_expr(*lhs)?,
                rhs: convert_scalar_expr(*rhs)?,
            }),
            None => Err(ParseError::at_remaining("expected a comparison", op_at)),
        },
        _ => error_at(&node, "expected a scalar filter such as count() > 1"),
    }
}
