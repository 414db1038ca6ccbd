//! Decoding fetched bytes: a projection of leaf columns of one row group, optionally only some
//! rows, with the synchronous Parquet reader over a [`SparseFile`]. Runs on a CPU pool; never
//! does IO (a read outside the fetched ranges is an error).

use std::ops::Range;

use arrow::array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::{ParquetError, Result as ParquetResult};

use super::prune::selection_of;
use super::sparse::{SparseFile, chunk_range, pages_for_rows};

/// Which leaves of which row group, and which of its rows (`None`: all).
#[derive(Debug, Clone, PartialEq)]
pub struct LeafRead {
    pub row_group: usize,
    /// Leaf column indexes (Parquet schema order).
    pub leaves: Vec<usize>,
    /// Sorted, disjoint row ranges within the row group.
    pub rows: Option<Vec<Range<usize>>>,
}

impl LeafRead {
    /// The byte ranges this read needs fetched.
    pub fn byte_ranges(&self, metadata: &ArrowReaderMetadata) -> Vec<Range<u64>> {
        let parquet = metadata.metadata();
        self.leaves
            .iter()
            .flat_map(|leaf| match &self.rows {
                None => vec![chunk_range(parquet, self.row_group, *leaf)],
                Some(rows) => pages_for_rows(parquet, self.row_group, *leaf, rows),
            })
            .collect()
    }

    /// Number of rows the read returns.
    pub fn row_count(&self, metadata: &ArrowReaderMetadata) -> usize {
        match &self.rows {
            Some(rows) => rows.iter().map(|range| range.end - range.start).sum(),
            None => metadata
                .metadata()
                .row_group(self.row_group)
                .num_rows()
                .max(0) as usize,
        }
    }
}

/// Decodes `read` from `file` into one batch (its schema is the projection's); `None` when the
/// read selects no rows.
pub fn decode(
    file: SparseFile,
    metadata: &ArrowReaderMetadata,
    read: &LeafRead,
) -> ParquetResult<Option<RecordBatch>> {
    let parquet = metadata.metadata();
    if read.row_group >= parquet.num_row_groups() {
        return Err(ParquetError::General(format!(
            "row group {} does not exist",
            read.row_group
        )));
    }
    let rows = read.row_count(metadata);
    if rows == 0 {
        return Ok(None);
    }
    let schema = parquet.file_metadata().schema_descr();
    let mask = ProjectionMask::leaves(schema, read.leaves.iter().copied());
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone())
        .with_row_groups(vec![read.row_group])
        .with_projection(mask)
        .with_batch_size(rows);
    if let Some(ranges) = &read.rows {
        let row_count = parquet.row_group(read.row_group).num_rows().max(0) as usize;
        builder = builder.with_row_selection(selection_of(ranges, row_count));
    }
    let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
    match batches.as_slice() {
        [] => Ok(None),
        [single] => Ok(Some(single.clone())),
        [first, ..] => Ok(Some(arrow::compute::concat_batches(
            &first.schema(),
            &batches,
        )?)),
    }
}

/// A lazy decoder of `read` over `file`: yields batches of at most `batch_rows` rows, decoding
/// as it is iterated (so a caller iterates it on a CPU pool, in bounded memory).
pub fn batch_reader(
    file: SparseFile,
    metadata: &ArrowReaderMetadata,
    read: &LeafRead,
    batch_rows: usize,
) -> ParquetResult<ParquetRecordBatchReader> {
    let parquet = metadata.metadata();
    if read.row_group >= parquet.num_row_groups() {
        return Err(ParquetError::General(format!(
            "row group {} does not exist",
            read.row_group
        )));
    }
    let schema = parquet.file_metadata().schema_descr();
    let mask = ProjectionMask::leaves(schema, read.leaves.iter().copied());
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone())
        .with_row_groups(vec![read.row_group])
        .with_projection(mask)
        .with_batch_size(batch_rows.max(1));
    if let Some(ranges) = &read.rows {
        let row_count = parquet.row_group(read.row_group).num_rows().max(0) as usize;
        builder = builder.with_row_selection(selection_of(ranges, row_count));
    }
    builder.build()
}
