//! Typed access to the columns of a decoded batch, with errors naming the column.

use arrow::array::{Array, RecordBatch, StructArray};

use super::error::RowsError;

/// The column `name` of `batch`, downcast to `T`.
pub(crate) fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, RowsError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| RowsError::new(format!("column {name} is missing")))?;
    downcast(array.as_ref(), name)
}

pub(crate) fn downcast<'a, T: Array + 'static>(
    array: &'a dyn Array,
    name: &str,
) -> Result<&'a T, RowsError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        RowsError::new(format!(
            "column {name} has unexpected type {}",
            array.data_type()
        ))
    })
}

pub(crate) fn struct_column<'a, T: Array + 'static>(
    array: &'a StructArray,
    field: &str,
    name: &str,
) -> Result<&'a T, RowsError> {
    let child = array
        .column_by_name(field)
        .ok_or_else(|| RowsError::new(format!("column {name}.{field} is missing")))?;
    downcast(child.as_ref(), &format!("{name}.{field}"))
}
