//! Folding of numeric constants (`1 + 2`, `-5`, `100 / 3`): int with int stays int (Go
//! semantics, truncating division), anything with a float becomes float.

use crate::ast::{ArithOp, Constant, Static};
use crate::error::{Error, Result};

impl Constant {
    /// Folds the constant to an int, float or duration value.
    pub fn evaluate(&self) -> Result<Static> {
        match self {
            Constant::Int(value) => Ok(Static::Int(*value)),
            Constant::Float(value) => Ok(Static::Float(*value)),
            Constant::Duration(nanos) => Ok(Static::Duration(*nanos)),
            Constant::Neg(operand) => match operand.evaluate()? {
                Static::Int(value) => value.checked_neg().map(Static::Int).ok_or_else(overflow),
                Static::Duration(nanos) => nanos
                    .checked_neg()
                    .map(Static::Duration)
                    .ok_or_else(overflow),
                Static::Float(value) => Ok(Static::Float(-value)),
                _ => Err(Error::validate("expected a number")),
            },
            Constant::Binary { op, lhs, rhs } => fold(*op, lhs.evaluate()?, rhs.evaluate()?),
        }
    }
}

fn overflow() -> Error {
    Error::validate("integer overflow in constant expression")
}

fn as_float(value: &Static) -> Option<f64> {
    match value {
        Static::Int(value) => Some(*value as f64),
        Static::Float(value) => Some(*value),
        _ => None,
    }
}

fn fold(op: ArithOp, lhs: Static, rhs: Static) -> Result<Static> {
    if let (Static::Int(left), Static::Int(right)) = (&lhs, &rhs) {
        let (left, right) = (*left, *right);
        let result = match op {
            ArithOp::Add => left.checked_add(right),
            ArithOp::Sub => left.checked_sub(right),
            ArithOp::Mul => left.checked_mul(right),
            ArithOp::Div | ArithOp::Mod if right == 0 => {
                return Err(Error::validate("division by zero in constant expression"));
            }
            ArithOp::Div => left.checked_div(right),
            ArithOp::Mod => left.checked_rem(right),
            ArithOp::Pow => u32::try_from(right)
                .ok()
                .and_then(|exponent| left.checked_pow(exponent)),
        };
        return result.map(Static::Int).ok_or_else(overflow);
    }
    let (Some(left), Some(right)) = (as_float(&lhs), as_float(&rhs)) else {
        return Err(Error::validate(
            "durations cannot take part in constant arithmetic",
        ));
    };
    let result = match op {
        ArithOp::Add => left + right,
        ArithOp::Sub => left - right,
        ArithOp::Mul => left * right,
        ArithOp::Div => left / right,
        ArithOp::Mod => left % right,
        ArithOp::Pow => left.powf(right),
    };
    Ok(Static::Float(result))
}
