//! The evaluation program: a query lowered by the planner into what the evaluator executes.
//! Attributes are numbered ([`AttrId`]) into one table per program, so a batch binds each to
//! its column once; constants are folded; every spanset filter is split into *tests* (the
//! simple conditions the planner also pushes down, evaluated first) and *terms* (everything
//! else), so that a source's superset never changes what the engine evaluates (ADR 006).

use std::sync::Arc;

use regex::Regex;

use crate::ast::{ArithOp, Attribute, SpansetOp};
use crate::value::{CompareOp, Value};

/// Index into [`Program::attributes`].
pub type AttrId = usize;

/// A simple condition on one attribute.
#[derive(Debug, Clone)]
pub enum Test {
    /// `attribute OP value` under [`crate::value::compare`].
    Compare { op: CompareOp, value: Value },
    /// An ID intrinsic `= / != "hex"`, compared as IDs: `normalized` has leading zeros
    /// stripped and is lowercase; `None` when the literal is not hex (matches no ID).
    IdEquals {
        literal: String,
        normalized: Option<String>,
        negated: bool,
    },
    /// `attribute =~ regex` (`!~` when negated), anchored.
    Regex {
        pattern: String,
        regex: Arc<Regex>,
        negated: bool,
    },
    /// `attribute != nil`
    Exists,
    /// `attribute = nil`
    Missing,
    /// A bare attribute used as a filter: holds when it is the bool `true`.
    IsTrue,
}

/// A compiled field expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Const(Value),
    Attr(AttrId),
    Test {
        attr: AttrId,
        test: Test,
    },
    /// `!operand`; `strict`: a nil operand fails the query (the operator sits under `||` or
    /// `!`), else the span does not match.
    Not {
        operand: Box<Expr>,
        strict: bool,
    },
    /// `-operand`, with the same `strict` rule.
    Neg {
        operand: Box<Expr>,
        strict: bool,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Regex {
        operand: Box<Expr>,
        regex: Arc<Regex>,
        negated: bool,
    },
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `operand = nil` (or `!= nil` when `negated`) for a non-attribute operand.
    IsNil {
        operand: Box<Expr>,
        negated: bool,
    },
}

impl Expr {
    /// Calls `visit` for every attribute the expression reads.
    pub fn for_each_attr(&self, visit: &mut impl FnMut(AttrId)) {
        match self {
            Expr::Const(_) => {}
            Expr::Attr(attr) | Expr::Test { attr, .. } => visit(*attr),
            Expr::Not { operand, .. }
            | Expr::Neg { operand, .. }
            | Expr::Regex { operand, .. }
            | Expr::IsNil { operand, .. } => operand.for_each_attr(visit),
            Expr::And(lhs, rhs)
            | Expr::Or(lhs, rhs)
            | Expr::Compare { lhs, rhs, .. }
            | Expr::Arith { lhs, rhs, .. } => {
                lhs.for_each_attr(visit);
                rhs.for_each_attr(visit);
            }
        }
    }
}

/// A spanset filter `{ ... }`: a span matches when every test and then every term is `true`
/// (evaluated in that order, each only while the previous ones held).
#[derive(Debug, Clone)]
pub struct Filter {
    /// `Some(b)` when the filter folded to a constant.
    pub constant: Option<bool>,
    pub tests: Vec<(AttrId, Test)>,
    pub terms: Vec<Expr>,
    /// Evaluate per event (and/or per link): the filter reads event (link) scoped values, so
    /// it holds when it holds for at least one event (link) of the span (spec §5.1).
    pub per_event: bool,
    pub per_link: bool,
}

/// Filters combined with spanset operators.
#[derive(Debug, Clone)]
pub enum SpansetExpr {
    Filter(Filter),
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
}

/// `count()`, `avg(e)`, `min(e)`, `max(e)`, `sum(e)`.
#[derive(Debug, Clone)]
pub enum AggregateFn {
    Count,
    Avg(Expr),
    Min(Expr),
    Max(Expr),
    Sum(Expr),
}

/// `aggregate OP constant`, the only executable scalar filter (spec §8.4).
#[derive(Debug, Clone)]
pub struct ScalarFilter {
    pub aggregate: AggregateFn,
    /// The spanset attribute the value is attached as (`count()`, `avg(duration)`).
    pub label: String,
    /// `aggregate op constant` (flipped when the constant was on the left).
    pub op: CompareOp,
    pub constant: Value,
}

/// One stage of a pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    Spanset(SpansetExpr),
    ScalarFilter(ScalarFilter),
    /// `by(expr)`; `label` is `by(<canonical expr>)`.
    GroupBy {
        expr: Expr,
        label: String,
    },
    Coalesce,
    /// `select(...)`: filters nothing (its attributes come with the second pass).
    Select,
}

/// A pipeline: stages applied in order to the trace's spanset.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// Wrapped pipelines combined with spanset operators.
#[derive(Debug, Clone)]
pub enum PipelineExpr {
    Wrapped(Pipeline),
    Binary {
        op: SpansetOp,
        lhs: Box<PipelineExpr>,
        rhs: Box<PipelineExpr>,
    },
}

/// What the evaluator runs per trace.
#[derive(Debug, Clone)]
pub struct Program {
    pub attributes: Vec<Attribute>,
    pub body: PipelineExpr,
    /// Attributes shown on result spans: (result key, attribute).
    pub shown: Vec<(std::sync::Arc<str>, AttrId)>,
}
