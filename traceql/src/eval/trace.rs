//! One trace of a batch through the whole program: its fetched spans form the input spanset,
//! the program's pipelines turn it into the spansets that survive. This is the hook for
//! metrics too: a metrics stage consumes the rows of the surviving spansets.

use crate::eval::bind::{BatchView, TraceValues};
use crate::eval::error::QueryError;
use crate::eval::field::{DictCache, Scope};
use crate::eval::pipeline::{Spanset, TraceScope};
use crate::eval::program::Program;
use crate::eval::structural::Nested;

/// The spansets of trace `trace_index` of `view`'s batch that survive `program`.
pub fn eval_trace(
    program: &Program,
    view: &BatchView<'_>,
    cache: &DictCache,
    trace_index: usize,
) -> Result<Vec<Spanset>, QueryError> {
    let batch = view.batch;
    let info = &batch.traces[trace_index];
    let with_id = program
        .attributes
        .contains(&crate::ast::Attribute::Intrinsic(
            crate::ast::Intrinsic::TraceId,
        ));
    let trace = TraceValues::new(info, with_id);
    let spans = &batch.spans;
    let scope = TraceScope {
        scope: Scope {
            view,
            trace: &trace,
            cache,
        },
        nested: Nested {
            left: &spans.nested_set_left,
            right: &spans.nested_set_right,
            parent: &spans.nested_set_parent,
        },
    };
    let input = Spanset {
        rows: (info.rows.start as u32..info.rows.end as u32).collect(),
        attributes: Vec::new(),
    };
    if input.rows.is_empty() {
        return Ok(Vec::new());
    }
    scope.pipeline_expr(&program.body, &input)
}
