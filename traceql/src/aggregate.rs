//! Aggregates (`count()`, `avg(e)`, ...), scalar filters (`count() > 3`), numeric constants
//! (folded later by `Constant::evaluate`) and scalar pipeline filters
//! (`({ a } | count()) > ({ b } | count())`).

use nom::Parser;

use crate::ast::{
    Aggregate, ArithOp, CmpOp, Constant, ScalarExpr, ScalarFilter, ScalarPipelineExpr,
    ScalarPipelineFilter, Static,
};
use crate::expr::field_expr;
use crate::internal::{Ctx, ParseError, Res, expect, punct};
use crate::lexer::OuterOp;
use crate::pipeline::{Converted, convert_pipeline, error_at};
use crate::spanset::{Node, NodeKind, flatten_pipe, is_pipe, last_pipe_item};

/// `count()`, `avg(e)`, `min(e)`, `max(e)`, `sum(e)`; `None` if `name` is no aggregate.
pub(crate) fn aggregate_call<'a>(
    ctx: &Ctx,
    name: &str,
    input: &'a str,
) -> Option<Res<'a, (Aggregate, usize)>> {
    let build: fn(crate::ast::FieldExpr) -> Aggregate = match name {
        "count" => {
            return Some((|| {
                let (rest, ()) = expect("expected '(' after count", punct("(")).parse(input)?;
                let (rest, ()) =
                    expect("count() takes no argument, expected ')'", punct(")")).parse(rest)?;
                Ok((rest, (Aggregate::Count, 1)))
            })());
        }
        "avg" => Aggregate::Avg,
        "min" => Aggregate::Min,
        "max" => Aggregate::Max,
        "sum" => Aggregate::Sum,
        _ => return None,
    };
    Some((|| {
        let (rest, ()) =
            expect("expected '(' after the aggregate name", punct("(")).parse(input)?;
        let (rest, (field, depth)) = field_expr(ctx, rest)?;
        let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
        Ok((rest, (build(field), depth + 1)))
    })())
}

/// The comparison an outer operator means between numbers, if any.
pub(crate) fn cmp_op(op: OuterOp) -> Option<CmpOp> {
    Some(match op {
        OuterOp::Eq => CmpOp::Eq,
        OuterOp::Ne => CmpOp::Ne,
        OuterOp::Lt => CmpOp::Lt,
        OuterOp::Le => CmpOp::Le,
        OuterOp::Gt => CmpOp::Gt,
        OuterOp::Ge => CmpOp::Ge,
        _ => return None,
    })
}

/// The arithmetic an outer operator means, if any.
pub(crate) fn arith_op(op: OuterOp) -> Option<ArithOp> {
    Some(match op {
        OuterOp::Add => ArithOp::Add,
        OuterOp::Sub => ArithOp::Sub,
        OuterOp::Mul => ArithOp::Mul,
        OuterOp::Div => ArithOp::Div,
        OuterOp::Mod => ArithOp::Mod,
        OuterOp::Pow => ArithOp::Pow,
        _ => return None,
    })
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

fn convert_scalar_pipe_expr(node: Node, allow_constant: bool) -> Converted<ScalarPipelineExpr> {
    if allow_constant && !is_scalar_pipe_like(&node) {
        return convert_constant(node, true).map(ScalarPipelineExpr::Constant);
    }
    match node.kind {
        NodeKind::Paren(inner) => {
            if is_pipe(&inner) && matches!(last_pipe_item(&inner).kind, NodeKind::Aggregate(_)) {
                let mut items = flatten_pipe(*inner);
                let Some(Node {
                    kind: NodeKind::Aggregate(aggregate),
                    ..
                }) = items.pop()
                else {
                    return Err(ParseError::at_remaining("expected an aggregate", node.at));
                };
                let pipeline = convert_pipeline(items)?;
                return Ok(ScalarPipelineExpr::Pipeline {
                    pipeline,
                    aggregate,
                });
            }
            convert_scalar_pipe_expr(*inner, false)
        }
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match arith_op(op) {
            Some(arith) => Ok(ScalarPipelineExpr::Binary {
                op: arith,
                lhs: Box::new(convert_scalar_pipe_expr(*lhs, false)?),
                rhs: Box::new(convert_scalar_pipe_expr(*rhs, false)?),
            }),
            None => Err(ParseError::at_remaining(
                format!("operator '{}' cannot be used here", op.symbol()),
                op_at,
            )),
        },
        _ => error_at(
            &node,
            "expected a wrapped pipeline ending in an aggregate, e.g. ({ } | count())",
        ),
    }
}

/// `(pipeline | aggregate) OP (pipeline | aggregate)` or `... OP constant`.
pub(crate) fn convert_scalar_pipeline_filter(node: Node) -> Converted<ScalarPipelineFilter> {
    match node.kind {
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match cmp_op(op) {
            Some(cmp) => Ok(ScalarPipelineFilter {
                op: cmp,
                lhs: convert_scalar_pipe_expr(*lhs, false)?,
                rhs: convert_scalar_pipe_expr(*rhs, true)?,
            }),
            None => Err(ParseError::at_remaining("expected a comparison", op_at)),
        },
        _ => error_at(&node, "expected a comparison between wrapped pipelines"),
    }
}
