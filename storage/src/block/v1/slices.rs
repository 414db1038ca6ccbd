//! Row slices of a block for streaming consumers (the compactor's merge): the pages of a range
//! of rows of one row group are fetched asynchronously, then decoded lazily, batch by batch, as
//! the caller iterates on its CPU pool.

use std::ops::Range;

use arrow::array::RecordBatch;
use object_store::path::Path;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReader};

use super::reader::BlockReader;
use crate::error::{Result, corrupt};
use crate::parquet_query::{LeafRead, SparseFile, batch_reader};

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
        let leaves = self
            .footer()
            .await?
            .metadata
            .file_metadata()
            .schema_descr()
            .num_columns();
        self.fetch_leaf_rows(row_group, (0..leaves).collect(), rows, batch_rows)
            .await
    }

    /// [`BlockReader::fetch_rows`] of the leaf columns `leaves` only (Parquet schema order):
    /// the batches hold the top-level columns those leaves belong to.
    pub async fn fetch_leaf_rows(
        &self,
        row_group: usize,
        leaves: Vec<usize>,
        rows: Range<usize>,
        batch_rows: usize,
    ) -> Result<RowSliceBatches> {
        let fetched = self
            .fetch_row_pages(row_group, leaves.clone(), rows)
            .await?;
        fetched.columns(leaves, batch_rows)
    }

    /// Fetches the pages of leaf columns `leaves` that hold rows `rows` of `row_group`, for
    /// decoders of any of those columns ([`FetchedRows::columns`]). Only IO happens here.
    pub async fn fetch_row_pages(
        &self,
        row_group: usize,
        leaves: Vec<usize>,
        rows: Range<usize>,
    ) -> Result<FetchedRows> {
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
        let count = footer.metadata.file_metadata().schema_descr().num_columns();
        if let Some(leaf) = leaves.iter().find(|leaf| **leaf >= count) {
            return Err(corrupt(&path, format!("leaf column {leaf} does not exist")));
        }
        let read = LeafRead {
            row_group,
            leaves,
            rows: Some(vec![rows]),
        };
        let file = self.fetch(&footer, &read).await?;
        Ok(FetchedRows {
            file,
            arrow: footer.arrow.clone(),
            path,
            read,
        })
    }
}

/// Fetched pages of a range of rows of one row group (see [`BlockReader::fetch_row_pages`]).
pub struct FetchedRows {
    file: SparseFile,
    arrow: ArrowReaderMetadata,
    path: Path,
    read: LeafRead,
}

impl std::fmt::Debug for FetchedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedRows")
            .field("path", &self.path)
            .field("row_group", &self.read.row_group)
            .finish()
    }
}

impl FetchedRows {
    /// A decoder of the fetched rows of leaf columns `leaves` (fetched ones only), yielding
    /// batches of at most `batch_rows` rows of the top-level columns they belong to.
    pub fn columns(&self, leaves: Vec<usize>, batch_rows: usize) -> Result<RowSliceBatches> {
        if let Some(leaf) = leaves.iter().find(|leaf| !self.read.leaves.contains(leaf)) {
            return Err(corrupt(
                &self.path,
                format!("leaf column {leaf} was not fetched"),
            ));
        }
        let read = LeafRead {
            row_group: self.read.row_group,
            leaves,
            rows: self.read.rows.clone(),
        };
        let reader = batch_reader(self.file.clone(), &self.arrow, &read, batch_rows)
            .map_err(|error| corrupt(&self.path, error))?;
        Ok(RowSliceBatches {
            reader,
            path: self.path.clone(),
        })
    }
}
