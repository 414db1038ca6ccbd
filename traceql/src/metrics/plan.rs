//! The metrics plan: what a validated metrics query computes, in the shape the accumulators, the
//! engine and the frontend need. A query is a tree of arithmetic ([`PlanExpr`]) over first-stage
//! leaves ([`FirstStage`]: a span pipeline, a function, `by()` labels and the leaf's own second
//! stage), followed by a second stage that runs once on the final series.

use std::sync::Arc;

use crate::ast::{
    ArithOp, Attribute, Body, CmpOp, Constant, FieldExpr, Intrinsic, MetricsExpr, MetricsFunction,
    MetricsQuery, OverTimeFunction, Pipeline, RootExpr, SecondStageOp, Stage, Static,
};
use crate::error::{Error, Result};
use crate::metrics::hints::MetricsHints;
use crate::metrics::labels::label_name;

/// The default number of values per attribute `compare()` reports.
pub const DEFAULT_COMPARE_TOP_N: usize = 10;

/// A whole metrics query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPlan {
    /// The first-stage queries, referenced by [`PlanExpr::Leaf`] in order of appearance.
    pub leaves: Vec<FirstStage>,
    pub expr: PlanExpr,
    /// Runs on the result of `expr`, left to right.
    pub second_stage: Vec<SecondStage>,
    pub hints: MetricsHints,
}

/// Arithmetic between leaves and constants (spec §10.6).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanExpr {
    Leaf(usize),
    /// A folded constant.
    Scalar(f64),
    Binary {
        op: ArithOp,
        lhs: Box<PlanExpr>,
        rhs: Box<PlanExpr>,
    },
}

/// One `pipeline | function by (...) second_stage` query.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstStage {
    /// The span pipeline the engine runs; its surviving spans feed the function.
    pub pipeline: Pipeline,
    pub function: Function,
    pub by: Vec<GroupBy>,
    pub second_stage: Vec<SecondStage>,
}

/// A `by()` attribute and its label name.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    pub attribute: Attribute,
    pub label: Arc<str>,
}

/// A first-stage function.
#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    Rate,
    CountOverTime,
    MinOverTime(Attribute),
    MaxOverTime(Attribute),
    SumOverTime(Attribute),
    AvgOverTime(Attribute),
    HistogramOverTime(Attribute),
    QuantileOverTime {
        attribute: Attribute,
        quantiles: Vec<f64>,
    },
    Compare {
        /// Spans matching it (inside `window`, when given) are the selection.
        filter: FieldExpr,
        top_n: usize,
        /// `[start, end)` in unix nanoseconds.
        window: Option<(u64, u64)>,
    },
}

impl Function {
    /// The function name (`__name__` of an ungrouped series).
    pub fn name(&self) -> &'static str {
        match self {
            Function::Rate => "rate",
            Function::CountOverTime => "count_over_time",
            Function::MinOverTime(_) => "min_over_time",
            Function::MaxOverTime(_) => "max_over_time",
            Function::SumOverTime(_) => "sum_over_time",
            Function::AvgOverTime(_) => "avg_over_time",
            Function::HistogramOverTime(_) => "histogram_over_time",
            Function::QuantileOverTime { .. } => "quantile_over_time",
            Function::Compare { .. } => "compare",
        }
    }

    /// The attribute whose values the function aggregates, if any.
    pub fn value_attribute(&self) -> Option<&Attribute> {
        match self {
            Function::MinOverTime(attribute)
            | Function::MaxOverTime(attribute)
            | Function::SumOverTime(attribute)
            | Function::AvgOverTime(attribute)
            | Function::HistogramOverTime(attribute)
            | Function::QuantileOverTime { attribute, .. } => Some(attribute),
            Function::Rate | Function::CountOverTime | Function::Compare { .. } => None,
        }
    }
}

/// A second-stage operation with its constant folded (durations in seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum SecondStage {
    TopK(usize),
    BottomK(usize),
    Filter { op: CmpOp, value: f64 },
}

impl FirstStage {
    /// The attributes the function and `by()` read from surviving spans (what the planner adds
    /// to the fetch request as value-only conditions). `duration` and the span start come from
    /// the span columns and are not listed; `compare()` needs every attribute (see
    /// [`FirstStage::needs_all_attributes`]).
    pub fn fetch_attributes(&self) -> Vec<Attribute> {
        let mut attributes: Vec<Attribute> = Vec::new();
        let candidates = self
            .by
            .iter()
            .map(|group| &group.attribute)
            .chain(self.function.value_attribute());
        for attribute in candidates {
            if *attribute != Attribute::Intrinsic(Intrinsic::Duration)
                && !attributes.contains(attribute)
            {
                attributes.push(attribute.clone());
            }
        }
        attributes
    }

    /// `compare()` groups by every attribute of the spans.
    pub fn needs_all_attributes(&self) -> bool {
        matches!(self.function, Function::Compare { .. })
    }

    /// `true` when the pipeline relates spans of a trace to each other (structural operators,
    /// spanset `&&`/`||`, aggregates, `by`, `coalesce`): sampling must then keep or drop whole
    /// traces.
    pub fn needs_full_trace(&self) -> bool {
        match self.pipeline.stages.as_slice() {
            [Stage::Spanset(crate::ast::SpansetExpr::Filter(_))] => false,
            [
                Stage::Spanset(crate::ast::SpansetExpr::Filter(_)),
                rest @ ..,
            ] => rest.iter().any(|stage| !matches!(stage, Stage::Select(_))),
            _ => true,
        }
    }
}

impl MetricsPlan {
    /// The plan of a parsed and validated metrics query.
    pub fn new(root: &RootExpr) -> Result<MetricsPlan> {
        let Body::Metrics(metrics) = &root.body else {
            return Err(Error::metrics_request("not a metrics query"));
        };
        let mut leaves = Vec::new();
        let expr = plan_expr(&metrics.expr, &mut leaves)?;
        Ok(MetricsPlan {
            leaves,
            expr,
            second_stage: plan_second_stage(&metrics.second_stage)?,
            hints: MetricsHints::from_hints(&root.hints),
        })
    }

    /// Parses, validates and plans a query.
    pub fn parse(query: &str) -> Result<MetricsPlan> {
        MetricsPlan::new(&crate::entry::parse_and_validate(query)?)
    }

    /// `true` when some leaf needs whole traces for sampling.
    pub fn needs_full_trace(&self) -> bool {
        self.leaves.iter().any(FirstStage::needs_full_trace)
    }
}

fn plan_expr(expr: &MetricsExpr, leaves: &mut Vec<FirstStage>) -> Result<PlanExpr> {
    match expr {
        MetricsExpr::Query(query) => {
            leaves.push(plan_query(query)?);
            Ok(PlanExpr::Leaf(leaves.len() - 1))
        }
        MetricsExpr::Scalar(constant) => Ok(PlanExpr::Scalar(fold(constant)?)),
        MetricsExpr::Binary { op, lhs, rhs } => {
            if let (MetricsExpr::Scalar(left), MetricsExpr::Scalar(right)) = (&**lhs, &**rhs) {
                let folded = Constant::Binary {
                    op: *op,
                    lhs: Box::new(left.clone()),
                    rhs: Box::new(right.clone()),
                };
                return Ok(PlanExpr::Scalar(fold(&folded)?));
            }
            let lhs = plan_expr(lhs, leaves)?;
            let rhs = plan_expr(rhs, leaves)?;
            Ok(match (&lhs, &rhs) {
                (PlanExpr::Scalar(left), PlanExpr::Scalar(right)) => {
                    PlanExpr::Scalar(crate::metrics::arithmetic::apply(*op, *left, *right))
                }
                _ => PlanExpr::Binary {
                    op: *op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            })
        }
    }
}

/// Folds a constant with integer semantics for int ∘ int; durations become seconds.
fn fold(constant: &Constant) -> Result<f64> {
    Ok(match constant.evaluate()? {
        Static::Int(value) => value as f64,
        Static::Float(value) => value,
        Static::Duration(nanos) => nanos as f64 / 1e9,
        other => {
            return Err(Error::metrics_request(format!(
                "expected a number in a metrics expression, found {other}"
            )));
        }
    })
}

fn plan_query(query: &MetricsQuery) -> Result<FirstStage> {
    let group = |by: &[Attribute]| -> Vec<GroupBy> {
        by.iter()
            .map(|attribute| GroupBy {
                attribute: attribute.clone(),
                label: label_name(attribute),
            })
            .collect()
    };
    let function = match &query.function {
        MetricsFunction::Rate { .. } => Function::Rate,
        MetricsFunction::CountOverTime { .. } => Function::CountOverTime,
        MetricsFunction::OverTime {
            function,
            attribute,
            ..
        } => {
            let attribute = attribute.clone();
            match function {
                OverTimeFunction::Min => Function::MinOverTime(attribute),
                OverTimeFunction::Max => Function::MaxOverTime(attribute),
                OverTimeFunction::Sum => Function::SumOverTime(attribute),
                OverTimeFunction::Avg => Function::AvgOverTime(attribute),
                OverTimeFunction::Histogram => Function::HistogramOverTime(attribute),
            }
        }
        MetricsFunction::QuantileOverTime {
            attribute,
            quantiles,
            ..
        } => Function::QuantileOverTime {
            attribute: attribute.clone(),
            quantiles: quantiles.clone(),
        },
        MetricsFunction::Compare {
            filter,
            top_n,
            window,
        } => Function::Compare {
            filter: filter.clone(),
            top_n: top_n.map_or(DEFAULT_COMPARE_TOP_N, |top| top.max(1) as usize),
            window: window
                .filter(|(start, end)| *start > 0 && end > start)
                .map(|(start, end)| (start as u64, end as u64)),
        },
    };
    Ok(FirstStage {
        pipeline: query.pipeline.clone(),
        function,
        by: group(query.function.by()),
        second_stage: plan_second_stage(&query.second_stage)?,
    })
}

fn plan_second_stage(ops: &[SecondStageOp]) -> Result<Vec<SecondStage>> {
    ops.iter()
        .map(|op| {
            Ok(match op {
                SecondStageOp::TopK(limit) => SecondStage::TopK((*limit).max(1) as usize),
                SecondStageOp::BottomK(limit) => SecondStage::BottomK((*limit).max(1) as usize),
                SecondStageOp::Filter { op, value } => SecondStage::Filter {
                    op: *op,
                    value: fold(value)?,
                },
            })
        })
        .collect()
}
