//! Canonical printing of spanset expressions, pipelines, scalar filters and metrics.

use std::fmt::{self, Display, Formatter, Write};

use super::format::{ATOM, CONSTANT_NEG, write_binary, write_duration, write_float, write_operand};
use crate::ast::*;

fn spanset_op_precedence(op: SpansetOp) -> u8 {
    op.precedence()
}

impl SpansetExpr {
    fn precedence(&self) -> u8 {
        match self {
            SpansetExpr::Filter(_) => ATOM,
            SpansetExpr::Binary { op, .. } => spanset_op_precedence(*op),
        }
    }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(field) => write!(f, "{{ {field} }}"),
            SpansetExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                false,
            ),
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Count => f.write_str("count()"),
            Aggregate::Avg(field) => write!(f, "avg({field})"),
            Aggregate::Min(field) => write!(f, "min({field})"),
            Aggregate::Max(field) => write!(f, "max({field})"),
            Aggregate::Sum(field) => write!(f, "sum({field})"),
        }
    }
}

impl Constant {
    fn precedence(&self) -> u8 {
        match self {
            Constant::Int(_) | Constant::Float(_) | Constant::Duration(_) => ATOM,
            Constant::Neg(_) => CONSTANT_NEG,
            Constant::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for Constant {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Constant::Int(value) => Display::fmt(&Static::Int(*value), f),
            Constant::Float(value) => write_float(f, *value),
            Constant::Duration(nanos) => write_duration(f, *nanos),
            Constant::Neg(operand) => {
                f.write_char('-')?;
                write_operand(f, operand.as_ref(), operand.precedence() < CONSTANT_NEG)
            }
            Constant::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                *op == ArithOp::Pow,
            ),
        }
    }
}

impl ScalarExpr {
    fn precedence(&self) -> u8 {
        match self {
            ScalarExpr::Aggregate(_) => ATOM,
            ScalarExpr::Constant(constant) => constant.precedence(),
            ScalarExpr::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Aggregate(aggregate) => Display::fmt(aggregate, f),
            ScalarExpr::Constant(constant) => Display::fmt(constant, f),
            ScalarExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                *op == ArithOp::Pow,
            ),
        }
    }
}

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(spanset) => Display::fmt(spanset, f),
            Stage::ScalarFilter(filter) => Display::fmt(filter, f),
            Stage::GroupBy(field) => write!(f, "by({field})"),
            Stage::Coalesce => f.write_str("coalesce()"),
            Stage::Select(attributes) => {
                f.write_str("select(")?;
                write_list(f, attributes)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (index, stage) in self.stages.iter().enumerate() {
            if index > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}

impl PipelineExpr {
    fn precedence(&self) -> u8 {
        match self {
            PipelineExpr::Wrapped(_) => ATOM,
            PipelineExpr::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for PipelineExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PipelineExpr::Wrapped(pipeline) => write!(f, "({pipeline})"),
            PipelineExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                false,
            ),
        }
    }
}

impl ScalarPipelineExpr {
    fn precedence(&self) -> u8 {
        match self {
            ScalarPipelineExpr::Pipeline { .. } => ATOM,
            ScalarPipelineExpr::Constant(constant) => constant.precedence(),
            ScalarPipelineExpr::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for ScalarPipelineExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarPipelineExpr::Pipeline {
                pipeline,
                aggregate,
            } => write!(f, "({pipeline} | {aggregate})"),
            ScalarPipelineExpr::Constant(constant) => Display::fmt(constant, f),
            ScalarPipelineExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                *op == ArithOp::Pow,
            ),
        }
    }
}

impl Display for ScalarPipelineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

fn write_by(f: &mut Formatter<'_>, by: &[Attribute]) -> fmt::Result {
    if by.is_empty() {
        return Ok(());
    }
    f.write_str(" by (")?;
    write_list(f, by)?;
    f.write_char(')')
}

impl Display for MetricsFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFunction::Rate { by } => {
                f.write_str("rate()")?;
                write_by(f, by)
            }
            MetricsFunction::CountOverTime { by } => {
                f.write_str("count_over_time()")?;
                write_by(f, by)
            }
            MetricsFunction::OverTime {
                function,
                attribute,
                by,
            } => {
                write!(f, "{}({attribute})", function.name())?;
                write_by(f, by)
            }
            MetricsFunction::QuantileOverTime {
                attribute,
                quantiles,
                by,
            } => {
                write!(f, "quantile_over_time({attribute}")?;
                for quantile in quantiles {
                    f.write_str(", ")?;
                    write_float(f, *quantile)?;
                }
                f.write_char(')')?;
                write_by(f, by)
            }
            MetricsFunction::Compare {
                filter,
                top_n,
                window,
            } => {
                write!(f, "compare({{ {filter} }}")?;
                // a window cannot be written without top_n; 10 is Tempo's default
                if top_n.is_some() || window.is_some() {
                    write!(f, ", {}", top_n.unwrap_or(10))?;
                }
                if let Some((start, end)) = window {
                    write!(f, ", {start}, {end}")?;
                }
                f.write_char(')')
            }
        }
    }
}

impl Display for SecondStageOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SecondStageOp::TopK(limit) => write!(f, " | topk({limit})"),
            SecondStageOp::BottomK(limit) => write!(f, " | bottomk({limit})"),
            SecondStageOp::Filter { op, value } => write!(f, " {} {value}", op.symbol()),
        }
    }
}

impl Display for MetricsQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} | {}", self.pipeline, self.function)?;
        self.second_stage
            .iter()
            .try_for_each(|op| write!(f, "{op}"))
    }
}

impl MetricsExpr {
    fn precedence(&self) -> u8 {
        match self {
            MetricsExpr::Query(_) => ATOM,
            MetricsExpr::Scalar(constant) => constant.precedence(),
            MetricsExpr::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for MetricsExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsExpr::Query(query) => write!(f, "({query})"),
            MetricsExpr::Scalar(constant) => Display::fmt(constant, f),
            MetricsExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                false,
            ),
        }
    }
}

impl Display for MetricsRoot {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            MetricsExpr::Query(query) if self.second_stage.is_empty() => write!(f, "{query}"),
            expr => write!(f, "{expr}"),
        }?;
        self.second_stage
            .iter()
            .try_for_each(|op| write!(f, "{op}"))
    }
}

impl Display for Body {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Body::Pipeline(pipeline) => Display::fmt(pipeline, f),
            Body::PipelineExpr(expr) => Display::fmt(expr, f),
            Body::ScalarPipelineFilter(filter) => Display::fmt(filter, f),
            Body::Metrics(metrics) => Display::fmt(metrics, f),
        }
    }
}

impl Display for RootExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.body)?;
        if self.hints.is_empty() {
            return Ok(());
        }
        f.write_str(" with(")?;
        for (index, hint) in self.hints.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", hint.name, hint.value)?;
        }
        f.write_char(')')
    }
}
