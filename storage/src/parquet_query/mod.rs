//! Generic Parquet reading helpers over `object_store`, independent of the trace schema: an
//! `AsyncFileReader` that fetches the footer in one ranged GET and coalesces page reads, and
//! page-index pruning for equality lookups on a sorted column.

mod reader;

pub use reader::{
    FetchedMetadata, FileReaderOptions, MetadataError, ObjectStoreFileReader, fetch_metadata,
};

use std::ops::Range;

use parquet::arrow::arrow_reader::RowSelection;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::schema::types::SchemaDescriptor;

/// The index of the leaf column whose dotted path is `path` (e.g. `trace_id`).
pub fn leaf_index(schema: &SchemaDescriptor, path: &str) -> Option<usize> {
    schema
        .columns()
        .iter()
        .position(|column| column.path().string() == path)
}

/// Rows of `row_group` whose pages of the byte-array column `column` may contain `value`,
/// according to the page index (min/max per page). `None` when the file has no page index for
/// the column: the caller must read the whole row group.
pub fn pages_containing(
    metadata: &ParquetMetaData,
    row_group: usize,
    column: usize,
    value: &[u8],
) -> Option<RowSelection> {
    let row_count = usize::try_from(metadata.row_groups().get(row_group)?.num_rows()).ok()?;
    let page_index = metadata.page_index()?;
    let column_index = page_index.column_index(row_group, column)?;
    let offset_index = page_index.offset_index(row_group, column)?;
    let pages = offset_index.page_locations();
    let index = match column_index {
        ColumnIndexMetaData::BYTE_ARRAY(index)
        | ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(index) => index,
        _ => return None,
    };
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
        let may_contain = match (index.min_value(page), index.max_value(page)) {
            (Some(min), Some(max)) => min <= value && value <= max,
            // no statistics for this page (all null or not written): cannot rule it out
            _ => true,
        };
        if may_contain && start < end {
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
    }
    Some(RowSelection::from_consecutive_ranges(
        ranges.into_iter(),
        row_count,
    ))
}

/// Merges byte ranges that are closer than `max_gap`, so neighbouring pages are fetched with one
/// request. Returns the merged ranges, sorted.
pub fn coalesce_ranges(ranges: &[Range<u64>], max_gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.to_vec();
    sorted.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(max_gap) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::coalesce_ranges;

    #[test]
    fn coalesces_close_ranges_and_keeps_far_ones() {
        let merged = coalesce_ranges(&[10..20, 0..5, 22..30, 100..110, 25..26], 4);
        assert_eq!(merged, vec![0..5, 10..30, 100..110]);
        assert_eq!(coalesce_ranges(&[], 4), Vec::<std::ops::Range<u64>>::new());
    }
}
