//! A metrics plan compiled for the engine: per leaf, the span pipeline as an evaluation program
//! with its fetch request (carrying what the function needs: `by()` attributes, the function's
//! attribute, span IDs only for exemplars and split traces), and the evaluation of one batch into
//! the rows that feed the accumulators.

use std::collections::HashSet;

use contrail_proto::TraceId;

use crate::ast::{Attribute, Intrinsic};
use crate::error::Result;
use crate::eval::QueryError;
use crate::eval::bind::{BatchView, TraceValues};
use crate::eval::field::{DictCache, Scope};
use crate::eval::program::{Filter, PipelineExpr, SpansetExpr, Stage};
use crate::eval::trace::eval_trace;
use crate::fetch::{FetchRequest, SpanBatch};
use crate::metrics::input::SpanRows;
use crate::metrics::plan::{FirstStage, Function, MetricsPlan};
use crate::metrics::query::{MetricsRequest, QueryAccumulator};
use crate::plan::{PipelineInputs, PipelinePlan, plan_pipeline};

/// How a leaf's pipeline selects rows.
#[derive(Debug, Clone)]
enum Shape {
    /// `{ }`: every fetched row survives.
    AllRows,
    /// One filter on span-level values: evaluated over the whole batch at once.
    BatchFilter(Filter),
    /// Anything else: evaluated trace by trace.
    PerTrace,
}

/// One leaf, compiled.
#[derive(Debug, Clone)]
pub struct LeafProgram {
    pub plan: PipelinePlan,
    shape: Shape,
    /// Traces with orphaned spans are evaluated once, over all their portions (the leaf needs
    /// whole traces).
    pub defer_split_traces: bool,
    compare: bool,
}

fn trace_level(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::TraceDuration
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
                | Intrinsic::TraceId
        )
    )
}

impl LeafProgram {
    fn new(leaf: &FirstStage, request: &MetricsRequest) -> Result<LeafProgram> {
        let filters = match &leaf.function {
            Function::Compare { filter, .. } => vec![filter.clone()],
            _ => Vec::new(),
        };
        let fetch_attributes = leaf.fetch_attributes();
        let reads_trace_level = fetch_attributes.iter().any(trace_level);
        // Only traces overlapping the spans this job counts are fetched.
        let window = request.window;
        let start_unix_nano = window.start_unix_nano().max(request.span_starts.first);
        let end_unix_nano = window
            .end_unix_nano()
            .min(request.span_starts.last)
            .max(start_unix_nano);
        let probe = plan_pipeline(
            &leaf.pipeline,
            PipelineInputs {
                filters: &filters,
                fetch_attributes: &fetch_attributes,
                start_unix_nano,
                end_unix_nano,
                need_span_ids: false,
                all_attributes: false,
            },
        )?;
        let program_trace_level = probe.program.attributes.iter().any(trace_level);
        let defer_split_traces =
            leaf.needs_full_trace() || program_trace_level || reads_trace_level;
        let plan = plan_pipeline(
            &leaf.pipeline,
            PipelineInputs {
                filters: &filters,
                fetch_attributes: &fetch_attributes,
                start_unix_nano,
                end_unix_nano,
                need_span_ids: request.max_exemplars > 0 || defer_split_traces,
                all_attributes: leaf.needs_all_attributes(),
            },
        )?;
        let shape = match &plan.program.body {
            PipelineExpr::Wrapped(pipeline) => match pipeline.stages.as_slice() {
                [Stage::Spanset(SpansetExpr::Filter(filter))] if filter.constant == Some(true) => {
                    Shape::AllRows
                }
                [Stage::Spanset(SpansetExpr::Filter(filter))] if !program_trace_level => {
                    Shape::BatchFilter(filter.clone())
                }
                _ => Shape::PerTrace,
            },
            PipelineExpr::Binary { .. } => Shape::PerTrace,
        };
        Ok(LeafProgram {
            plan,
            shape,
            defer_split_traces,
            compare: leaf.needs_all_attributes(),
        })
    }

    /// The first-pass request (`None`: the leaf can match nothing).
    pub fn fetch(&self) -> Option<&FetchRequest> {
        self.plan.fetch.as_ref()
    }

    /// Evaluates the leaf over `batch` and feeds the surviving rows to `accumulator`'s leaf
    /// `leaf`, skipping the traces of `split` (traces split across units, evaluated later over
    /// all their portions; `None` for a batch of joined traces).
    pub fn observe(
        &self,
        leaf: usize,
        batch: &SpanBatch,
        split: Option<&HashSet<TraceId>>,
        accumulator: &mut QueryAccumulator,
    ) -> std::result::Result<(), QueryError> {
        let view = BatchView::new(batch, &self.plan.program.attributes);
        let cache = DictCache::default();
        let split = split.filter(|split| !split.is_empty());
        let skipped = |trace: &TraceId| split.is_some_and(|split| split.contains(trace));
        let mut rows: Vec<u32> = Vec::new();
        let all_rows = matches!(self.shape, Shape::AllRows);
        let any_skipped =
            split.is_some() && batch.traces.iter().any(|info| skipped(&info.trace_id));
        let all = all_rows && !any_skipped;
        if !all {
            match &self.shape {
                Shape::BatchFilter(filter) if !any_skipped => {
                    let trace = TraceValues::none();
                    let scope = Scope {
                        view: &view,
                        trace: &trace,
                        cache: &cache,
                    };
                    let input: Vec<u32> = (0..batch.span_rows() as u32).collect();
                    rows = scope.filter(filter, &input)?;
                }
                _ => {
                    for (index, info) in batch.traces.iter().enumerate() {
                        if skipped(&info.trace_id) {
                            continue;
                        }
                        if all_rows {
                            rows.extend(info.rows.start as u32..info.rows.end as u32);
                            continue;
                        }
                        let start = rows.len();
                        for spanset in eval_trace(&self.plan.program, &view, &cache, index)? {
                            rows.extend(spanset.rows);
                        }
                        rows[start..].sort_unstable();
                        let mut kept = start;
                        for position in start..rows.len() {
                            if position == start || rows[position] != rows[kept - 1] {
                                rows[kept] = rows[position];
                                kept += 1;
                            }
                        }
                        rows.truncate(kept);
                    }
                }
            }
        }
        let input = if all {
            SpanRows::all(batch)
        } else {
            SpanRows::selected(batch, &rows)
        };
        let observed = if self.compare {
            let matches = self.compare_matches(&view, &cache, &input)?;
            accumulator.observe_compare(leaf, &input, &matches)
        } else {
            accumulator.observe(leaf, &input)
        };
        observed.map_err(|error| QueryError {
            message: error.to_string(),
        })
    }

    /// `matches[row]`: whether surviving row `row` matches `compare()`'s filter.
    fn compare_matches(
        &self,
        view: &BatchView<'_>,
        cache: &DictCache,
        input: &SpanRows<'_>,
    ) -> std::result::Result<Vec<bool>, QueryError> {
        let batch = input.batch;
        let mut matches = vec![false; batch.span_rows()];
        let Some(filter) = self.plan.filters.first() else {
            return Ok(matches);
        };
        let mut surviving = vec![false; batch.span_rows()];
        input.for_each(|row| surviving[row] = true);
        for info in &batch.traces {
            let rows: Vec<u32> = (info.rows.start..info.rows.end)
                .filter(|row| surviving.get(*row).copied().unwrap_or(false))
                .map(|row| row as u32)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let trace = TraceValues::new(info, true);
            let scope = Scope {
                view,
                trace: &trace,
                cache,
            };
            for row in scope.filter(filter, &rows)? {
                matches[row as usize] = true;
            }
        }
        Ok(matches)
    }
}

/// A metrics query ready to run over units: the plan, the request and every leaf compiled.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    pub plan: MetricsPlan,
    pub request: MetricsRequest,
    pub leaves: Vec<LeafProgram>,
}

impl MetricsQuery {
    /// Compiles every leaf of `plan` for `request`.
    pub fn new(plan: MetricsPlan, request: MetricsRequest) -> Result<MetricsQuery> {
        let leaves = plan
            .leaves
            .iter()
            .map(|leaf| LeafProgram::new(leaf, &request))
            .collect::<Result<Vec<_>>>()?;
        Ok(MetricsQuery {
            plan,
            request,
            leaves,
        })
    }

    /// The first-pass requests of the leaves, for plan snapshots and tools.
    pub fn fetch_requests(&self) -> Vec<Option<&FetchRequest>> {
        self.leaves.iter().map(LeafProgram::fetch).collect()
    }
}
