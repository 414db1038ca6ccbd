//! Metrics queries: the first-stage functions, the second stage and arithmetic between them.

use super::{Attribute, CmpOp, Constant, FieldExpr, Pipeline};

/// `min/max/sum/avg/histogram_over_time(attr)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverTimeFunction {
    Min,
    Max,
    Sum,
    Avg,
    Histogram,
}

impl OverTimeFunction {
    /// The function name as written in a query.
    pub fn name(self) -> &'static str {
        match self {
            OverTimeFunction::Min => "min_over_time",
            OverTimeFunction::Max => "max_over_time",
            OverTimeFunction::Sum => "sum_over_time",
            OverTimeFunction::Avg => "avg_over_time",
            OverTimeFunction::Histogram => "histogram_over_time",
        }
    }
}

/// A first-stage metrics function.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFunction {
    /// `rate() [by (...)]`
    Rate { by: Vec<Attribute> },
    /// `count_over_time() [by (...)]`
    CountOverTime { by: Vec<Attribute> },
    /// `min_over_time(attr) [by (...)]` and friends.
    OverTime {
        function: OverTimeFunction,
        attribute: Attribute,
        by: Vec<Attribute>,
    },
    /// `quantile_over_time(attr, q, ...) [by (...)]`
    QuantileOverTime {
        attribute: Attribute,
        quantiles: Vec<f64>,
        by: Vec<Attribute>,
    },
    /// `compare({ filter }[, top_n[, start, end]])`; the window is in unix nanoseconds.
    Compare {
        filter: FieldExpr,
        top_n: Option<i64>,
        window: Option<(i64, i64)>,
    },
}

impl MetricsFunction {
    /// The attributes of the `by (...)` clause.
    pub fn by(&self) -> &[Attribute] {
        match self {
            MetricsFunction::Rate { by }
            | MetricsFunction::CountOverTime { by }
            | MetricsFunction::OverTime { by, .. }
            | MetricsFunction::QuantileOverTime { by, .. } => by,
            MetricsFunction::Compare { .. } => &[],
        }
    }
}

/// A second-stage operation, applied to series left to right.
#[derive(Debug, Clone, PartialEq)]
pub enum SecondStageOp {
    /// `| topk(k)`
    TopK(i64),
    /// `| bottomk(k)`
    BottomK(i64),
    /// `OP constant`, e.g. `> 10`
    Filter { op: CmpOp, value: Constant },
}

/// `pipeline | function second_stage`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    pub pipeline: Pipeline,
    pub function: MetricsFunction,
    pub second_stage: Vec<SecondStageOp>,
}

/// Arithmetic operators between metrics (`+ - * /`).
pub use super::ArithOp as MetricsOp;

/// Metrics queries combined by arithmetic: `({} | rate()) / ({} | count_over_time()) * 100`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsExpr {
    Query(Box<MetricsQuery>),
    /// A constant operand (never a duration).
    Scalar(Constant),
    Binary {
        op: MetricsOp,
        lhs: Box<MetricsExpr>,
        rhs: Box<MetricsExpr>,
    },
}

/// The whole metrics part of a query. When `expr` is a single query, the second stage is kept
/// in the query (`second_stage` here is then empty).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRoot {
    pub expr: MetricsExpr,
    pub second_stage: Vec<SecondStageOp>,
}
