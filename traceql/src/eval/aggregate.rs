//! Aggregates over the spans of a spanset (spec §8.4): `count()`, and `sum/min/max/avg(e)`
//! over the numeric values of `e`, nil and non-numeric values skipped; a spanset without any
//! numeric value has no aggregate. All ints sum to an int and all durations to a duration;
//! any other mix sums as floats (the documented semantics; Tempo drops values whose type
//! differs from the first, a quirk ADR 006 declines). `avg` of ints is a float, of durations
//! a duration (truncated to the nanosecond); `min`/`max` compare numerically and keep the
//! value's type.

use crate::eval::error::QueryError;
use crate::eval::field::Scope;
use crate::eval::program::AggregateFn;
use crate::value::Value;

/// The aggregate of `rows`, or `None` when it has no value.
pub fn aggregate(
    function: &AggregateFn,
    scope: &Scope<'_, '_>,
    rows: &[u32],
) -> Result<Option<Value>, QueryError> {
    let expr = match function {
        AggregateFn::Count => return Ok(Some(Value::Int(rows.len() as i64))),
        AggregateFn::Avg(expr)
        | AggregateFn::Min(expr)
        | AggregateFn::Max(expr)
        | AggregateFn::Sum(expr) => expr,
    };
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let value = scope.value_of(expr, *row as usize)?;
        if value.as_f64().is_some() {
            values.push(value.into_owned());
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(match function {
        AggregateFn::Count => Value::Int(rows.len() as i64),
        AggregateFn::Sum(_) => sum(&values),
        AggregateFn::Avg(_) => average(&values),
        AggregateFn::Min(_) => extreme(&values, |candidate, best| candidate < best),
        AggregateFn::Max(_) => extreme(&values, |candidate, best| candidate > best),
    }))
}

fn all_ints(values: &[Value]) -> bool {
    values.iter().all(|value| matches!(value, Value::Int(_)))
}

fn all_durations(values: &[Value]) -> bool {
    values
        .iter()
        .all(|value| matches!(value, Value::Duration(_)))
}

fn integer_sum(values: &[Value]) -> i128 {
    values
        .iter()
        .map(|value| match value {
            Value::Int(value) | Value::Duration(value) => i128::from(*value),
            _ => 0,
        })
        .sum()
}

fn float_sum(values: &[Value]) -> f64 {
    values.iter().filter_map(Value::as_f64).sum()
}

fn sum(values: &[Value]) -> Value {
    if all_ints(values) {
        Value::Int(integer_sum(values) as i64)
    } else if all_durations(values) {
        Value::Duration(integer_sum(values) as i64)
    } else {
        Value::Float(float_sum(values))
    }
}

fn average(values: &[Value]) -> Value {
    let count = values.len();
    if all_durations(values) {
        Value::Duration((integer_sum(values) / count as i128) as i64)
    } else if all_ints(values) {
        Value::Float(integer_sum(values) as f64 / count as f64)
    } else {
        Value::Float(float_sum(values) / count as f64)
    }
}

fn extreme(values: &[Value], better: impl Fn(f64, f64) -> bool) -> Value {
    let mut best = &values[0];
    for value in &values[1..] {
        if let (Some(candidate), Some(current)) = (value.as_f64(), best.as_f64())
            && better(candidate, current)
        {
            best = value;
        }
    }
    best.clone()
}
