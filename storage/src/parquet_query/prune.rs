//! Pruning with the statistics Parquet stores: a column chunk's min/max and null count, and the
//! page index (min/max per page) turned into a [`RowSelection`] of the pages that may match.

use std::ops::Range;

use parquet::arrow::arrow_reader::RowSelection;
use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;

use super::predicate::{ColumnPredicate, StatValue};

/// Whether integer values of `column` are unsigned (stored in a signed physical type).
fn is_unsigned(column: &ColumnDescriptor) -> bool {
    match column.logical_type_ref() {
        Some(LogicalType::Integer(int)) => !int.is_signed,
        _ => matches!(
            column.converted_type(),
            ConvertedType::UINT_8
                | ConvertedType::UINT_16
                | ConvertedType::UINT_32
                | ConvertedType::UINT_64
        ),
    }
}

fn int32_value(value: i32, unsigned: bool) -> StatValue<'static> {
    if unsigned {
        StatValue::Int(i64::from(value as u32))
    } else {
        StatValue::Int(i64::from(value))
    }
}

fn int64_value(value: i64, unsigned: bool) -> Option<StatValue<'static>> {
    if unsigned && value < 0 {
        // Above i64::MAX as unsigned: not representable as the language's int; be conservative.
        return None;
    }
    Some(StatValue::Int(value))
}

/// Min and max of a chunk's statistics as comparable values.
fn statistics_bounds<'a>(
    statistics: &'a Statistics,
    unsigned: bool,
) -> (Option<StatValue<'a>>, Option<StatValue<'a>>) {
    match statistics {
        Statistics::Boolean(stats) => (
            stats.min_opt().map(|v| StatValue::Bool(*v)),
            stats.max_opt().map(|v| StatValue::Bool(*v)),
        ),
        Statistics::Int32(stats) => (
            stats.min_opt().map(|v| int32_value(*v, unsigned)),
            stats.max_opt().map(|v| int32_value(*v, unsigned)),
        ),
        Statistics::Int64(stats) => {
            if unsigned {
                // Unsigned min/max may straddle the sign bit; only trust them when both fit.
                match (stats.min_opt(), stats.max_opt()) {
                    (Some(min), Some(max)) if *min >= 0 && *max >= 0 => {
                        (int64_value(*min, true), int64_value(*max, true))
                    }
                    _ => (None, None),
                }
            } else {
                (
                    stats.min_opt().map(|v| StatValue::Int(*v)),
                    stats.max_opt().map(|v| StatValue::Int(*v)),
                )
            }
        }
        Statistics::Float(stats) => (
            stats.min_opt().map(|v| StatValue::Float(f64::from(*v))),
            stats.max_opt().map(|v| StatValue::Float(f64::from(*v))),
        ),
        Statistics::Double(stats) => (
            stats.min_opt().map(|v| StatValue::Float(*v)),
            stats.max_opt().map(|v| StatValue::Float(*v)),
        ),
        Statistics::ByteArray(stats) => (
            stats.min_opt().map(|v| StatValue::Bytes(v.data())),
            stats.max_opt().map(|v| StatValue::Bytes(v.data())),
        ),
        Statistics::FixedLenByteArray(stats) => (
            stats.min_opt().map(|v| StatValue::Bytes(v.data())),
            stats.max_opt().map(|v| StatValue::Bytes(v.data())),
        ),
        Statistics::Int96(_) => (None, None),
    }
}

/// Whether the column chunk may hold a value matching `predicate`, by its statistics. A chunk
/// without statistics may.
pub fn chunk_may_match(chunk: &ColumnChunkMetaData, predicate: &ColumnPredicate) -> bool {
    let Some(statistics) = chunk.statistics() else {
        return true;
    };
    let unsigned = is_unsigned(chunk.column_descr());
    let values = u64::try_from(chunk.num_values()).unwrap_or(0);
    let all_null = statistics
        .null_count_opt()
        .is_some_and(|nulls| nulls >= values && values > 0);
    let (min, max) = statistics_bounds(statistics, unsigned);
    predicate.may_match_range(min, max, all_null)
}

/// Min and max of page `page` of a column index as comparable values.
fn page_bounds(
    index: &ColumnIndexMetaData,
    page: usize,
    unsigned: bool,
) -> (Option<StatValue<'_>>, Option<StatValue<'_>>) {
    match index {
        ColumnIndexMetaData::BOOLEAN(index) => (
            index.min_value(page).map(|v| StatValue::Bool(*v)),
            index.max_value(page).map(|v| StatValue::Bool(*v)),
        ),
        ColumnIndexMetaData::INT32(index) => (
            index.min_value(page).map(|v| int32_value(*v, unsigned)),
            index.max_value(page).map(|v| int32_value(*v, unsigned)),
        ),
        ColumnIndexMetaData::INT64(index) => match (index.min_value(page), index.max_value(page)) {
            (Some(min), Some(max)) if !unsigned || (*min >= 0 && *max >= 0) => {
                (Some(StatValue::Int(*min)), Some(StatValue::Int(*max)))
            }
            _ => (None, None),
        },
        ColumnIndexMetaData::FLOAT(index) => (
            index
                .min_value(page)
                .map(|v| StatValue::Float(f64::from(*v))),
            index
                .max_value(page)
                .map(|v| StatValue::Float(f64::from(*v))),
        ),
        ColumnIndexMetaData::DOUBLE(index) => (
            index.min_value(page).map(|v| StatValue::Float(*v)),
            index.max_value(page).map(|v| StatValue::Float(*v)),
        ),
        ColumnIndexMetaData::BYTE_ARRAY(index)
        | ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(index) => (
            index.min_value(page).map(StatValue::Bytes),
            index.max_value(page).map(StatValue::Bytes),
        ),
        _ => (None, None),
    }
}

/// The row ranges (within `row_group`) of the pages of leaf column `column` whose page-index
/// statistics may match `predicate`; `None` when the file has no page index for the column (the
/// caller must assume every row may match).
///
/// Only for columns with one value per row (no repetition): for a list column the page's rows
/// hold many values and the ranges are still correct, but the offset index gives row positions,
/// which is what the ranges are.
pub fn pages_may_match(
    metadata: &ParquetMetaData,
    row_group: usize,
    column: usize,
    predicate: &ColumnPredicate,
) -> Option<Vec<Range<usize>>> {
    let row_count = usize::try_from(metadata.row_groups().get(row_group)?.num_rows()).ok()?;
    let page_index = metadata.page_index()?;
    let offset_index = page_index.offset_index(row_group, column)?;
    let column_index = page_index.column_index(row_group, column)?;
    let unsigned = is_unsigned(metadata.row_group(row_group).column(column).column_descr());
    let pages = offset_index.page_locations();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (page, location) in pages.iter().enumerate() {
        let start = usize::try_from(location.first_row_index).ok()?;
        let end = match pages.get(page + 1) {
            Some(next) => usize::try_from(next.first_row_index).ok()?,
            None => row_count,
        };
        if start > end || end > row_count {
            return None;
        }
        let all_null = column_index.is_null_page(page);
        let (min, max) = page_bounds(column_index, page, unsigned);
        if start < end && predicate.may_match_range(min, max, all_null) {
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
    }
    Some(ranges)
}

/// Row ranges as a selection over `row_count` rows.
pub fn selection_of(ranges: &[Range<usize>], row_count: usize) -> RowSelection {
    RowSelection::from_consecutive_ranges(ranges.iter().cloned(), row_count)
}

/// Intersection of two sorted, disjoint range lists.
pub fn intersect_ranges(left: &[Range<usize>], right: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        let start = left[i].start.max(right[j].start);
        let end = left[i].end.min(right[j].end);
        if start < end {
            out.push(start..end);
        }
        if left[i].end < right[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Union of two sorted, disjoint range lists (sorted, merged).
pub fn union_ranges(left: &[Range<usize>], right: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut all: Vec<Range<usize>> = left.iter().chain(right).cloned().collect();
    all.sort_by_key(|range| range.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(all.len());
    for range in all {
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => out.push(range),
        }
    }
    out
}

/// Whether the leaf column's physical type stores integers.
pub fn is_integer_column(chunk: &ColumnChunkMetaData) -> bool {
    matches!(
        chunk.column_type(),
        PhysicalType::INT32 | PhysicalType::INT64
    )
}
