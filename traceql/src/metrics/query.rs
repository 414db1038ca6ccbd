//! Running a metrics plan: one accumulator per leaf over the batches of a job
//! ([`QueryAccumulator`]), partials merged across jobs ([`QueryPartial`]), and the final answer
//! ([`MetricsPlan::evaluate`]): leaves finalized, their second stages, the arithmetic, then the
//! query's second stage.

use crate::error::{Error, Result};
use crate::metrics::accumulate::{AccumulatorOptions, SeriesAccumulator};
use crate::metrics::arithmetic::{Operand, combine};
use crate::metrics::compare::{CompareAccumulator, finalize_compare};
use crate::metrics::finalize::finalize_series;
use crate::metrics::input::SpanRows;
use crate::metrics::partial::{Partial, QueryPartial};
use crate::metrics::plan::{Function, MetricsPlan, PlanExpr};
use crate::metrics::second_stage::apply_second_stage;
use crate::metrics::series::SeriesSet;
use crate::metrics::window::{SpanStarts, TimeWindow};

/// The default cap on series per query (Tempo's `max_response_series` default).
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// The most exemplars per series a query may ask for (Tempo's server maximum).
pub const MAX_EXEMPLARS: u32 = 100;

/// What a metrics query runs over, and its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricsRequest {
    pub window: TimeWindow,
    /// Cap on series per leaf: more series make the answer partial (status `PARTIAL` and a
    /// message naming the cap).
    pub max_series: usize,
    /// Exemplars per series (already capped, hint applied: see
    /// [`MetricsHints::exemplar_limit`](crate::metrics::MetricsHints::exemplar_limit)).
    pub max_exemplars: u32,
    /// The span starts this job counts (the cells stay the window's); [`SpanStarts::ALL`] for
    /// a job that owns every span it reads.
    pub span_starts: SpanStarts,
}

impl MetricsRequest {
    /// A request over `window` with the default series cap, no exemplars, every span start.
    pub fn new(window: TimeWindow) -> Self {
        MetricsRequest {
            window,
            max_series: DEFAULT_MAX_SERIES,
            max_exemplars: 0,
            span_starts: SpanStarts::ALL,
        }
    }
}

/// The accumulator of one leaf.
#[derive(Debug)]
pub enum LeafAccumulator {
    Series(SeriesAccumulator),
    Compare(CompareAccumulator),
}

/// The accumulators of every leaf of a query for one job.
#[derive(Debug)]
pub struct QueryAccumulator {
    leaves: Vec<LeafAccumulator>,
}

impl QueryAccumulator {
    /// The same accumulators without their counting fast path (tests).
    #[cfg(test)]
    pub(crate) fn without_fast_paths(self) -> Self {
        QueryAccumulator {
            leaves: self
                .leaves
                .into_iter()
                .map(|leaf| match leaf {
                    LeafAccumulator::Series(series) => {
                        LeafAccumulator::Series(series.without_fast_path())
                    }
                    other => other,
                })
                .collect(),
        }
    }

    /// Adds the spans of a batch that survived leaf `leaf`'s pipeline. For a `compare()` leaf
    /// use [`QueryAccumulator::observe_compare`].
    pub fn observe(&mut self, leaf: usize, rows: &SpanRows<'_>) -> Result<()> {
        match self.leaves.get_mut(leaf) {
            Some(LeafAccumulator::Series(accumulator)) => {
                accumulator.observe(rows);
                Ok(())
            }
            Some(LeafAccumulator::Compare(_)) => Err(Error::metrics_partial(
                "a compare() leaf needs the filter's matches (observe_compare)",
            )),
            None => Err(Error::metrics_partial(format!(
                "no leaf {leaf} in this query"
            ))),
        }
    }

    /// Adds the spans of a batch that survived a `compare()` leaf's pipeline;
    /// `matches_filter[row]` tells whether batch row `row` matches the comparison filter.
    pub fn observe_compare(
        &mut self,
        leaf: usize,
        rows: &SpanRows<'_>,
        matches_filter: &[bool],
    ) -> Result<()> {
        match self.leaves.get_mut(leaf) {
            Some(LeafAccumulator::Compare(accumulator)) => {
                accumulator.observe(rows, matches_filter);
                Ok(())
            }
            Some(LeafAccumulator::Series(_)) => Err(Error::metrics_partial(format!(
                "leaf {leaf} is not a compare() leaf"
            ))),
            None => Err(Error::metrics_partial(format!(
                "no leaf {leaf} in this query"
            ))),
        }
    }

    /// The job's partial result.
    pub fn finish(self) -> QueryPartial {
        QueryPartial {
            leaves: self
                .leaves
                .into_iter()
                .map(|leaf| match leaf {
                    LeafAccumulator::Series(accumulator) => Partial::Series(accumulator.finish()),
                    LeafAccumulator::Compare(accumulator) => Partial::Compare(accumulator.finish()),
                })
                .collect(),
        }
    }
}

/// The final answer of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsResult {
    pub series: SeriesSet,
    pub window: TimeWindow,
    /// The series cap, for the partial-answer message.
    pub max_series: usize,
    pub inspected_spans: u64,
}

impl MetricsPlan {
    /// The accumulators of a job.
    pub fn accumulator(&self, request: &MetricsRequest) -> QueryAccumulator {
        let leaves = self
            .leaves
            .iter()
            .map(|leaf| {
                let options = AccumulatorOptions {
                    window: request.window,
                    max_series: request.max_series,
                    max_exemplars: request.max_exemplars as usize,
                    sampling: self.hints.sampling(leaf.needs_full_trace()),
                    span_starts: request.span_starts,
                };
                match (SeriesAccumulator::new(leaf, &options), &leaf.function) {
                    (Some(accumulator), _) => LeafAccumulator::Series(accumulator),
                    (None, Function::Compare { window, .. }) => LeafAccumulator::Compare(
                        CompareAccumulator::new(request.window, *window)
                            .within(request.span_starts),
                    ),
                    (None, _) => LeafAccumulator::Compare(
                        CompareAccumulator::new(request.window, None).within(request.span_starts),
                    ),
                }
            })
            .collect();
        QueryAccumulator { leaves }
    }

    /// An empty partial (a job that found nothing).
    pub fn empty_partial(&self, request: &MetricsRequest) -> QueryPartial {
        self.accumulator(request).finish()
    }

    /// The final series of a merged partial.
    pub fn evaluate(
        &self,
        request: &MetricsRequest,
        partial: &QueryPartial,
    ) -> Result<MetricsResult> {
        if partial.leaves.len() != self.leaves.len() {
            return Err(Error::metrics_partial(format!(
                "the partial has {} leaves, the query {}",
                partial.leaves.len(),
                self.leaves.len()
            )));
        }
        let mut finished: Vec<Option<SeriesSet>> = Vec::with_capacity(self.leaves.len());
        for (leaf, partial) in self.leaves.iter().zip(&partial.leaves) {
            let multiplier = self.hints.sampling(leaf.needs_full_trace()).multiplier();
            let mut set = match (partial, &leaf.function) {
                (Partial::Compare(compare), Function::Compare { top_n, .. }) => {
                    check_window(&compare.window, request)?;
                    finalize_compare(compare, *top_n, 1.0)
                }
                (Partial::Series(series), function)
                    if !matches!(function, Function::Compare { .. }) =>
                {
                    check_window(&series.window, request)?;
                    finalize_series(series, leaf, multiplier)
                }
                _ => {
                    return Err(Error::metrics_partial(
                        "the partial does not match the query's functions",
                    ));
                }
            };
            apply_second_stage(&mut set, &leaf.second_stage);
            finished.push(Some(set));
        }
        let mut result = match evaluate_expr(&self.expr, &mut finished)? {
            Operand::Series(set) => set,
            Operand::Scalar(_) => {
                return Err(Error::metrics_request(
                    "a metrics query needs at least one metrics function",
                ));
            }
        };
        apply_second_stage(&mut result, &self.second_stage);
        result.normalize();
        Ok(MetricsResult {
            series: result,
            window: request.window,
            max_series: request.max_series,
            inspected_spans: partial.inspected_spans(),
        })
    }
}

fn check_window(window: &TimeWindow, request: &MetricsRequest) -> Result<()> {
    if *window != request.window {
        return Err(Error::metrics_partial(
            "the partial was computed for another time window",
        ));
    }
    Ok(())
}

fn evaluate_expr(expr: &PlanExpr, leaves: &mut [Option<SeriesSet>]) -> Result<Operand> {
    Ok(match expr {
        PlanExpr::Leaf(index) => Operand::Series(
            leaves
                .get_mut(*index)
                .and_then(Option::take)
                .ok_or_else(|| Error::metrics_partial(format!("leaf {index} used twice")))?,
        ),
        PlanExpr::Scalar(value) => Operand::Scalar(*value),
        PlanExpr::Binary { op, lhs, rhs } => {
            let left = evaluate_expr(lhs, leaves)?;
            let right = evaluate_expr(rhs, leaves)?;
            combine(*op, left, right)
        }
    })
}
