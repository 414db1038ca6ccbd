//! Canonical printing. Every node implements `Display`; the output parses back to the same
//! AST. Parentheses are added only where precedence requires them, strings are back-quoted
//! when possible, scoped intrinsics print their legacy names (`span:duration` → `duration`).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::parse::ident::is_attribute_terminator;

/// Precedence of atoms (never parenthesised).
const ATOM: u8 = 10;
/// Precedence of prefix `-` on a constant.
const CONSTANT_NEG: u8 = 8;
/// Precedence of prefix `-` / `!` in field expressions (the level they bind at).
const FIELD_NEG: u8 = 4;
const FIELD_NOT: u8 = 5;

fn write_operand(f: &mut Formatter<'_>, operand: &dyn Display, parenthesise: bool) -> fmt::Result {
    if parenthesise {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
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
    const UNITS: [(&str, u64); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
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
    if !value.contains(|c: char| c == '`' || c.is_control()) {
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
