//! An `AsyncFileReader` over `object_store` (parquet 60 deprecates `ParquetObjectReader`).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, try_join_all};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use super::ranges::coalesce_ranges;

/// How an [`ObjectStoreFileReader`] fetches.
#[derive(Debug, Clone)]
pub struct FileReaderOptions {
    /// Ranges closer than this are fetched with one request.
    pub coalesce_gap_bytes: u64,
}

impl Default for FileReaderOptions {
    fn default() -> Self {
        FileReaderOptions {
            coalesce_gap_bytes: 64 * 1024,
        }
    }
}

/// Reads one Parquet object. Metadata given up front (from a cache or an earlier
/// [`fetch_metadata`]) is returned without IO.
#[derive(Debug, Clone)]
pub struct ObjectStoreFileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    metadata: Arc<ParquetMetaData>,
    options: FileReaderOptions,
}

impl ObjectStoreFileReader {
    /// A reader of `path` whose metadata is already known.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        metadata: Arc<ParquetMetaData>,
        options: FileReaderOptions,
    ) -> Self {
        ObjectStoreFileReader {
            store,
            path,
            metadata,
            options,
        }
    }
}

fn external(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for ObjectStoreFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let merged = coalesce_ranges(&ranges, self.options.coalesce_gap_bytes);
            let fetched = try_join_all(
                merged
                    .iter()
                    .map(|range| self.store.get_range(&self.path, range.clone())),
            )
            .await
            .map_err(external)?;
            ranges
                .iter()
                .map(|range| {
                    let position = merged
                        .iter()
                        .position(|merged| merged.start <= range.start && range.end <= merged.end)
                        .ok_or_else(|| {
                            ParquetError::General("range lost while coalescing".into())
                        })?;
                    let base = merged[position].start;
                    let bytes = &fetched[position];
                    let start = usize::try_from(range.start - base)
                        .map_err(|_| ParquetError::General("range too large".into()))?;
                    let end = usize::try_from(range.end - base)
                        .map_err(|_| ParquetError::General("range too large".into()))?;
                    if end > bytes.len() {
                        return Err(ParquetError::EOF(format!(
                            "object returned {} bytes for range {range:?}",
                            bytes.len()
                        )));
                    }
                    Ok(bytes.slice(start..end))
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        let metadata = self.metadata.clone();
        async move { Ok(metadata) }.boxed()
    }
}

/// What [`fetch_metadata`] found.
#[derive(Debug)]
pub struct FetchedMetadata {
    /// The footer metadata with the page indexes (when the file has them).
    pub metadata: ParquetMetaData,
    /// The size of the object as the store reported it.
    pub object_size: u64,
    /// Number of GET requests it took (1 when `footer_size_hint` covered the footer).
    pub requests: usize,
}

/// The last `footer_size_hint` bytes of `path` (at least 8) and the object's size, with one
/// suffix GET (IO only; parse them with [`parse_footer`] on a CPU pool).
pub async fn fetch_footer_suffix(
    store: &dyn ObjectStore,
    path: &Path,
    footer_size_hint: u64,
) -> std::result::Result<(Bytes, u64), object_store::Error> {
    let hint = footer_size_hint.max(8);
    let options = GetOptions::default().with_range(Some(GetRange::Suffix(hint)));
    let result = store.get_opts(path, options).await?;
    let object_size = result.meta.size;
    let suffix = result.bytes().await?;
    Ok((suffix, object_size))
}

/// Parses the footer and page indexes from the object's last bytes (CPU only). A suffix that is
/// too short gives `ParquetError::NeedMoreData(total bytes needed)`.
pub fn parse_footer(suffix: &Bytes, object_size: u64) -> Result<ParquetMetaData> {
    let mut reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional);
    reader.try_parse_sized(suffix, object_size)?;
    reader.finish()
}

/// Reads the footer and page indexes of `path` with ONE suffix GET of `footer_size_hint` bytes
/// (the footer, and the page indexes that precede it). Falls back to a second GET when the hint
/// is too small. The object's real size comes back with the first response, so a truncated
/// object is detected by the caller comparing it with the expected size.
pub async fn fetch_metadata(
    store: &dyn ObjectStore,
    path: &Path,
    footer_size_hint: u64,
) -> std::result::Result<FetchedMetadata, MetadataError> {
    let (suffix, object_size) = fetch_footer_suffix(store, path, footer_size_hint)
        .await
        .map_err(MetadataError::Store)?;
    match parse_footer(&suffix, object_size) {
        Ok(metadata) => Ok(FetchedMetadata {
            metadata,
            object_size,
            requests: 1,
        }),
        Err(ParquetError::NeedMoreData(needed)) => {
            let needed = u64::try_from(needed).unwrap_or(u64::MAX).min(object_size);
            let range = object_size - needed..object_size;
            let suffix = store
                .get_range(path, range)
                .await
                .map_err(MetadataError::Store)?;
            Ok(FetchedMetadata {
                metadata: parse_footer(&suffix, object_size).map_err(MetadataError::Parquet)?,
                object_size,
                requests: 2,
            })
        }
        Err(error) => Err(MetadataError::Parquet(error)),
    }
}

/// Why [`fetch_metadata`] failed: the store (retryable, not-found) or the bytes (corrupt).
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The object store failed.
    #[error(transparent)]
    Store(object_store::Error),
    /// The footer could not be decoded.
    #[error("footer: {0}")]
    Parquet(ParquetError),
}
