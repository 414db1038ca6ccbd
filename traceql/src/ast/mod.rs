//! The typed AST of a TraceQL query. Every node implements `Display` (see `display.rs`), and
//! printing then parsing gives back the same tree.

mod field;
mod metrics;
mod pipeline;

pub use field::{
    Attribute, AttributeScope, FieldExpr, FieldOp, Intrinsic, SpanKind, Static, Status, UnaryOp,
};
pub use metrics::{
    MetricsExpr, MetricsFunction, MetricsOp, MetricsQuery, MetricsRoot, OverTimeFunction,
    SecondStageOp,
};
pub use pipeline::{
    Aggregate, ArithOp, CmpOp, Constant, Pipeline, PipelineExpr, ScalarExpr, ScalarFilter,
    ScalarPipelineExpr, ScalarPipelineFilter, SpansetExpr, SpansetOp, Stage,
};

/// A whole query: its body and the hints of the last `with(...)` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct RootExpr {
    pub body: Body,
    pub hints: Vec<Hint>,
}

/// What a query computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A spanset pipeline (a search), e.g. `{ a } | count() > 1`.
    Pipeline(Pipeline),
    /// Wrapped pipelines combined by spanset operators.
    PipelineExpr(PipelineExpr),
    /// Wrapped pipelines ending in aggregates, compared (unsupported at validation).
    ScalarPipelineFilter(ScalarPipelineFilter),
    /// A metrics query.
    Metrics(MetricsRoot),
}

/// `name = value` inside `with(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub name: String,
    /// Never `nil`.
    pub value: Static,
}
