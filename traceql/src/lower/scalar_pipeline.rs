//! Scalar pipeline filters: `({ a } | count()) > ({ b } | count())` (validation reports them
//! unsupported, but they parse).

use crate::ast::{ScalarPipelineExpr, ScalarPipelineFilter};
use crate::lower::pipeline::convert_pipeline;
use crate::lower::scalar::convert_constant;
use crate::lower::shape::is_scalar_pipe_like;
use crate::parse::internal::ParseError;
use crate::parse::node::{
    Converted, Node, NodeKind, arith_op, cmp_op, error_at, flatten_pipe, is_pipe, last_pipe_item,
};

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
