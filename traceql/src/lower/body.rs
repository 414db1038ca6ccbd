//! The whole outer tree of a query as a [`Body`]: a search pipeline, wrapped pipelines, a
//! scalar pipeline filter or a metrics query.

use crate::ast::{Body, MetricsExpr, MetricsRoot, Pipeline, Stage};
use crate::lower::metrics::{convert_metrics_root, convert_query};
use crate::lower::pipeline::{convert_pipeline, convert_pipeline_expr, convert_stage};
use crate::lower::scalar_pipeline::convert_scalar_pipeline_filter;
use crate::lower::shape::{
    cmp_core, contains_metrics, has_aggregate, is_scalar_pipe_like, is_spanset_like,
};
use crate::lower::spanset::convert_spanset;
use crate::parse::internal::ParseError;
use crate::parse::node::{Converted, Node, NodeKind, cmp_op, flatten_pipe, spanset_op};

/// Converts the whole outer tree of a query.
pub(crate) fn convert_body(node: Node) -> Converted<Body> {
    let items = flatten_pipe(node);
    if let Some(index) = items
        .iter()
        .position(|item| matches!(cmp_core(item).kind, NodeKind::Metrics(_)))
    {
        let query = convert_query(items, index)?;
        let expr = MetricsExpr::Query(Box::new(query));
        return Ok(Body::Metrics(MetricsRoot {
            expr,
            second_stage: Vec::new(),
        }));
    }
    if items
        .first()
        .is_some_and(|first| contains_metrics(cmp_core(first)))
    {
        return convert_metrics_root(items).map(Body::Metrics);
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
                return convert_scalar_pipeline_filter(item).map(Body::ScalarPipelineFilter);
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
