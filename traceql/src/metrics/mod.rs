//! TraceQL metrics (../shared/spec/traceql.md §10, §11): the plan of a metrics query, the
//! first-stage accumulators that the engine feeds with the spans surviving each leaf's span
//! pipeline, exactly mergeable partial results (and their wire form), the second stage,
//! arithmetic between metrics, and the `tempopb` answers.
//!
//! Data flow: [`MetricsPlan::new`] → per job [`MetricsPlan::accumulator`] →
//! [`QueryAccumulator::observe`] for every batch and leaf ([`SpanRows`]: a batch and its
//! surviving rows) → [`QueryAccumulator::finish`] ([`QueryPartial`], sent between processes as
//! [`wire`] messages) → [`QueryPartial::merge`] across jobs → [`MetricsPlan::evaluate`] →
//! [`MetricsResult::to_range_response`] / [`MetricsResult::to_instant_response`].

mod accumulate;
mod arithmetic;
mod compare;
pub mod engine;
mod exact_sum;
mod exemplar;
mod finalize;
mod group;
mod hints;
mod input;
pub mod job;
mod labels;
mod log2;
mod output;
mod partial;
mod plan;
mod query;
mod second_stage;
mod series;
mod series_table;
mod window;
pub mod wire;

#[cfg(test)]
mod tests;

pub use accumulate::{AccumulatorOptions, SeriesAccumulator};
pub use compare::{CompareAccumulator, ComparePartial, VALUES_PER_ATTRIBUTE};
pub use engine::{LeafProgram, MetricsOutcome, MetricsQuery, run_metrics};
pub use exact_sum::ExactSum;
pub use hints::{MetricsHints, Sampling};
pub use input::{Column, Number, SpanRows, TraceField, resolve};
pub use job::{MAX_INTERVALS, ReceivedJob, job_from_proto, job_to_proto};
pub use labels::{
    BUCKET_LABEL, Label, META_ERROR_LABEL, META_TYPE_LABEL, NAME_LABEL, QUANTILE_LABEL, any_value,
    label_name, labels_text,
};
pub use log2::{BucketUnit, bucket_exponent, quantile};
pub use partial::{CellKind, Partial, QueryPartial, SeriesPartial};
pub use plan::{
    DEFAULT_COMPARE_TOP_N, FirstStage, Function, GroupBy, MetricsPlan, PlanExpr, SecondStage,
};
pub use query::{
    DEFAULT_MAX_SERIES, LeafAccumulator, MAX_EXEMPLARS, MetricsRequest, MetricsResult,
    QueryAccumulator,
};
pub use series::{Series, SeriesExemplar, SeriesSet};
pub use window::{IntervalMapper, SpanStarts, TimeWindow, default_step_nano};
