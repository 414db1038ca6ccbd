//! Predicates on one leaf column, evaluated at three levels: against the min/max statistics of a
//! column chunk or of one page (may any value match?), against a chunk's dictionary (does any
//! distinct value match?), and row by row over decoded Arrow arrays (which rows match?).
//!
//! The rules are those of a typed query language over Parquet values, nothing more: nulls never
//! match; integers compare with integers exactly; any other numeric mix compares as `f64` (so an
//! integer column sees a float literal, and `1.0` equals `1`); byte strings compare byte-wise;
//! booleans support only `=` and `!=`; a literal of another kind matches nothing. A NaN literal
//! is different from everything (`!=` holds, nothing else).

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBufferBuilder, Float64Array, Int64Array, Scalar,
    StringArray,
};
use arrow::datatypes::DataType;

pub use super::compare::CompareOp;
use super::compare::kernel;

/// A literal a predicate compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Bytes(Arc<[u8]>),
    Bool(bool),
}

impl Literal {
    /// A byte-string literal from text.
    pub fn text(value: &str) -> Literal {
        Literal::Bytes(Arc::from(value.as_bytes()))
    }
}

/// A value as statistics and dictionaries give it (borrowed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatValue<'a> {
    Int(i64),
    Float(f64),
    Bytes(&'a [u8]),
    Bool(bool),
}

/// What must hold for a value of one leaf column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnPredicate {
    /// `value OP literal`.
    Compare { op: CompareOp, literal: Literal },
    /// The integer value is one of these (sorted, no duplicates).
    IntIn(Arc<[i64]>),
    /// The value is not null.
    NotNull,
}

/// `value OP literal` under the module's rules, or `None` when they cannot be compared.
fn ordering(value: StatValue<'_>, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (StatValue::Int(value), Literal::Int(literal)) => Some(value.cmp(literal)),
        (StatValue::Bytes(value), Literal::Bytes(literal)) => Some(value.cmp(literal.as_ref())),
        (StatValue::Bool(value), Literal::Bool(literal)) => Some(value.cmp(literal)),
        (StatValue::Int(value), Literal::Float(literal)) => (value as f64).partial_cmp(literal),
        (StatValue::Float(value), Literal::Int(literal)) => value.partial_cmp(&(*literal as f64)),
        (StatValue::Float(value), Literal::Float(literal)) => value.partial_cmp(literal),
        _ => None,
    }
}

fn is_nan(literal: &Literal) -> bool {
    matches!(literal, Literal::Float(value) if value.is_nan())
}

impl ColumnPredicate {
    /// Whether `value` satisfies the predicate.
    pub fn matches(&self, value: StatValue<'_>) -> bool {
        match self {
            ColumnPredicate::Compare { op, literal } => {
                let bool_order_only = matches!(literal, Literal::Bool(_))
                    && !matches!(op, CompareOp::Eq | CompareOp::Ne);
                if bool_order_only {
                    return false;
                }
                match ordering(value, literal) {
                    Some(order) => op.holds(order),
                    // NaN on either side: only `!=` holds; other kinds: nothing.
                    None => {
                        *op == CompareOp::Ne
                            && (is_nan(literal)
                                || matches!(value, StatValue::Float(v) if v.is_nan()))
                    }
                }
            }
            ColumnPredicate::IntIn(set) => match value {
                StatValue::Int(value) => set.binary_search(&value).is_ok(),
                _ => false,
            },
            ColumnPredicate::NotNull => true,
        }
    }

    /// Whether a column chunk or page whose non-null values lie in `[min, max]` may hold a
    /// matching value. `all_null`: the chunk or page has only nulls. Missing bounds: maybe.
    pub fn may_match_range(
        &self,
        min: Option<StatValue<'_>>,
        max: Option<StatValue<'_>>,
        all_null: bool,
    ) -> bool {
        if all_null {
            return false;
        }
        let (Some(min), Some(max)) = (min, max) else {
            return true;
        };
        match self {
            ColumnPredicate::NotNull => true,
            ColumnPredicate::IntIn(set) => match (min, max) {
                (StatValue::Int(min), StatValue::Int(max)) => {
                    let first = set.partition_point(|value| *value < min);
                    set.get(first).is_some_and(|value| *value <= max)
                }
                _ => true,
            },
            ColumnPredicate::Compare { op, literal } => {
                if is_nan(literal) {
                    return *op == CompareOp::Ne;
                }
                let (Some(low), Some(high)) = (ordering(min, literal), ordering(max, literal))
                else {
                    // Not comparable (other kind, NaN bounds): decide per value later.
                    return comparable_kinds(min, literal);
                };
                match op {
                    CompareOp::Eq => low != Ordering::Greater && high != Ordering::Less,
                    CompareOp::Ne => !(low == Ordering::Equal && high == Ordering::Equal),
                    CompareOp::Lt => low == Ordering::Less,
                    CompareOp::Le => low != Ordering::Greater,
                    CompareOp::Gt => high == Ordering::Greater,
                    CompareOp::Ge => high != Ordering::Less,
                }
            }
        }
    }

    /// Row by row over a decoded column (`Int8..Int64`, `UInt8..UInt64`, `Float32/64`, `Utf8`,
    /// `Binary`, `FixedSizeBinary`, `Boolean`); nulls give `false`. A column of a kind the
    /// literal cannot compare with gives all `false`.
    pub fn evaluate(&self, array: &dyn Array) -> Result<BooleanArray, arrow::error::ArrowError> {
        let mask = match self {
            ColumnPredicate::NotNull => {
                BooleanArray::new(arrow::buffer::BooleanBuffer::new_set(array.len()), None)
            }
            ColumnPredicate::IntIn(set) => match ints::int_in(set, array) {
                Some(mask) => mask,
                None => {
                    let values = as_int64(array)?;
                    let mut builder = BooleanBufferBuilder::new(values.len());
                    for index in 0..values.len() {
                        builder.append(set.binary_search(&values.value(index)).is_ok());
                    }
                    BooleanArray::new(builder.finish(), None)
                }
            },
            ColumnPredicate::Compare { op, literal } => compare_array(*op, literal, array)?,
        };
        Ok(without_nulls(mask, array))
    }
}

fn comparable_kinds(value: StatValue<'_>, literal: &Literal) -> bool {
    matches!(
        (value, literal),
        (
            StatValue::Int(_) | StatValue::Float(_),
            Literal::Int(_) | Literal::Float(_)
        ) | (StatValue::Bytes(_), Literal::Bytes(_))
            | (StatValue::Bool(_), Literal::Bool(_))
    )
}

/// Clears the rows that are null in `array`.
fn without_nulls(mask: BooleanArray, array: &dyn Array) -> BooleanArray {
    let values = match mask.nulls() {
        Some(nulls) => mask.values() & nulls.inner(),
        None => mask.values().clone(),
    };
    let values = match array.logical_nulls() {
        Some(nulls) => &values & nulls.inner(),
        None => values,
    };
    BooleanArray::new(values, None)
}

fn as_int64(array: &dyn Array) -> Result<Int64Array, arrow::error::ArrowError> {
    let cast = arrow::compute::cast(array, &DataType::Int64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .unwrap_or_else(|| Int64Array::from(Vec::<i64>::new())))
}

fn is_integer(data_type: &DataType) -> bool {
    data_type.is_integer()
}

fn all_false(len: usize) -> BooleanArray {
    BooleanArray::new(arrow::buffer::BooleanBuffer::new_unset(len), None)
}

fn compare_array(
    op: CompareOp,
    literal: &Literal,
    array: &dyn Array,
) -> Result<BooleanArray, arrow::error::ArrowError> {
    let data_type = array.data_type();
    let numeric = is_integer(data_type) || data_type.is_floating();
    match literal {
        Literal::Int(value) if is_integer(data_type) => {
            match ints::compare_int(op, *value, array) {
                Some(result) => result,
                None => {
                    let column = as_int64(array)?;
                    kernel(op, &column, &Scalar::new(Int64Array::from(vec![*value])))
                }
            }
        }
        Literal::Int(_) | Literal::Float(_) if numeric => {
            let target = match literal {
                Literal::Int(value) => *value as f64,
                Literal::Float(value) => *value,
                Literal::Bytes(_) | Literal::Bool(_) => f64::NAN,
            };
            let cast = arrow::compute::cast(array, &DataType::Float64)?;
            let column: ArrayRef = cast;
            let result = kernel(op, &column, &Scalar::new(Float64Array::from(vec![target])))?;
            // Arrow orders NaN above everything (total order); the language's NaN is different
            // from everything: only `!=` holds.
            Ok(nan_fix(op, target, column.as_ref(), result))
        }
        Literal::Bytes(bytes) => match data_type {
            DataType::Utf8 => {
                let text = std::str::from_utf8(bytes).ok();
                match text {
                    Some(text) => kernel(
                        op,
                        &array.slice(0, array.len()),
                        &StringArray::new_scalar(text),
                    ),
                    None => Ok(all_false(array.len())),
                }
            }
            DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) => {
                let column = arrow::compute::cast(array, &DataType::Binary)?;
                kernel(
                    op,
                    &column,
                    &arrow::array::BinaryArray::new_scalar(bytes.as_ref()),
                )
            }
            DataType::LargeUtf8 | DataType::Utf8View => {
                let column = arrow::compute::cast(array, &DataType::Utf8)?;
                match std::str::from_utf8(bytes) {
                    Ok(text) => kernel(op, &column, &StringArray::new_scalar(text)),
                    Err(_) => Ok(all_false(array.len())),
                }
            }
            _ => Ok(all_false(array.len())),
        },
        Literal::Bool(value) if *data_type == DataType::Boolean => match op {
            CompareOp::Eq | CompareOp::Ne => kernel(
                op,
                &array.slice(0, array.len()),
                &BooleanArray::new_scalar(*value),
            ),
            _ => Ok(all_false(array.len())),
        },
        _ => Ok(all_false(array.len())),
    }
}

fn nan_fix(op: CompareOp, target: f64, column: &dyn Array, result: BooleanArray) -> BooleanArray {
    let Some(values) = column.as_any().downcast_ref::<Float64Array>() else {
        return result;
    };
    if !target.is_nan() && !values.values().iter().any(|value| value.is_nan()) {
        return result;
    }
    let mut builder = BooleanBufferBuilder::new(values.len());
    for index in 0..values.len() {
        let value = values.value(index);
        let holds = if value.is_nan() || target.is_nan() {
            op == CompareOp::Ne
        } else {
            result.value(index)
        };
        builder.append(holds);
    }
    BooleanArray::new(builder.finish(), result.nulls().cloned())
}

mod ints;
#[cfg(test)]
mod tests;
