//! Run-time values of span fields and the comparison semantics of TraceQL (spec §7), shared by
//! the evaluator and by every data source that evaluates pushed-down conditions, so that a
//! source never selects differently from what the engine would decide.
//!
//! Rules (../shared/spec/traceql.md §7.1, §7.2, §7.6; ADR 006 records the quirk choices):
//! - a comparison with nil is false, for every operator including `!=`;
//! - int with int (and duration with duration) compare exactly; any other numeric mix compares
//!   as `f64` (durations as nanoseconds);
//! - strings: `=`/`!=` exact, `< <= > >=` byte-wise;
//! - bool, status and kind: only `=` / `!=` against the same type;
//! - mismatched types are false, never an error;
//! - arrays: `= < <= > >=` hold if some element satisfies them, `!=` only if no element is equal
//!   (the documented engine semantics, not Tempo's end-to-end quirk); comparing two arrays is an
//!   error;
//! - regexes are fully anchored (`^(?s:…)$`); `=~` on an array holds if some element matches,
//!   `!~` if none does; a non-string value never matches either.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::ast::{SpanKind, Static, Status};

/// A value read from a span (or computed from one).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Missing attribute, or a value type TraceQL cannot compare (bytes, key-value lists).
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Arc<str>),
    /// Nanoseconds.
    Duration(i64),
    Status(Status),
    Kind(SpanKind),
    /// An array attribute value; elements are scalars (never `Nil` or `Array`).
    Array(Arc<[Value]>),
}

/// The comparison operators of conditions and field expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// The operator as written in a query.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// The same comparison with its operands swapped (`1 < x` is `x > 1`).
    pub fn flipped(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Eq,
            CompareOp::Ne => CompareOp::Ne,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
        }
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
        }
    }
}

/// A comparison that fails the whole query (spec §7.6: two arrays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
}

impl Value {
    /// The run-time value of a literal. `Static::Nil` becomes `Value::Nil`.
    pub fn from_static(value: &Static) -> Value {
        match value {
            Static::Nil => Value::Nil,
            Static::Bool(value) => Value::Bool(*value),
            Static::Int(value) => Value::Int(*value),
            Static::Float(value) => Value::Float(*value),
            Static::String(value) => Value::String(Arc::from(value.as_str())),
            Static::Duration(nanos) => Value::Duration(*nanos),
            Static::Status(status) => Value::Status(*status),
            Static::Kind(kind) => Value::Kind(*kind),
        }
    }

    /// A string value.
    pub fn string(text: &str) -> Value {
        Value::String(Arc::from(text))
    }

    /// `true` for `Value::Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The value as `f64` when it is numeric (durations in nanoseconds).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(value) | Value::Duration(value) => Some(*value as f64),
            Value::Float(value) => Some(*value),
            _ => None,
        }
    }

    /// The value's type name as Tempo prints it in errors (`int`, `string`, `nil`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Duration(_) => "duration",
            Value::Status(_) => "status",
            Value::Kind(_) => "kind",
            Value::Array(_) => "array",
        }
    }

    /// Approximate heap and inline bytes, for memory budgets.
    pub fn memory_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::String(text) => text.len(),
                Value::Array(items) => items.iter().map(Value::memory_size).sum(),
                _ => 0,
            }
    }
}

/// Ordering of two scalars under TraceQL's rules, or `None` when they are not comparable
/// (different types, nil, arrays). `ordered` is false for types that only support `=`/`!=`.
fn scalar_ordering(lhs: &Value, rhs: &Value) -> Option<(Ordering, bool)> {
    match (lhs, rhs) {
        (Value::Int(left), Value::Int(right)) | (Value::Duration(left), Value::Duration(right)) => {
            Some((left.cmp(right), true))
        }
        (Value::String(left), Value::String(right)) => {
            Some((left.as_bytes().cmp(right.as_bytes()), true))
        }
        (Value::Bool(left), Value::Bool(right)) => Some((left.cmp(right), false)),
        (Value::Status(left), Value::Status(right)) => Some((
            if left == right {
                Ordering::Equal
            } else {
                Ordering::Less
            },
            false,
        )),
        (Value::Kind(left), Value::Kind(right)) => Some((
            if left == right {
                Ordering::Equal
            } else {
                Ordering::Less
            },
            false,
        )),
        _ => {
            let (left, right) = (lhs.as_f64()?, rhs.as_f64()?);
            // NaN compares unequal to everything (IEEE), so `!=` holds and nothing else does.
            Some((
                left.partial_cmp(&right).unwrap_or(Ordering::Less),
                !left.is_nan() && !right.is_nan(),
            ))
        }
    }
}

fn compare_scalars(op: CompareOp, lhs: &Value, rhs: &Value) -> bool {
    match scalar_ordering(lhs, rhs) {
        Some((ordering, true)) => op.holds(ordering),
        Some((ordering, false)) => match op {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            _ => false,
        },
        None => false,
    }
}

/// `lhs OP rhs` under TraceQL's rules (module docs). Errors only for two arrays.
pub fn compare(op: CompareOp, lhs: &Value, rhs: &Value) -> Result<bool, ValueError> {
    match (lhs, rhs) {
        (Value::Nil, _) | (_, Value::Nil) => Ok(false),
        (Value::Array(_), Value::Array(_)) => Err(ValueError {
            message: "cannot compare two arrays".to_owned(),
        }),
        (Value::Array(items), scalar) => Ok(compare_array(op, items, scalar, false)),
        (scalar, Value::Array(items)) => Ok(compare_array(op, items, scalar, true)),
        _ => Ok(compare_scalars(op, lhs, rhs)),
    }
}

fn compare_array(op: CompareOp, items: &[Value], scalar: &Value, array_on_right: bool) -> bool {
    let element_holds = |item: &Value| {
        if array_on_right {
            compare_scalars(op, scalar, item)
        } else {
            compare_scalars(op, item, scalar)
        }
    };
    match op {
        // "no element is equal": an empty array is != anything
        CompareOp::Ne => !items
            .iter()
            .any(|item| compare_scalars(CompareOp::Eq, item, scalar)),
        _ => items.iter().any(element_holds),
    }
}

/// Compiles a TraceQL regex literal, anchored as Tempo anchors it.
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{pattern})$"))
}

/// `value =~ regex` (or `!~` when `negated`) under TraceQL's rules (module docs).
pub fn matches_regex(value: &Value, regex: &Regex, negated: bool) -> bool {
    match value {
        Value::String(text) => regex.is_match(text) != negated,
        Value::Array(items) => {
            let any = items
                .iter()
                .any(|item| matches!(item, Value::String(text) if regex.is_match(text)));
            if negated {
                !any && items.iter().all(|item| matches!(item, Value::String(_)))
            } else {
                any
            }
        }
        _ => false,
    }
}

/// Normalises a hex ID for comparison: lowercase, leading zeros stripped (`"00ab"` ≡ `"ab"`).
/// Every ID intrinsic (`trace:id`, `span:id`, `span:parentID`, `link:traceID`, `link:spanID`)
/// compares this way, so an ID whose first byte is `00` is found whichever way it is written
/// (Tempo's byte-wise comparison misses them: a bug we do not copy, see ADR 006).
pub fn normalize_hex_id(hex: &str) -> String {
    let trimmed = hex.trim_start_matches('0');
    trimmed.to_ascii_lowercase()
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Float(value) => write!(f, "{value}"),
            Value::String(text) => f.write_str(text),
            Value::Duration(nanos) => write!(f, "{}", format_go_duration(*nanos)),
            Value::Status(status) => f.write_str(match status {
                Status::Ok => "ok",
                Status::Error => "error",
                Status::Unset => "unset",
            }),
            Value::Kind(kind) => f.write_str(match kind {
                SpanKind::Unspecified => "unspecified",
                SpanKind::Internal => "internal",
                SpanKind::Server => "server",
                SpanKind::Client => "client",
                SpanKind::Producer => "producer",
                SpanKind::Consumer => "consumer",
            }),
            Value::Array(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A duration as Go's `time.Duration.String()` prints it (`1.5s`, `100ms`, `2m30s`, `0s`), which
/// is how Tempo renders duration attributes in search results.
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let negative = nanos < 0;
    let magnitude = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if magnitude < 1_000 {
        return format!("{sign}{magnitude}ns");
    }
    if magnitude < 1_000_000 {
        return format!("{sign}{}µs", trim_fraction(magnitude, 1_000));
    }
    if magnitude < 1_000_000_000 {
        return format!("{sign}{}ms", trim_fraction(magnitude, 1_000_000));
    }
    let total_seconds = magnitude / 1_000_000_000;
    let fraction_nanos = magnitude % 1_000_000_000;
    let hours = total_seconds / 3600;
    let minutes = (total_seconds % 3600) / 60;
    let seconds = total_seconds % 60;
    let seconds_text = trim_fraction(seconds * 1_000_000_000 + fraction_nanos, 1_000_000_000);
    let mut out = String::from(sign);
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds_text}s"));
    out
}

/// `value / unit` with the fraction printed without trailing zeros (`1500, 1000` → `1.5`).
fn trim_fraction(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = unit.ilog10() as usize;
    let text = format!("{fraction:0digits$}");
    format!("{whole}.{}", text.trim_end_matches('0'))
}

#[cfg(test)]
mod tests;
