//! Row slices of a block for streaming consumers (the compactor's merge): the pages of a range
//! of rows of one row group are fetched asynchronously, then decoded lazily, batch by batch, as
//! the caller iterates on its CPU pool.

use std::ops::Range;

use arrow::array::RecordBatch;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;

use super::reader::BlockReader;
use crate::error::{Result, corrupt};
use crate::parquet_query::{LeafRead, batch_reader};

/// Rows of one row group, fetched and not yet decoded (see [`BlockReader::fetch_rows`]).
pub struct RowSliceBatches {
    reader: ParquetRecordBatchReader,
    path: Path,
}

impl std::fmt::Debug for RowSliceBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowSliceBatches")
            .field("path", &self.path)
            .finish()
    }
}

impl Iterator for RowSliceBatches {
    type Item = Result<RecordBatch>;

    /// Decodes the next batch; undecodable pages are a corrupt-block error naming the object.
    fn next(&mut self) -> Option<Self::Item> {
        self.reader
            .next()
            .map(|batch| batch.map_err(|error| corrupt(&self.path, error)))
    }
}

impl BlockReader {
    /// Fetches the pages that hold rows `rows` of `row_group` (every column, nothing else of the
    /// row group) and returns their decoder, which yields batches of at most `batch_rows` rows.
    /// Only IO happens here: decoding happens as the result is iterated.
    pub async fn fetch_rows(
        &self,
        row_group: usize,
        rows: Range<usize>,
        batch_rows: usize,
    ) -> Result<RowSliceBatches> {
        let footer = self.footer().await?;
        let path = self.data_path().clone();
        if row_group >= footer.metadata.num_row_groups() {
            return Err(corrupt(
                &path,
                format!("row group {row_group} does not exist"),
            ));
        }
        let row_count = usize::try_from(footer.metadata.row_group(row_group).num_rows())
            .map_err(|_| corrupt(&path, "negative row count"))?;
        if rows.start > rows.end || rows.end > row_count {
            return Err(corrupt(
                &path,
                format!("rows {rows:?} outside row group {row_group} of {row_count} rows"),
            ));
        }
        let leaves = footer.metadata.file_metadata().schema_descr().num_columns();
        let read = LeafRead {
            row_group,
            leaves: (0..leaves).collect(),
            rows: Some(vec![rows]),
        };
        let file = self.fetch(&footer, &read).await?;
        let reader = batch_reader(file, &footer.arrow, &read, batch_rows)
            .map_err(|error| corrupt(&path, error))?;
        Ok(RowSliceBatches { reader, path })
    }
}
