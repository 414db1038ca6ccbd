//! Spanset pipelines: filters, spanset operators, aggregates and scalar filters.

use super::{Attribute, FieldExpr};

/// Operators between two spanset expressions (or two wrapped pipelines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpansetOp {
    /// `&&`
    And,
    /// `||`
    Union,
    /// `>`
    Child,
    /// `<`
    Parent,
    /// `>>`
    Descendant,
    /// `<<`
    Ancestor,
    /// `~`
    Sibling,
    /// `!>`
    NotChild,
    /// `!<`
    NotParent,
    /// `!>>`
    NotDescendant,
    /// `!<<`
    NotAncestor,
    /// `!~`
    NotSibling,
    /// `&>`
    UnionChild,
    /// `&<`
    UnionParent,
    /// `&>>`
    UnionDescendant,
    /// `&<<`
    UnionAncestor,
    /// `&~`
    UnionSibling,
}

impl SpansetOp {
    /// Binding strength: `&&`/`||` bind looser than the structural operators.
    pub fn precedence(self) -> u8 {
        match self {
            SpansetOp::And | SpansetOp::Union => 2,
            _ => 3,
        }
    }

    /// The operator as written in a query.
    pub fn symbol(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Union => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }
}

/// Filters combined with spanset operators: `{ a } && ({ b } > { c })`.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`; `{ }` is stored as `{ true }`.
    Filter(FieldExpr),
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
}

/// `count()`, `avg(e)`, `min(e)`, `max(e)`, `sum(e)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    Count,
    Avg(FieldExpr),
    Min(FieldExpr),
    Max(FieldExpr),
    Sum(FieldExpr),
}

/// Comparison operators of scalar filters and metrics filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as written in a query.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// Arithmetic operators between aggregates, constants and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    /// Binding strength, the same as in field expressions.
    pub fn precedence(self) -> u8 {
        match self {
            ArithOp::Add | ArithOp::Sub => 4,
            ArithOp::Mul | ArithOp::Div | ArithOp::Mod => 6,
            ArithOp::Pow => 7,
        }
    }

    /// The operator as written in a query.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }
}

/// A numeric constant expression, kept as written (it is folded by `Constant::evaluate`).
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Neg(Box<Constant>),
    /// Only `+ - * /`, never with a duration operand.
    Binary {
        op: ArithOp,
        lhs: Box<Constant>,
        rhs: Box<Constant>,
    },
}

/// Arithmetic over aggregates and constants; at least one aggregate in a scalar filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    Aggregate(Aggregate),
    Constant(Constant),
    Binary {
        op: ArithOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
}

/// `scalar OP scalar`, e.g. `count() > 3` or `avg(duration) < 1s`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    pub op: CmpOp,
    pub lhs: ScalarExpr,
    pub rhs: ScalarExpr,
}

/// One stage of a spanset pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Spanset(SpansetExpr),
    ScalarFilter(ScalarFilter),
    /// `by(expr)`
    GroupBy(FieldExpr),
    /// `coalesce()`
    Coalesce,
    /// `select(attr, ...)`
    Select(Vec<Attribute>),
}

/// Stages separated by `|`; never empty and never starting with `coalesce()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// Wrapped pipelines combined with spanset operators: `({ a } | count() > 1) && ({ b })`.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineExpr {
    /// `( pipeline )`
    Wrapped(Pipeline),
    Binary {
        op: SpansetOp,
        lhs: Box<PipelineExpr>,
        rhs: Box<PipelineExpr>,
    },
}

/// One side of a scalar pipeline filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarPipelineExpr {
    /// `( pipeline | aggregate )`
    Pipeline {
        pipeline: Pipeline,
        aggregate: Aggregate,
    },
    /// Only on the right of the comparison.
    Constant(Constant),
    Binary {
        op: ArithOp,
        lhs: Box<ScalarPipelineExpr>,
        rhs: Box<ScalarPipelineExpr>,
    },
}

/// `({ a } | count()) > ({ b } | count())`: parses, validation reports unsupported.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarPipelineFilter {
    pub op: CmpOp,
    pub lhs: ScalarPipelineExpr,
    pub rhs: ScalarPipelineExpr,
}
