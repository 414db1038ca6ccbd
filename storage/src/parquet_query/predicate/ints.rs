//! Integer predicates over the column's own integer type, without the widening copy to `i64`:
//! `column OP literal` against an `i64` literal, and membership in a sorted `i64` set (a
//! lookup table when the set is small and non-negative: resource and scope references).

use arrow::array::{Array, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Int32Type, Int64Type, UInt32Type, UInt64Type};

use crate::parquet_query::compare::{CompareOp, kernel};

/// Largest set member for which membership uses a lookup table.
const TABLE_LIMIT: i64 = 1 << 16;

fn compare_native<T: ArrowPrimitiveType>(
    op: CompareOp,
    value: i64,
    array: &dyn Array,
) -> Option<Result<BooleanArray, arrow::error::ArrowError>>
where
    T::Native: TryFrom<i64>,
{
    let array = array.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    Some(match T::Native::try_from(value) {
        Ok(native) => kernel(op, array, &PrimitiveArray::<T>::new_scalar(native)),
        // the literal is beyond the type's range: above (or below) every value
        Err(_) => {
            let above = value > 0;
            let holds = match op {
                CompareOp::Ne => true,
                CompareOp::Eq => false,
                CompareOp::Lt | CompareOp::Le => above,
                CompareOp::Gt | CompareOp::Ge => !above,
            };
            let values = if holds {
                BooleanBuffer::new_set(array.len())
            } else {
                BooleanBuffer::new_unset(array.len())
            };
            Ok(BooleanArray::new(values, None))
        }
    })
}

/// `column OP value` for an integer column of a type handled natively (`None` otherwise).
pub(super) fn compare_int(
    op: CompareOp,
    value: i64,
    array: &dyn Array,
) -> Option<Result<BooleanArray, arrow::error::ArrowError>> {
    match array.data_type() {
        DataType::Int32 => compare_native::<Int32Type>(op, value, array),
        DataType::Int64 => compare_native::<Int64Type>(op, value, array),
        DataType::UInt32 => compare_native::<UInt32Type>(op, value, array),
        DataType::UInt64 => compare_native::<UInt64Type>(op, value, array),
        _ => None,
    }
}

fn member_native<T: ArrowPrimitiveType>(set: &[i64], array: &dyn Array) -> Option<BooleanArray>
where
    i64: TryFrom<T::Native>,
{
    let array = array.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let values = array.values();
    let as_i64 = |value: T::Native| i64::try_from(value).ok();
    let bits = match (set.first(), set.last()) {
        (Some(first), Some(last)) if *first >= 0 && *last < TABLE_LIMIT => {
            let mut table = vec![false; *last as usize + 1];
            for member in set {
                table[*member as usize] = true;
            }
            BooleanBuffer::collect_bool(values.len(), |index| {
                as_i64(values[index])
                    .and_then(|value| usize::try_from(value).ok())
                    .and_then(|value| table.get(value).copied())
                    .unwrap_or(false)
            })
        }
        _ => BooleanBuffer::collect_bool(values.len(), |index| {
            as_i64(values[index]).is_some_and(|value| set.binary_search(&value).is_ok())
        }),
    };
    Some(BooleanArray::new(bits, None))
}

/// Whether each value is in `set` (sorted), for an integer column of a type handled natively
/// (`None` otherwise).
pub(super) fn int_in(set: &[i64], array: &dyn Array) -> Option<BooleanArray> {
    match array.data_type() {
        DataType::Int32 => member_native::<Int32Type>(set, array),
        DataType::Int64 => member_native::<Int64Type>(set, array),
        DataType::UInt32 => member_native::<UInt32Type>(set, array),
        DataType::UInt64 => member_native::<UInt64Type>(set, array),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, Int64Array, Scalar, UInt32Array, UInt64Array};

    use super::*;

    /// The widening reference: cast to `i64`, then compare.
    fn widened(op: CompareOp, value: i64, array: &dyn Array) -> Vec<bool> {
        let cast = arrow::compute::cast(array, &DataType::Int64).unwrap();
        let cast = cast.as_any().downcast_ref::<Int64Array>().unwrap();
        let mask = kernel(op, cast, &Scalar::new(Int64Array::from(vec![value]))).unwrap();
        mask.values().iter().collect()
    }

    #[test]
    fn native_comparisons_agree_with_widening_ones() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![i32::MIN, -7, 0, 2, 5, i32::MAX])),
            Arc::new(Int64Array::from(vec![i64::MIN, -7, 0, 2, 5, i64::MAX])),
            Arc::new(UInt32Array::from(vec![0, 2, 5, u32::MAX])),
            Arc::new(UInt64Array::from(vec![0, 2, 5, i64::MAX as u64])),
        ];
        let literals = [
            i64::MIN,
            i64::from(i32::MIN) - 1,
            -7,
            -1,
            0,
            2,
            3,
            i64::from(i32::MAX) + 1,
            i64::from(u32::MAX) + 1,
            i64::MAX,
        ];
        let ops = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ];
        for array in &arrays {
            for literal in literals {
                for op in ops {
                    let native = compare_int(op, literal, array.as_ref()).unwrap().unwrap();
                    let native: Vec<bool> = native.values().iter().collect();
                    assert_eq!(
                        native,
                        widened(op, literal, array.as_ref()),
                        "{:?} {op:?} {literal}",
                        array.data_type()
                    );
                }
            }
        }
        let floats = arrow::array::Float64Array::from(vec![1.0]);
        assert!(compare_int(CompareOp::Eq, 1, &floats).is_none());
    }

    #[test]
    fn membership_by_table_and_by_search() {
        let refs = UInt32Array::from(vec![0, 3, 7, 70_000, 3, u32::MAX]);
        let bits = |mask: BooleanArray| -> Vec<bool> { mask.values().iter().collect() };
        // small set: lookup table
        assert_eq!(
            bits(int_in(&[3, 7], &refs).unwrap()),
            vec![false, true, true, false, true, false]
        );
        // large or negative members: binary search
        assert_eq!(
            bits(int_in(&[-1, 7, 70_000], &refs).unwrap()),
            vec![false, false, true, true, false, false]
        );
        let signed = Int32Array::from(vec![-1, 0, 5]);
        assert_eq!(
            bits(int_in(&[-1, 5], &signed).unwrap()),
            vec![true, false, true]
        );
        assert_eq!(
            bits(int_in(&[], &signed).unwrap()),
            vec![false, false, false]
        );
    }
}
