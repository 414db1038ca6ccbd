//! The search driver: runs a [`Plan`] over a list of units (sources), newest first.
//!
//! Per unit: first-pass fetch (async), then each batch evaluated on the caller's CPU pool
//! ([`CpuRunner`], never on the async runtime), merged into the [`Collector`]. A unit whose
//! latest span start is older than the worst trace of a full answer is skipped: every trace
//! it holds starts no later than that (a portion of a held trace cannot sit there either, as
//! long as spans do not start before their trace's root). Then the deferred traces are
//! fetched from every unit by trace ID and evaluated once each; then the second pass fetches
//! span names, `select()` attributes and service statistics for the answer only.
//! Held batches and results are charged to the [`MemoryBudget`].

use std::collections::HashSet;
use std::sync::Arc;

use contrail_proto::tempopb;
use futures::StreamExt;

use crate::ast::{Attribute, Intrinsic};
use crate::cpu::{CpuRunner, run_cpu};
use crate::error::{Error, Result};
use crate::fetch::{Condition, FetchError, FetchStats, MemoryBudget, SpanSource};
use crate::plan::Plan;
use crate::search::batch::{BatchOutcome, evaluate_batch};
use crate::search::collect::Collector;
use crate::search::deferred::join;
use crate::search::response::trace_metadata;
use crate::search::result::TraceResult;
use crate::search::second_pass::second_pass;

/// How many units the end-of-search checks read at once.
const CHECK_CONCURRENCY: usize = 8;

/// A search's answer and what it read.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub response: tempopb::SearchResponse,
    pub stats: FetchStats,
    /// Units skipped because they could not change the answer.
    pub skipped_units: usize,
}

/// Bytes reserved in the budget, given back on drop.
struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: usize,
}

impl<'a> Reservation<'a> {
    fn new(budget: &'a MemoryBudget) -> Self {
        Reservation { budget, bytes: 0 }
    }

    fn resize(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.bytes {
            self.budget
                .reserve(bytes - self.bytes)
                .map_err(FetchError::from)?;
        } else {
            self.budget.release(self.bytes - bytes);
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

struct Run<'a> {
    plan: &'a Arc<Plan>,
    sources: &'a [Arc<dyn SpanSource>],
    runner: &'a dyn CpuRunner,
    budget: &'a MemoryBudget,
    stats: FetchStats,
    skipped_units: usize,
    skipped: Vec<usize>,
    /// Units that left traces out of a batch under `keep_most_recent`.
    truncated: Vec<usize>,
}

fn add_stats(total: &mut FetchStats, more: FetchStats) {
    total.inspected_traces += more.inspected_traces;
    total.inspected_spans += more.inspected_spans;
    total.inspected_bytes += more.inspected_bytes;
}

impl Run<'_> {
    fn merge(collector: &mut Collector, outcome: BatchOutcome) {
        collector.evicted |= outcome.skipped;
        for (trace_id, start) in &outcome.others {
            collector.note_portion(trace_id, *start);
        }
        for (trace_id, start) in outcome.deferred {
            collector.add_deferred(trace_id, start);
        }
        for result in outcome.settled {
            collector.add_settled(result);
        }
    }

    /// Units then deferred traces; `Ok(None)` when an exact re-run without eviction is needed.
    async fn collect(&mut self, unbounded: bool) -> Result<Option<Vec<TraceResult>>> {
        let plan = self.plan;
        let Some(mut request) = plan.fetch.clone() else {
            return Ok(Some(Vec::new()));
        };
        if unbounded {
            // the exact re-run ranks every trace itself
            request.keep_most_recent = None;
        }
        let limit = plan.options.limit.max(1);
        let mut collector = Collector::new(limit, unbounded);
        // the exact re-run evaluates every trace of a batch
        let batch_limit = if unbounded { usize::MAX } else { limit };
        let mut held = Reservation::new(self.budget);
        let mut order: Vec<usize> = (0..self.sources.len()).collect();
        order.sort_by_key(|index| {
            std::cmp::Reverse(
                self.sources[*index]
                    .latest_start_unix_nano()
                    .unwrap_or(u64::MAX),
            )
        });
        for index in order {
            let source = &self.sources[index];
            if let (Some(worst), Some(latest)) =
                (collector.worst(), source.latest_start_unix_nano())
                && latest < worst.0.0
            {
                self.skipped_units += 1;
                self.skipped.push(index);
                collector.evicted = true;
                continue;
            }
            let output = source.fetch(&request, self.budget).await?;
            add_stats(&mut self.stats, output.stats);
            let mut batches = Reservation::new(self.budget);
            batches.resize(output.batches.iter().map(|batch| batch.memory_size()).sum())?;
            for batch in output.batches {
                if batch.omitted_traces > 0 {
                    collector.evicted = true;
                    if self.truncated.last() != Some(&index) {
                        self.truncated.push(index);
                    }
                }
                let plan = Arc::clone(plan);
                let worst = collector.worst();
                let outcome = run_cpu(self.runner, move || {
                    evaluate_batch(&plan.program, &batch, index, batch_limit, worst, true)
                })
                .await?
                .map_err(|error| Error::Query {
                    message: error.message,
                })?;
                Self::merge(&mut collector, outcome);
            }
            drop(batches);
            held.resize(collector.memory_size())?;
        }
        if !collector.deferred.is_empty() {
            let demoted = std::mem::take(&mut collector.demoted);
            let finals = self.evaluate_deferred(&collector).await?;
            let matched: HashSet<_> = finals.iter().map(|result| result.trace_id).collect();
            let failed_demoted = demoted.keys().any(|trace_id| !matched.contains(trace_id));
            // a demoted trace ranked by one portion may start earlier over all of them
            collector.worsened |= finals.iter().any(|result| {
                demoted
                    .get(&result.trace_id)
                    .is_some_and(|held| result.order_key() > *held)
            });
            collector.deferred.clear();
            for result in finals {
                collector.add_final(result);
            }
            held.resize(collector.memory_size())?;
            if failed_demoted && collector.evicted && !unbounded {
                return Ok(None);
            }
        }
        if collector.worsened && collector.evicted && !unbounded {
            return Ok(None);
        }
        Ok(Some(collector.into_results(plan.options.limit)))
    }

    async fn evaluate_deferred(&mut self, collector: &Collector) -> Result<Vec<TraceResult>> {
        let plan = self.plan;
        let Some(first) = plan.fetch.as_ref() else {
            return Ok(Vec::new());
        };
        let mut trace_ids: Vec<_> = collector.deferred.keys().copied().collect();
        trace_ids.sort_unstable();
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
        let request = crate::fetch::FetchRequest {
            start_unix_nano: 0,
            end_unix_nano: u64::MAX,
            conditions,
            combine: crate::fetch::Combine::All,
            trace_ids: Some(trace_ids.clone()),
            need_span_ids: true,
            need_structure: false,
            need_trace_roots: true,
            need_row_refs: true,
            all_attributes: false,
            keep_most_recent: None,
        };
        let mut outputs = Vec::with_capacity(self.sources.len());
        let mut held = Reservation::new(self.budget);
        let mut bytes = 0;
        for (index, source) in self.sources.iter().enumerate() {
            let output = source.fetch(&request, self.budget).await?;
            add_stats(&mut self.stats, output.stats);
            bytes += output
                .batches
                .iter()
                .map(|batch| batch.memory_size())
                .sum::<usize>();
            held.resize(bytes)?;
            outputs.push((index, output.batches));
        }
        let plan = Arc::clone(plan);
        let wanted: HashSet<_> = trace_ids.into_iter().collect();
        let results = run_cpu(self.runner, move || {
            let batches: Vec<(usize, &crate::fetch::SpanBatch)> = outputs
                .iter()
                .flat_map(|(index, batches)| batches.iter().map(move |batch| (*index, batch)))
                .collect();
            let joined = join(&batches, &wanted);
            let outcome = evaluate_batch(&plan.program, &joined.batch, 0, usize::MAX, None, false)?;
            let mut results = outcome.settled;
            for result in &mut results {
                result.sources.clear();
                for set in &mut result.spansets {
                    for span in &mut set.spans {
                        span.origin = joined.origins[span.origin.row_ref as usize];
                        result.sources.insert(span.origin.source);
                    }
                }
            }
            // every source that returned a portion holds part of the trace
            for result in &mut results {
                for (index, batches) in &outputs {
                    if batches.iter().any(|batch| {
                        batch
                            .traces
                            .iter()
                            .any(|info| info.trace_id == result.trace_id)
                    }) {
                        result.sources.insert(*index);
                    }
                }
            }
            Ok::<_, crate::eval::QueryError>(results)
        })
        .await?
        .map_err(|error| Error::Query {
            message: error.message,
        })?;
        Ok(results)
    }

    /// Whether a skipped unit holds a portion of a trace of the answer (possible only when a
    /// span starts before its trace's root, e.g. clock skew), or a unit that left traces out
    /// of a batch holds a portion of an answer trace it did not return (that portion starts
    /// before the trace's held start, or limit traces of that batch would rank above it):
    /// then the answer may be wrong and the search runs again without skipping.
    async fn skipped_hold_answer(&mut self, results: &[TraceResult]) -> Result<bool> {
        if results.is_empty() {
            return Ok(false);
        }
        let all_ids: Vec<_> = results.iter().map(|result| result.trace_id).collect();
        let mut checks: Vec<(usize, Vec<contrail_proto::TraceId>)> =
            std::mem::take(&mut self.skipped)
                .into_iter()
                .map(|index| (index, all_ids.clone()))
                .collect();
        for index in std::mem::take(&mut self.truncated) {
            let ids: Vec<_> = results
                .iter()
                .filter(|result| !result.sources.contains(&index))
                .map(|result| result.trace_id)
                .collect();
            if !ids.is_empty() {
                checks.push((index, ids));
            }
        }
        // the checks are independent reads (mostly one bloom shard each): run them together
        let (sources, budget) = (self.sources, self.budget);
        let mut pending =
            futures::stream::iter(checks.into_iter().map(|(index, mut trace_ids)| {
                trace_ids.sort_unstable();
                let request = targeted(trace_ids);
                async move { sources[index].fetch(&request, budget).await }
            }))
            .buffer_unordered(CHECK_CONCURRENCY);
        while let Some(output) = pending.next().await {
            let output = output?;
            add_stats(&mut self.stats, output.stats);
            if output.batches.iter().any(|batch| !batch.traces.is_empty()) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Every span of the traces `trace_ids` (sorted).
fn targeted(trace_ids: Vec<contrail_proto::TraceId>) -> crate::fetch::FetchRequest {
    crate::fetch::FetchRequest {
        start_unix_nano: 0,
        end_unix_nano: u64::MAX,
        conditions: Vec::new(),
        combine: crate::fetch::Combine::All,
        trace_ids: Some(trace_ids),
        need_span_ids: false,
        need_structure: false,
        need_trace_roots: true,
        need_row_refs: true,
        all_attributes: false,
        keep_most_recent: None,
    }
}

/// Runs a search plan over `sources` (see the module docs).
#[tracing::instrument(skip_all, fields(units = sources.len()))]
pub async fn search(
    plan: &Arc<Plan>,
    sources: &[Arc<dyn SpanSource>],
    runner: &dyn CpuRunner,
    budget: &MemoryBudget,
) -> Result<SearchOutcome> {
    let mut run = Run {
        plan,
        sources,
        runner,
        budget,
        stats: FetchStats::default(),
        skipped_units: 0,
        skipped: Vec::new(),
        truncated: Vec::new(),
    };
    let bounded = run.collect(false).await?;
    let exact = match bounded {
        Some(results) if !run.skipped_hold_answer(&results).await? => Some(results),
        _ => None,
    };
    let mut results = match exact {
        Some(results) => results,
        None => {
            tracing::debug!("bounded search could not be exact, searching again without eviction");
            run.skipped_units = 0;
            run.skipped.clear();
            run.truncated.clear();
            run.collect(true).await?.unwrap_or_default()
        }
    };
    second_pass(plan, sources, budget, &mut results).await?;
    let spss = plan.options.spans_per_spanset;
    let response = tempopb::SearchResponse {
        traces: results
            .iter()
            .map(|result| trace_metadata(result, spss))
            .collect(),
        metrics: Some(tempopb::SearchMetrics {
            inspected_traces: u32::try_from(run.stats.inspected_traces).unwrap_or(u32::MAX),
            inspected_bytes: run.stats.inspected_bytes,
            inspected_spans: run.stats.inspected_spans,
            total_jobs: u32::try_from(sources.len()).unwrap_or(u32::MAX),
            completed_jobs: u32::try_from(sources.len() - run.skipped_units).unwrap_or(u32::MAX),
            ..Default::default()
        }),
    };
    Ok(SearchOutcome {
        response,
        stats: run.stats,
        skipped_units: run.skipped_units,
    })
}
