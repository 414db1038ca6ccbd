//! Keeping only some traces of a first-pass answer: [`SpanBatch::retain_traces`] drops the
//! other traces with their rows, values, events and links; [`TraceFilter`] is a [`SpanSource`]
//! that answers like another one without the traces a predicate rejects (an ingester counting
//! only the traces it owns among the replicas, ADR 013). The filter holds for whole traces, so
//! the engine's rules on trace portions (orphans, deferred traces) are unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::TraceId;

use crate::cpu::{CpuRunner, run_cpu};
use crate::fetch::{
    FetchError, FetchOutput, FetchRequest, MemoryBudget, NestedValues, SecondPassBatch,
    SecondPassRequest, SpanBatch, SpanSource, TraceInfo, ValueColumn,
};

/// `values` reduced to the items at `picked` (a column left empty stays empty).
fn pick<T: Clone>(values: &mut Vec<T>, picked: &[usize]) {
    if values.is_empty() {
        return;
    }
    *values = picked
        .iter()
        .filter_map(|index| values.get(*index).cloned())
        .collect();
}

fn pick_column(column: &mut ValueColumn, picked: &[usize]) {
    match column {
        ValueColumn::Plain(values) => pick(values, picked),
        ValueColumn::Dict { keys, .. } => pick(keys, picked),
    }
}

/// Events or links of the `rows` kept, with offsets recomputed.
fn pick_nested(nested: &mut NestedValues, rows: &[usize]) {
    if nested.offsets.is_empty() {
        return;
    }
    let mut offsets = Vec::with_capacity(rows.len() + 1);
    let mut items = Vec::new();
    offsets.push(0u32);
    for row in rows {
        items.extend(nested.items_of(*row));
        offsets.push(u32::try_from(items.len()).unwrap_or(u32::MAX));
    }
    nested.offsets = offsets;
    for (_, column) in &mut nested.columns {
        pick_column(column, &items);
    }
}

impl SpanBatch {
    /// Keeps the traces for which `keep` holds, with their rows (span columns, values, events
    /// and links); the kept traces' row ranges are renumbered. Rows of no trace are dropped.
    pub fn retain_traces(&mut self, mut keep: impl FnMut(&TraceInfo) -> bool) {
        let decisions: Vec<bool> = self.traces.iter().map(&mut keep).collect();
        if decisions.iter().all(|kept| *kept) {
            return;
        }
        let mut rows = Vec::new();
        let traces = std::mem::take(&mut self.traces);
        for (trace, kept) in traces.into_iter().zip(decisions) {
            if !kept {
                continue;
            }
            let first = rows.len();
            rows.extend(trace.rows.clone());
            self.traces.push(TraceInfo {
                rows: first..rows.len(),
                ..trace
            });
        }
        let spans = &mut self.spans;
        pick(&mut spans.span_id, &rows);
        pick(&mut spans.start_unix_nano, &rows);
        pick(&mut spans.duration_nano, &rows);
        pick(&mut spans.nested_set_left, &rows);
        pick(&mut spans.nested_set_right, &rows);
        pick(&mut spans.nested_set_parent, &rows);
        pick(&mut spans.row_ref, &rows);
        for (_, column) in &mut self.span_values {
            pick_column(column, &rows);
        }
        pick_nested(&mut self.events, &rows);
        pick_nested(&mut self.links, &rows);
    }
}

/// Which traces a [`TraceFilter`] keeps.
pub type KeepTrace = Arc<dyn Fn(&TraceId) -> bool + Send + Sync>;

/// A source answering like `inner` without the traces `keep` rejects. The second pass goes to
/// `inner` unchanged (the engine only asks for rows it was given). Filtering runs on `runner`.
pub struct TraceFilter {
    inner: Arc<dyn SpanSource>,
    keep: KeepTrace,
    runner: Arc<dyn CpuRunner>,
}

impl std::fmt::Debug for TraceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceFilter").finish_non_exhaustive()
    }
}

impl TraceFilter {
    /// `inner`'s traces for which `keep` holds.
    pub fn new(inner: Arc<dyn SpanSource>, keep: KeepTrace, runner: Arc<dyn CpuRunner>) -> Self {
        TraceFilter {
            inner,
            keep,
            runner,
        }
    }
}

#[async_trait]
impl SpanSource for TraceFilter {
    async fn fetch(
        &self,
        request: &FetchRequest,
        budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        // Dropping traces breaks `keep_most_recent`'s premise (every selected trace is in the
        // result): the inner source must return every selected trace.
        let forwarded;
        let request = if request.keep_most_recent.is_some() {
            forwarded = FetchRequest {
                keep_most_recent: None,
                ..request.clone()
            };
            &forwarded
        } else {
            request
        };
        let mut output = self.inner.fetch(request, budget).await?;
        if output.batches.is_empty() {
            return Ok(output);
        }
        let keep = self.keep.clone();
        let batches = std::mem::take(&mut output.batches);
        output.batches = run_cpu(self.runner.as_ref(), move || {
            let mut batches = batches;
            for batch in &mut batches {
                batch.retain_traces(|trace| keep(&trace.trace_id));
            }
            batches.retain(|batch| !batch.traces.is_empty());
            batches
        })
        .await?;
        Ok(output)
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        self.inner.fetch_second_pass(request, budget).await
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        self.inner.latest_start_unix_nano()
    }
}

#[cfg(test)]
mod tests;
