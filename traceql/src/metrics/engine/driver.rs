//! The metrics driver: runs a compiled [`MetricsQuery`] over units (blocks' row-group ranges,
//! the ingesters' recent traces) into one partial result. Per unit and leaf: first-pass fetch
//! (async), then each batch evaluated and accumulated on the caller's CPU pool, never on the
//! async runtime. For a leaf that needs whole traces (structural operators, trace-level
//! intrinsics), a first light pass over the units finds the traces with orphaned portions
//! (possibly split across units); those are skipped by the main pass, then fetched from every
//! unit by trace ID, joined and evaluated once, so a split trace counts exactly once. Held
//! batches are charged to the [`MemoryBudget`].

use std::collections::HashSet;
use std::sync::Arc;

use contrail_proto::TraceId;

use crate::ast::{Attribute, Intrinsic};
use crate::cpu::{CpuRunner, run_cpu};
use crate::error::{Error, Result};
use crate::fetch::{
    Combine, Condition, FetchError, FetchRequest, FetchStats, MemoryBudget, SpanBatch, SpanSource,
};
use crate::metrics::engine::program::MetricsQuery;
use crate::metrics::partial::QueryPartial;
use crate::metrics::query::QueryAccumulator;
use crate::search::deferred::join;

/// A job's partial result and what it read.
#[derive(Debug, Clone)]
pub struct MetricsOutcome {
    pub partial: QueryPartial,
    pub stats: FetchStats,
}

fn add_stats(total: &mut FetchStats, more: FetchStats) {
    total.inspected_traces += more.inspected_traces;
    total.inspected_spans += more.inspected_spans;
    total.inspected_bytes += more.inspected_bytes;
}

/// Bytes held in the budget, given back on drop.
struct Held<'a> {
    budget: &'a MemoryBudget,
    bytes: usize,
}

impl<'a> Held<'a> {
    fn new(budget: &'a MemoryBudget, batches: &[SpanBatch]) -> Result<Self> {
        let bytes = batches.iter().map(SpanBatch::memory_size).sum();
        budget.reserve(bytes).map_err(FetchError::from)?;
        Ok(Held { budget, bytes })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

struct Run<'a> {
    query: &'a Arc<MetricsQuery>,
    runner: &'a dyn CpuRunner,
    accumulator: Option<QueryAccumulator>,
}

impl Run<'_> {
    /// Evaluates `batch` for `leaf` on the pool, skipping the traces of `split`.
    async fn observe(
        &mut self,
        leaf: usize,
        batch: SpanBatch,
        split: Option<Arc<HashSet<TraceId>>>,
    ) -> Result<()> {
        let query = Arc::clone(self.query);
        let mut accumulator = self
            .accumulator
            .take()
            .ok_or_else(|| Error::metrics_partial("the accumulator was lost by a failed job"))?;
        let (accumulator, outcome) = run_cpu(self.runner, move || {
            let outcome =
                query.leaves[leaf].observe(leaf, &batch, split.as_deref(), &mut accumulator);
            (accumulator, outcome)
        })
        .await?;
        self.accumulator = Some(accumulator);
        outcome.map_err(|error| Error::Query {
            message: error.message,
        })
    }
}

/// The traces with orphaned portions among `sources` for a leaf (only the selecting
/// conditions are fetched: a source returns every orphaned portion anyway).
async fn split_traces(
    first: &FetchRequest,
    sources: &[Arc<dyn SpanSource>],
    budget: &MemoryBudget,
    stats: &mut FetchStats,
) -> Result<HashSet<TraceId>> {
    let probe = FetchRequest {
        conditions: first
            .conditions
            .iter()
            .filter(|condition| condition.op.is_some())
            .cloned()
            .collect(),
        need_span_ids: false,
        need_structure: false,
        all_attributes: false,
        keep_most_recent: None,
        ..first.clone()
    };
    let mut split = HashSet::new();
    for source in sources {
        let output = source.fetch(&probe, budget).await?;
        add_stats(stats, output.stats);
        let _held = Held::new(budget, &output.batches)?;
        for batch in &output.batches {
            split.extend(
                batch
                    .traces
                    .iter()
                    .filter(|info| info.has_orphans)
                    .map(|info| info.trace_id),
            );
        }
    }
    Ok(split)
}

/// Runs `query` over `sources` (see the module docs).
#[tracing::instrument(skip_all, fields(units = sources.len(), leaves = query.leaves.len()))]
pub async fn run_metrics(
    query: &Arc<MetricsQuery>,
    sources: &[Arc<dyn SpanSource>],
    runner: &dyn CpuRunner,
    budget: &MemoryBudget,
) -> Result<MetricsOutcome> {
    let mut run = Run {
        query,
        runner,
        accumulator: Some(query.plan.accumulator(&query.request)),
    };
    let mut stats = FetchStats::default();
    let mut splits: Vec<Option<Arc<HashSet<TraceId>>>> = Vec::with_capacity(query.leaves.len());
    for program in &query.leaves {
        splits.push(match program.fetch() {
            Some(first) if program.defer_split_traces => Some(Arc::new(
                split_traces(first, sources, budget, &mut stats).await?,
            )),
            _ => None,
        });
    }
    for source in sources {
        for (leaf, program) in query.leaves.iter().enumerate() {
            let Some(request) = program.fetch() else {
                continue;
            };
            let output = source.fetch(request, budget).await?;
            add_stats(&mut stats, output.stats);
            let held = Held::new(budget, &output.batches)?;
            for batch in output.batches {
                run.observe(leaf, batch, splits[leaf].clone()).await?;
            }
            drop(held);
        }
    }
    for (leaf, split) in splits.into_iter().enumerate() {
        let (Some(split), Some(first)) = (split, query.leaves[leaf].fetch()) else {
            continue;
        };
        if split.is_empty() {
            continue;
        }
        let mut trace_ids: Vec<TraceId> = split.iter().copied().collect();
        trace_ids.sort_unstable();
        let request = portions_request(first, trace_ids);
        let mut outputs: Vec<(usize, Vec<SpanBatch>)> = Vec::with_capacity(sources.len());
        let mut held = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let output = source.fetch(&request, budget).await?;
            add_stats(&mut stats, output.stats);
            held.push(Held::new(budget, &output.batches)?);
            outputs.push((index, output.batches));
        }
        let joined = {
            let batches: Vec<(usize, &SpanBatch)> = outputs
                .iter()
                .flat_map(|(index, batches)| batches.iter().map(move |batch| (*index, batch)))
                .collect();
            join(&batches, &split).batch
        };
        drop(outputs);
        run.observe(leaf, joined, None).await?;
        drop(held);
    }
    let partial = run
        .accumulator
        .take()
        .ok_or_else(|| Error::metrics_partial("the accumulator was lost by a failed job"))?
        .finish();
    Ok(MetricsOutcome { partial, stats })
}

/// Every portion of `trace_ids`, with the leaf's attributes and `span:parentID` (to rebuild
/// the structure over the union).
fn portions_request(first: &FetchRequest, trace_ids: Vec<TraceId>) -> FetchRequest {
    let mut conditions: Vec<Condition> = first
        .conditions
        .iter()
        .map(|condition| Condition::fetch(condition.attribute.clone()))
        .collect();
    let parent = Attribute::Intrinsic(Intrinsic::SpanParentId);
    if !conditions
        .iter()
        .any(|condition| condition.attribute == parent)
    {
        conditions.push(Condition::fetch(parent));
    }
    FetchRequest {
        start_unix_nano: 0,
        end_unix_nano: u64::MAX,
        conditions,
        combine: Combine::All,
        trace_ids: Some(trace_ids),
        need_span_ids: true,
        need_structure: false,
        need_trace_roots: first.need_trace_roots,
        need_row_refs: first.need_row_refs,
        all_attributes: first.all_attributes,
        keep_most_recent: None,
    }
}
