//! Evaluation of one batch (CPU work, run on the caller's pool): its traces most recent
//! first, each evaluated only while it can still enter the answer; traces with orphaned spans
//! are deferred without evaluation.

use contrail_proto::TraceId;

use crate::eval::QueryError;
use crate::eval::bind::BatchView;
use crate::eval::field::DictCache;
use crate::eval::program::Program;
use crate::eval::trace::eval_trace;
use crate::fetch::SpanBatch;
use crate::search::result::{OrderKey, TraceResult, trace_result};

/// What one batch contributes.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub settled: Vec<TraceResult>,
    pub deferred: Vec<(TraceId, u64)>,
    /// Some trace was skipped because it could not enter the answer.
    pub skipped: bool,
}

/// Evaluates `batch`. `worst`: the worst key the answer holds when full (nothing worse can
/// enter); `defer`: whether traces with orphans are deferred (false for rebuilt traces).
pub fn evaluate_batch(
    program: &Program,
    batch: &SpanBatch,
    source: usize,
    limit: usize,
    worst: Option<OrderKey>,
    defer: bool,
) -> Result<BatchOutcome, QueryError> {
    let view = BatchView::new(batch, &program.attributes);
    let cache = DictCache::default();
    let mut order: Vec<usize> = (0..batch.traces.len()).collect();
    order.sort_by_key(|index| {
        let info = &batch.traces[*index];
        (std::cmp::Reverse(info.start_unix_nano), info.trace_id)
    });
    let mut outcome = BatchOutcome::default();
    for index in order {
        let info = &batch.traces[index];
        if defer && info.has_orphans {
            outcome.deferred.push((info.trace_id, info.start_unix_nano));
            continue;
        }
        let key = (std::cmp::Reverse(info.start_unix_nano), info.trace_id);
        let full_locally = outcome.settled.len() >= limit;
        if full_locally || worst.is_some_and(|worst| key > worst) {
            outcome.skipped = true;
            continue;
        }
        let spansets = eval_trace(program, &view, &cache, index)?;
        if !spansets.is_empty() {
            outcome
                .settled
                .push(trace_result(program, &view, info, spansets, source));
        }
    }
    Ok(outcome)
}
