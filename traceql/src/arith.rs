//! Arithmetic and prefix operators on run-time values (spec §7.3, §7.1):
//! - int with int stays int: `+ - *` wrap like Go, `/` truncates, `%` is Go's remainder, and
//!   division or remainder by zero is a query error;
//! - any other numeric mix is `f64` (durations as nanoseconds), IEEE for division by zero;
//! - `^` is `lhs` to the power `rhs` (the documented semantics; Tempo computes `rhs ^ lhs` for
//!   two ints, a quirk ADR 006 declines): an int when both are ints and the result fits, else
//!   a float;
//! - a nil (or non-numeric) operand yields `false`, so every comparison of the result is false;
//! - an array operand is a query error;
//! - `-` keeps the type (int, float, duration); `!` needs a bool. On nil both are answered by
//!   [`UnaryOutcome::Nil`], which the evaluator turns into a query error or a non-match
//!   depending on where the operator sits (ADR 006).

use crate::ast::ArithOp;
use crate::value::{Value, ValueError};

fn error(message: impl Into<String>) -> ValueError {
    ValueError {
        message: message.into(),
    }
}

/// `lhs OP rhs` under TraceQL's rules (module docs).
pub fn arithmetic(op: ArithOp, lhs: &Value, rhs: &Value) -> Result<Value, ValueError> {
    if matches!(lhs, Value::Array(_)) || matches!(rhs, Value::Array(_)) {
        return Err(error(format!(
            "arithmetic '{}' is not defined on arrays",
            op.symbol()
        )));
    }
    if let (Value::Int(left), Value::Int(right)) = (lhs, rhs) {
        return int_arithmetic(op, *left, *right);
    }
    let (Some(left), Some(right)) = (lhs.as_f64(), rhs.as_f64()) else {
        return Ok(Value::Bool(false));
    };
    Ok(Value::Float(match op {
        ArithOp::Add => left + right,
        ArithOp::Sub => left - right,
        ArithOp::Mul => left * right,
        ArithOp::Div => left / right,
        ArithOp::Mod => left % right,
        ArithOp::Pow => left.powf(right),
    }))
}

fn int_arithmetic(op: ArithOp, left: i64, right: i64) -> Result<Value, ValueError> {
    Ok(Value::Int(match op {
        ArithOp::Add => left.wrapping_add(right),
        ArithOp::Sub => left.wrapping_sub(right),
        ArithOp::Mul => left.wrapping_mul(right),
        ArithOp::Div if right == 0 => return Err(error("integer division by zero")),
        ArithOp::Mod if right == 0 => return Err(error("integer modulo by zero")),
        ArithOp::Div => left.wrapping_div(right),
        ArithOp::Mod => left.wrapping_rem(right),
        ArithOp::Pow => {
            let exact = u32::try_from(right)
                .ok()
                .and_then(|exponent| left.checked_pow(exponent));
            match exact {
                Some(value) => value,
                None => return Ok(Value::Float((left as f64).powf(right as f64))),
            }
        }
    }))
}

/// What a prefix operator made of its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum UnaryOutcome {
    Value(Value),
    /// The operand was nil (a missing attribute).
    Nil,
}

/// `-value`: ints wrap like Go, durations stay durations.
pub fn negate(value: &Value) -> Result<UnaryOutcome, ValueError> {
    Ok(UnaryOutcome::Value(match value {
        Value::Nil => return Ok(UnaryOutcome::Nil),
        Value::Int(value) => Value::Int(value.wrapping_neg()),
        Value::Float(value) => Value::Float(-value),
        Value::Duration(nanos) => Value::Duration(nanos.wrapping_neg()),
        other => {
            return Err(error(format!(
                "expected a number for unary '-', but got {}",
                other.type_name()
            )));
        }
    }))
}

/// `!value`.
pub fn not(value: &Value) -> Result<UnaryOutcome, ValueError> {
    match value {
        Value::Nil => Ok(UnaryOutcome::Nil),
        Value::Bool(value) => Ok(UnaryOutcome::Value(Value::Bool(!value))),
        other => Err(error(format!(
            "expected a boolean for '!', but got {}",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i64) -> Value {
        Value::Int(value)
    }

    #[test]
    fn int_arithmetic_follows_go() {
        assert_eq!(arithmetic(ArithOp::Div, &int(1), &int(10)), Ok(int(0)));
        assert_eq!(arithmetic(ArithOp::Div, &int(-7), &int(2)), Ok(int(-3)));
        assert_eq!(arithmetic(ArithOp::Mod, &int(-7), &int(2)), Ok(int(-1)));
        assert_eq!(
            arithmetic(ArithOp::Add, &int(i64::MAX), &int(1)),
            Ok(int(i64::MIN))
        );
        assert!(arithmetic(ArithOp::Div, &int(1), &int(0)).is_err());
        assert!(arithmetic(ArithOp::Mod, &int(1), &int(0)).is_err());
    }

    #[test]
    fn power_is_left_to_the_right() {
        assert_eq!(arithmetic(ArithOp::Pow, &int(2), &int(3)), Ok(int(8)));
        assert_eq!(
            arithmetic(ArithOp::Pow, &int(2), &int(-1)),
            Ok(Value::Float(0.5))
        );
        assert_eq!(
            arithmetic(ArithOp::Pow, &Value::Float(2.0), &int(3)),
            Ok(Value::Float(8.0))
        );
    }

    #[test]
    fn mixed_numbers_are_floats_and_nil_is_false() {
        // 2m * 2 is the float 2.4e11 (spec §7.3)
        assert_eq!(
            arithmetic(ArithOp::Mul, &Value::Duration(120_000_000_000), &int(2)),
            Ok(Value::Float(2.4e11))
        );
        assert_eq!(
            arithmetic(ArithOp::Div, &Value::Float(1.0), &Value::Float(0.0)),
            Ok(Value::Float(f64::INFINITY))
        );
        assert_eq!(
            arithmetic(ArithOp::Add, &Value::Nil, &int(1)),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            arithmetic(ArithOp::Add, &Value::string("a"), &int(1)),
            Ok(Value::Bool(false))
        );
        let array = Value::Array(vec![int(1)].into());
        assert!(arithmetic(ArithOp::Add, &array, &int(3)).is_err());
    }

    #[test]
    fn prefix_operators() {
        assert_eq!(
            negate(&Value::Duration(5)),
            Ok(UnaryOutcome::Value(Value::Duration(-5)))
        );
        assert_eq!(negate(&Value::Nil), Ok(UnaryOutcome::Nil));
        assert!(negate(&Value::Bool(true)).is_err());
        assert_eq!(
            not(&Value::Bool(false)),
            Ok(UnaryOutcome::Value(Value::Bool(true)))
        );
        assert_eq!(not(&Value::Nil), Ok(UnaryOutcome::Nil));
        assert!(not(&Value::string("x")).is_err());
    }
}
