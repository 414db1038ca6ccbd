//! Canonical printing. Every node implements `Display`; the output parses back to the same
//! AST. Parentheses are added only where precedence requires them, strings are back-quoted
//! when possible, scoped intrinsics print their legacy names (`span:duration` → `duration`).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::ident::is_attribute_terminator;

/// Precedence of atoms (never parenthesised).
const ATOM: u8 = 10;
/// Precedence of prefix `-` on a constant.
const CONSTANT_NEG: u8 = 8;
/// Precedence of prefix `-` / `!` in field expressions (the level they bind at).
const FIELD_NEG: u8 = 4;
const FIELD_NOT: u8 = 5;

fn write_operand(f: &mut Formatter<'_>, operand: &dyn Display, parenthesise: bool) -> fmt::Result {
    if parenthesise { write!(f, "({operand})") } else { write!(f, "{operand}") }
}

/// Writes `lhs op rhs`, parenthesising operands by precedence (`right_assoc` for `^`).
fn write_binary(
    f: &mut Formatter<'_>,
    (lhs, lhs_precedence): (&dyn Display, u8),
    symbol: &str,
    (rhs, rhs_precedence): (&dyn Display, u8),
    precedence: u8,
    right_assoc: bool,
) -> fmt::Result {
    let (lhs_parens, rhs_parens) = if right_assoc {
        (lhs_precedence <= precedence, rhs_precedence < precedence)
    } else {
        (lhs_precedence < precedence, rhs_precedence <= precedence)
    };
    write_operand(f, lhs, lhs_parens)?;
    write!(f, " {symbol} ")?;
    write_operand(f, rhs, rhs_parens)
}

/// Formats a duration so that it lexes back to the same number of nanoseconds.
fn write_duration(f: &mut Formatter<'_>, nanos: i64) -> fmt::Result {
    if nanos == 0 {
        return f.write_str("0s");
    }
    let mut remaining = nanos.unsigned_abs();
    if nanos < 0 {
        f.write_char('-')?;
    }
    const UNITS: [(&str, u64); 6] =
        [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)];
    for (unit, size) in UNITS {
        let amount = remaining / size;
        if amount > 0 {
            write!(f, "{amount}{unit}")?;
            remaining %= size;
        }
    }
    Ok(())
}

fn write_float(f: &mut Formatter<'_>, value: f64) -> fmt::Result {
    // Debug gives the shortest text that reads back to the same value, with a '.' or an
    // exponent, so it lexes as a float again.
    write!(f, "{value:?}")
}

/// Writes a string literal: back-quoted when possible, else double-quoted with Go escapes.
pub(crate) fn write_string(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    if !value.contains(['`', '\r']) {
        return write!(f, "`{value}`");
    }
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for Static {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Static::Nil => f.write_str("nil"),
            Static::Bool(value) => write!(f, "{value}"),
            Static::Int(i64::MIN) => f.write_str("minInt"),
            Static::Int(value) => write!(f, "{value}"),
            Static::Float(value) => write_float(f, *value),
            Static::String(value) => write_string(f, value),
            Static::Duration(nanos) => write_duration(f, *nanos),
            Static::Status(status) => Display::fmt(status, f),
            Static::Kind(kind) => Display::fmt(kind, f),
        }
    }
}

impl Display for Status {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Unset => "unset",
        })
    }
}

impl Display for SpanKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        })
    }
}

impl Intrinsic {
    /// The canonical (legacy where one exists) name, e.g. `duration` for `span:duration`.
    pub fn canonical_name(self) -> &'static str {
        match self {
            Intrinsic::Duration => "duration",
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Parent => "parent",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::TraceRootName => "rootName",
            Intrinsic::TraceRootService => "rootServiceName",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::SpanId => "span:id",
            Intrinsic::SpanParentId => "span:parentID",
            Intrinsic::SpanChildCount => "span:childCount",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }
}

impl AttributeScope {
    /// The prefix written before the attribute name.
    pub fn prefix(self) -> &'static str {
        match self {
            AttributeScope::Unscoped => ".",
            AttributeScope::Span => "span.",
            AttributeScope::Resource => "resource.",
            AttributeScope::Event => "event.",
            AttributeScope::Link => "link.",
            AttributeScope::Instrumentation => "instrumentation.",
            AttributeScope::Parent => "parent.",
            AttributeScope::ParentSpan => "parent.span.",
            AttributeScope::ParentResource => "parent.resource.",
        }
    }
}

fn name_needs_quotes(scope: AttributeScope, name: &str) -> bool {
    name.is_empty()
        || name.contains(|c: char| c == '"' || c == '\\' || is_attribute_terminator(c))
        || (scope == AttributeScope::Unscoped && name.starts_with(|c: char| c.is_ascii_digit()))
        || (scope == AttributeScope::Parent && (name.starts_with("span.") || name.starts_with("resource.")))
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Intrinsic(intrinsic) => f.write_str(intrinsic.canonical_name()),
            Attribute::Custom { scope, name } => {
                f.write_str(scope.prefix())?;
                if !name_needs_quotes(*scope, name) {
                    return f.write_str(name);
                }
                f.write_char('"')?;
                for c in name.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
        }
    }
}

impl FieldExpr {
    fn precedence(&self) -> u8 {
        match self {
            FieldExpr::Static(_) | FieldExpr::Attribute(_) => ATOM,
            FieldExpr::Unary { op: UnaryOp::Neg, .. } => FIELD_NEG,
            FieldExpr::Unary { op: UnaryOp::Not, .. } => FIELD_NOT,
            FieldExpr::Binary { op, .. } => op.precedence(),
        }
    }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(value) => Display::fmt(value, f),
            FieldExpr::Attribute(attribute) => Display::fmt(attribute, f),
            FieldExpr::Unary { op, operand } => {
                let (symbol, operand_min) = match op {
                    UnaryOp::Neg => ('-', FIELD_NEG + 1),
                    UnaryOp::Not => ('!', FIELD_NOT + 1),
                };
                f.write_char(symbol)?;
                write_operand(f, operand.as_ref(), operand.precedence() < operand_min)
            }
            FieldExpr::Binary { op, lhs, rhs } => write_binary(
                f,
                (lhs.as_ref(), lhs.precedence()),
                op.symbol(),
                (rhs.as_ref(), rhs.precedence()),
                op.precedence(),
                *op == FieldOp::Pow,
            ),
        }
    }
}

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
            ScalarPipelineExpr::Pipeline { pipeline, aggregate } => write!(f, "({pipeline} | {aggregate})"),
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
            MetricsFunction::OverTime { function, attribute, by } => {
                write!(f, "{}({attribute})", function.name())?;
                write_by(f, by)
            }
            MetricsFunction::QuantileOverTime { attribute, quantiles, by } => {
                write!(f, "quantile_over_time({attribute}")?;
                for quantile in quantiles {
                    f.write_str(", ")?;
                    write_float(f, *quantile)?;
                }
                f.write_char(')')?;
                write_by(f, by)
            }
            MetricsFunction::Compare { filter, top_n, window } => {
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
        self.second_stage.iter().try_for_each(|op| write!(f, "{op}"))
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
        self.second_stage.iter().try_for_each(|op| write!(f, "{op}"))
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
