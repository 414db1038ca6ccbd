//! Fetch first, decode later: the byte ranges a read needs (whole column chunks, or only the
//! dictionary page and the pages that overlap a row selection), fetched asynchronously and
//! coalesced, held in a [`SparseFile`] that the synchronous Parquet reader decodes from on a CPU
//! pool. Nothing here blocks a thread on IO.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

use super::ranges::coalesce_ranges;

/// Ranges of one Parquet object, fetched; reads outside them fail (a planning bug, reported as
/// an error, never a panic).
#[derive(Debug, Clone, Default)]
pub struct SparseFile {
    len: u64,
    /// Sorted by start, disjoint.
    ranges: Vec<(u64, Bytes)>,
}

impl SparseFile {
    /// An object of `len` bytes of which nothing is fetched yet.
    pub fn new(len: u64) -> Self {
        SparseFile {
            len,
            ranges: Vec::new(),
        }
    }

    /// Adds fetched bytes starting at `start` (ranges must not overlap existing ones).
    pub fn insert(&mut self, start: u64, bytes: Bytes) {
        let position = self.ranges.partition_point(|(offset, _)| *offset < start);
        self.ranges.insert(position, (start, bytes));
    }

    /// Bytes held.
    pub fn fetched_bytes(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(_, bytes)| bytes.len() as u64)
            .sum()
    }

    fn find(&self, start: u64, length: u64) -> ParquetResult<Bytes> {
        let position = self.ranges.partition_point(|(offset, _)| *offset <= start);
        let found = position
            .checked_sub(1)
            .and_then(|index| self.ranges.get(index))
            .filter(|(offset, bytes)| start + length <= offset + bytes.len() as u64);
        match found {
            Some((offset, bytes)) => {
                let begin = (start - offset) as usize;
                Ok(bytes.slice(begin..begin + length as usize))
            }
            None => Err(ParquetError::General(format!(
                "bytes {start}..{} were not fetched",
                start + length
            ))),
        }
    }
}

impl Length for SparseFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for SparseFile {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        let position = self.ranges.partition_point(|(offset, _)| *offset <= start);
        let found = position
            .checked_sub(1)
            .and_then(|index| self.ranges.get(index))
            .filter(|(offset, bytes)| start < offset + bytes.len() as u64);
        match found {
            Some((offset, bytes)) => Ok(bytes.slice((start - offset) as usize..).reader()),
            None => Err(ParquetError::General(format!(
                "offset {start} was not fetched"
            ))),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        self.find(start, length as u64)
    }
}

/// The byte range of a whole column chunk.
pub fn chunk_range(metadata: &ParquetMetaData, row_group: usize, leaf: usize) -> Range<u64> {
    let (start, length) = metadata.row_group(row_group).column(leaf).byte_range();
    start..start + length
}

/// The byte ranges needed to read rows `rows` (sorted, disjoint, within the row group) of one
/// column chunk: the dictionary page and the data pages overlapping them. Without an offset
/// index, the whole chunk.
pub fn pages_for_rows(
    metadata: &ParquetMetaData,
    row_group: usize,
    leaf: usize,
    rows: &[Range<usize>],
) -> Vec<Range<u64>> {
    let whole = chunk_range(metadata, row_group, leaf);
    let Some(offset_index) = metadata
        .page_index()
        .and_then(|index| index.offset_index(row_group, leaf))
    else {
        return vec![whole];
    };
    let pages = offset_index.page_locations();
    let Some(first) = pages.first() else {
        return vec![whole];
    };
    let row_count = metadata.row_group(row_group).num_rows().max(0) as usize;
    let mut out = Vec::new();
    let first_offset = first.offset.max(0) as u64;
    if first_offset > whole.start {
        out.push(whole.start..first_offset);
    }
    let mut cursor = 0;
    for (page, location) in pages.iter().enumerate() {
        let start = location.first_row_index.max(0) as usize;
        let end = pages
            .get(page + 1)
            .map(|next| next.first_row_index.max(0) as usize)
            .unwrap_or(row_count);
        while cursor < rows.len() && rows[cursor].end <= start {
            cursor += 1;
        }
        let overlaps = rows.get(cursor).is_some_and(|range| range.start < end);
        if overlaps {
            let offset = location.offset.max(0) as u64;
            out.push(offset..offset + location.compressed_page_size.max(0) as u64);
        }
    }
    out
}

/// How fetches are issued.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Ranges closer than this are fetched with one request.
    pub coalesce_gap_bytes: u64,
    /// At most this many requests of one fetch in flight.
    pub concurrency: usize,
    /// All ranges of one fetch go to the store in one `get_ranges` call instead of one
    /// `get_range` each. For the local filesystem that is one open file and one blocking-pool
    /// hop for all of them (each `get_range` opens the file on a hop of its own); the answer and
    /// the errors (missing object, range past its end) are the same. Off for HTTP object
    /// stores, where the ranges are separate requests either way and run `concurrency` at once.
    pub single_request: bool,
}

impl FetchOptions {
    /// The options for blocks in `backend`: one request per fetch for a local folder (one open
    /// file, one blocking hop; ADR 017), the defaults for object stores.
    pub fn for_backend(backend: crate::config::Backend) -> Self {
        FetchOptions {
            single_request: backend == crate::config::Backend::Local,
            ..FetchOptions::default()
        }
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            coalesce_gap_bytes: 64 * 1024,
            concurrency: 8,
            single_request: false,
        }
    }
}

/// Fetches `ranges` of `path` (coalesced) into `file`, skipping what `file` already holds.
/// Returns the number of bytes fetched.
pub async fn fetch_into(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    ranges: &[Range<u64>],
    options: &FetchOptions,
    file: &mut SparseFile,
) -> Result<u64, object_store::Error> {
    let missing: Vec<Range<u64>> = coalesce_ranges(ranges, 0)
        .into_iter()
        .flat_map(|range| file.missing(range))
        .collect();
    let merged = coalesce_ranges(&missing, options.coalesce_gap_bytes);
    let merged: Vec<Range<u64>> = merged
        .into_iter()
        .flat_map(|range| file.missing(range))
        .collect();
    let fetched: Vec<(u64, Bytes)> = if options.single_request && merged.len() > 1 {
        let parts = store.get_ranges(path, &merged).await?;
        if parts.len() != merged.len() {
            return Err(object_store::Error::Generic {
                store: "fetch",
                source: format!(
                    "asked {} ranges of {path}, got {}",
                    merged.len(),
                    parts.len()
                )
                .into(),
            });
        }
        merged.iter().map(|range| range.start).zip(parts).collect()
    } else {
        concurrent_ranges(store, path, merged, options.concurrency).await?
    };
    let mut total = 0;
    for (start, bytes) in fetched {
        total += bytes.len() as u64;
        file.insert(start, bytes);
    }
    Ok(total)
}

/// One `get_range` per range, `concurrency` at once.
async fn concurrent_ranges(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    ranges: Vec<Range<u64>>,
    concurrency: usize,
) -> Result<Vec<(u64, Bytes)>, object_store::Error> {
    futures::stream::iter(ranges.into_iter().map(|range| {
        let store = store.clone();
        let path = path.clone();
        async move {
            let start = range.start;
            store
                .get_range(&path, range)
                .await
                .map(|bytes| (start, bytes))
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await
}

impl SparseFile {
    /// The parts of `range` not held yet.
    fn missing(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut cursor = range.start;
        for (offset, bytes) in &self.ranges {
            let end = offset + bytes.len() as u64;
            if end <= cursor {
                continue;
            }
            if *offset >= range.end {
                break;
            }
            if *offset > cursor {
                out.push(cursor..(*offset).min(range.end));
            }
            cursor = cursor.max(end);
            if cursor >= range.end {
                break;
            }
        }
        if cursor < range.end {
            out.push(cursor..range.end);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_fetched_ranges_and_refuses_the_rest() {
        let mut file = SparseFile::new(100);
        file.insert(50, Bytes::from_static(b"0123456789"));
        file.insert(10, Bytes::from_static(b"abcdef"));
        assert_eq!(file.get_bytes(12, 3).unwrap(), Bytes::from_static(b"cde"));
        assert_eq!(file.get_bytes(55, 5).unwrap(), Bytes::from_static(b"56789"));
        assert!(file.get_bytes(14, 4).is_err());
        assert!(file.get_bytes(0, 1).is_err());
        assert!(file.get_read(60).is_err());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file.get_read(57).unwrap(), &mut text).unwrap();
        assert_eq!(text, "789");
        assert_eq!(file.missing(0..100), vec![0..10, 16..50, 60..100]);
        assert_eq!(file.missing(11..15), Vec::<Range<u64>>::new());
        assert_eq!(file.fetched_bytes(), 16);
    }
}
