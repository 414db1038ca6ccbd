//! Canonical printing. Every node implements `Display`; the output parses back to the same
//! AST. Parentheses are added only where precedence requires them, strings are back-quoted
//! when possible, scoped intrinsics print their legacy names (`span:duration` → `duration`).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::parse::ident::is_attribute_terminator;

mod format;

use format::{
    ATOM, FIELD_NEG, FIELD_NOT, write_binary, write_duration, write_float, write_operand,
    write_string,
};

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
        || (scope == AttributeScope::Parent
            && (name.starts_with("span.") || name.starts_with("resource.")))
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
            FieldExpr::Unary {
                op: UnaryOp::Neg, ..
            } => FIELD_NEG,
            FieldExpr::Unary {
                op: UnaryOp::Not, ..
            } => FIELD_NOT,
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

mod query;
