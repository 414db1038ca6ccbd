//! The `vc1` block reader.
//!
//! Trace by ID: meta ID range → one bloom shard GET → row groups whose trace-ID range (from
//! `meta.json`, no footer needed) includes the ID → footer and page indexes in one ranged GET
//! (cached per reader) → trace-ID pages whose min/max include the ID → only those pages of the
//! other columns. Decoding runs on the blocking pool; a panic in a decoder becomes an error.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{FixedSizeBinaryArray, RecordBatch, Scalar};
use contrail_proto::{TenantId, TraceId};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, RowFilter,
    RowSelection, RowSelector,
};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::schema::TRACE_ID;
use crate::block::bloom::{BloomShard, shard_for};
use crate::block::list::read_block_meta;
use crate::block::meta::BlockMeta;
use crate::block::v1::convert::tables::{RESOURCES_KEY, SCOPES_KEY};
use crate::block::v1::convert::{RefTables, Trace, batch_to_traces};
use crate::block::{DATA_OBJECT, Encoding, bloom_object, corrupt, object_path, run_blocking};
use crate::error::{Error, Result};
use crate::parquet_query::{
    FileReaderOptions, MetadataError, ObjectStoreFileReader, fetch_metadata, leaf_index,
    pages_containing,
};

/// Which columns to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// Every column.
    All,
    /// Only these top-level columns (by name, e.g. `duration_nano`, `http_status_code`).
    Columns(Vec<String>),
}

struct Footer {
    metadata: Arc<ParquetMetaData>,
    arrow: ArrowReaderMetadata,
    tables: Arc<RefTables>,
}

/// Reads one `vc1` block.
pub struct BlockReader {
    store: Arc<dyn ObjectStore>,
    meta: BlockMeta,
    data_path: Path,
    footer: OnceCell<Arc<Footer>>,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("data_path", &self.data_path)
            .finish()
    }
}

impl BlockReader {
    /// A reader for the block described by `meta` (no IO yet).
    pub fn open(store: Arc<dyn ObjectStore>, meta: BlockMeta) -> Result<Self> {
        let data_path = object_path(&meta.tenant_id, &meta.block_id, DATA_OBJECT);
        if Encoding::from_version(&meta.format) != Some(Encoding::V1) {
            return Err(Error::UnknownBlockFormat {
                object: object_path(&meta.tenant_id, &meta.block_id, crate::block::META_OBJECT)
                    .to_string(),
                format: meta.format.clone(),
            });
        }
        Ok(BlockReader {
            store,
            meta,
            data_path,
            footer: OnceCell::new(),
        })
    }

    /// Reads `meta.json` of `tenant`/`block_id` and opens the block.
    pub async fn open_by_id(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        block_id: &Uuid,
    ) -> Result<Self> {
        let meta = read_block_meta(store.as_ref(), tenant, block_id).await?;
        Self::open(store, meta)
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Whether the block may hold `trace_id`: ID range, then one bloom shard.
    pub async fn may_contain(&self, trace_id: &TraceId) -> Result<bool> {
        if !self.meta.may_contain(trace_id) {
            return Ok(false);
        }
        let shards = self.meta.bloom_shards;
        if shards == 0 {
            return Err(corrupt(
                &self.block_object(crate::block::META_OBJECT),
                "bloomShards is 0",
            ));
        }
        let path = self.block_object(&bloom_object(shard_for(trace_id, shards)));
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|source| Error::from_store("get", &path, source))?
            .bytes()
            .await
            .map_err(|source| Error::from_store("get", &path, source))?;
        let shard = BloomShard::decode(&bytes).map_err(|message| corrupt(&path, message))?;
        Ok(shard.may_contain(trace_id))
    }

    fn block_object(&self, name: &str) -> Path {
        object_path(&self.meta.tenant_id, &self.meta.block_id, name)
    }

    /// The trace `trace_id`, or `None` when the block does not hold it.
    pub async fn find_trace(&self, trace_id: &TraceId) -> Result<Option<Trace>> {
        if !self.may_contain(trace_id).await? {
            return Ok(None);
        }
        let row_groups: Vec<usize> = self.meta.row_groups_for(trace_id).collect();
        if row_groups.is_empty() {
            return Ok(None);
        }
        let footer = self.footer().await?;
        let schema = footer.metadata.file_metadata().schema_descr_ptr();
        let leaf = leaf_index(&schema, TRACE_ID)
            .ok_or_else(|| corrupt(&self.data_path, "no trace_id column"))?;
        for row_group in row_groups {
            if row_group >= footer.metadata.num_row_groups() {
                return Err(corrupt(
                    &self.data_path,
                    format!("row group {row_group} missing"),
                ));
            }
            let mut builder = self
                .stream_builder(&footer)
                .with_row_groups(vec![row_group]);
            if let Some(selection) =
                pages_containing(&footer.metadata, row_group, leaf, trace_id.as_bytes())
            {
                if !selection.selects_any() {
                    continue;
                }
                builder = builder.with_row_selection(selection);
            }
            let needle = FixedSizeBinaryArray::try_from_iter(std::iter::once(trace_id.as_bytes()))
                .map_err(|error| corrupt(&self.data_path, error))?;
            let predicate = ArrowPredicateFn::new(
                ProjectionMask::leaves(&schema, [leaf]),
                move |batch: RecordBatch| {
                    arrow::compute::kernels::cmp::eq(batch.column(0), &Scalar::new(&needle))
                },
            );
            let builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
            let batches = self.collect(builder).await?;
            let Some(schema) = batches
                .iter()
                .find(|batch| batch.num_rows() > 0)
                .map(RecordBatch::schema)
            else {
                // No row matched: the bloom filter's false positive.
                continue;
            };
            let tables = footer.tables.clone();
            let path = self.data_path.clone();
            let traces = run_blocking(&self.data_path, move || {
                let batch = arrow::compute::concat_batches(&schema, &batches)
                    .map_err(|error| corrupt(&path, error))?;
                batch_to_traces(&batch, &tables).map_err(|error| corrupt(&path, error))
            })
            .await?;
            if let Some(trace) = traces.into_iter().find(|trace| trace.trace_id == *trace_id) {
                return Ok(Some(trace));
            }
        }
        Ok(None)
    }

    /// The Parquet footer with page indexes (one ranged GET, then cached).
    pub async fn parquet_metadata(&self) -> Result<Arc<ParquetMetaData>> {
        Ok(self.footer().await?.metadata.clone())
    }

    /// The block's resource and scope tables.
    pub async fn tables(&self) -> Result<Arc<RefTables>> {
        Ok(self.footer().await?.tables.clone())
    }

    /// One row group as Arrow record batches, only the projected columns.
    pub async fn read_row_group(
        &self,
        row_group: usize,
        projection: &Projection,
    ) -> Result<Vec<RecordBatch>> {
        let footer = self.footer().await?;
        if row_group >= footer.metadata.num_row_groups() {
            return Err(corrupt(
                &self.data_path,
                format!("row group {row_group} does not exist"),
            ));
        }
        let mut builder = self
            .stream_builder(&footer)
            .with_row_groups(vec![row_group]);
        if let Projection::Columns(columns) = projection {
            let mask = ProjectionMask::columns(
                footer.metadata.file_metadata().schema_descr(),
                columns.iter().map(String::as_str),
            );
            builder = builder.with_projection(mask);
        }
        self.collect(builder).await
    }

    /// Every trace of one row group, as OTLP.
    pub async fn read_row_group_traces(&self, row_group: usize) -> Result<Vec<Trace>> {
        let batches = self.read_row_group(row_group, &Projection::All).await?;
        let tables = self.tables().await?;
        let path = self.data_path.clone();
        run_blocking(&self.data_path, move || {
            let Some(schema) = batches.first().map(RecordBatch::schema) else {
                return Ok(Vec::new());
            };
            let batch = arrow::compute::concat_batches(&schema, &batches)
                .map_err(|error| corrupt(&path, error))?;
            batch_to_traces(&batch, &tables).map_err(|error| corrupt(&path, error))
        })
        .await
    }

    /// Fetches the pages that hold rows `rows` of `row_group` (every column, nothing else of the
    /// row group) and returns their decoder, which yields batches of at most `batch_rows` rows.
    /// Only IO happens here: decoding happens as the result is iterated, so a caller iterates it
    /// on the blocking pool (the compactor's merge streams a block this way in bounded memory).
    pub async fn fetch_rows(
        &self,
        row_group: usize,
        rows: Range<usize>,
        batch_rows: usize,
    ) -> Result<RowSliceBatches> {
        let footer = self.footer().await?;
        if row_group >= footer.metadata.num_row_groups() {
            return Err(corrupt(
                &self.data_path,
                format!("row group {row_group} does not exist"),
            ));
        }
        let row_count = usize::try_from(footer.metadata.row_group(row_group).num_rows())
            .map_err(|_| corrupt(&self.data_path, "negative row count"))?;
        if rows.start > rows.end || rows.end > row_count {
            return Err(corrupt(
                &self.data_path,
                format!("rows {rows:?} outside row group {row_group} of {row_count} rows"),
            ));
        }
        let selection = RowSelection::from(vec![
            RowSelector::skip(rows.start),
            RowSelector::select(rows.end - rows.start),
        ]);
        let mut stream = self
            .stream_builder(&footer)
            .with_row_groups(vec![row_group])
            .with_row_selection(selection)
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(|error| read_error(&self.data_path, error))?;
        let reader = stream
            .next_row_group()
            .await
            .map_err(|error| read_error(&self.data_path, error))?
            .ok_or_else(|| corrupt(&self.data_path, format!("row group {row_group} missing")))?;
        Ok(RowSliceBatches {
            reader,
            path: self.data_path.clone(),
        })
    }

    fn stream_builder(
        &self,
        footer: &Footer,
    ) -> ParquetRecordBatchStreamBuilder<ObjectStoreFileReader> {
        let reader = ObjectStoreFileReader::new(
            self.store.clone(),
            self.data_path.clone(),
            footer.metadata.clone(),
            FileReaderOptions::default(),
        );
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, footer.arrow.clone())
    }

    async fn collect(
        &self,
        builder: ParquetRecordBatchStreamBuilder<ObjectStoreFileReader>,
    ) -> Result<Vec<RecordBatch>> {
        let handle = tokio::runtime::Handle::current();
        let path = self.data_path.clone();
        run_blocking(&self.data_path, move || {
            handle.block_on(async move {
                let stream = builder.build().map_err(|error| read_error(&path, error))?;
                stream
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|error| read_error(&path, error))
            })
        })
        .await
    }

    async fn footer(&self) -> Result<Arc<Footer>> {
        self.footer
            .get_or_try_init(|| async {
                let store = self.store.clone();
                let path = self.data_path.clone();
                let expected_size = self.meta.size;
                let footer_size = u64::from(self.meta.footer_size);
                let row_groups = self.meta.row_groups.len();
                let handle = tokio::runtime::Handle::current();
                run_blocking(&self.data_path, move || {
                    handle.block_on(load_footer(
                        store.as_ref(),
                        &path,
                        expected_size,
                        footer_size,
                        row_groups,
                    ))
                })
                .await
                .map(Arc::new)
            })
            .await
            .cloned()
    }
}

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

async fn load_footer(
    store: &dyn ObjectStore,
    path: &Path,
    expected_size: u64,
    footer_size: u64,
    row_groups: usize,
) -> Result<Footer> {
    let fetched = fetch_metadata(store, path, footer_size)
        .await
        .map_err(|error| match error {
            MetadataError::Store(source) => Error::from_store("get", path, source),
            MetadataError::Parquet(source) => corrupt(path, source),
        })?;
    if fetched.object_size != expected_size {
        return Err(corrupt(
            path,
            format!(
                "object is {} bytes, meta.json says {expected_size}",
                fetched.object_size
            ),
        ));
    }
    let metadata = Arc::new(fetched.metadata);
    if metadata.num_row_groups() != row_groups {
        return Err(corrupt(
            path,
            format!(
                "{} row groups, meta.json says {row_groups}",
                metadata.num_row_groups()
            ),
        ));
    }
    let value_of = |key: &str| {
        metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|entries| entries.iter().find(|entry| entry.key == key))
            .and_then(|entry| entry.value.clone())
            .ok_or_else(|| corrupt(path, format!("footer has no {key}")))
    };
    let tables = RefTables::from_footer(&value_of(RESOURCES_KEY)?, &value_of(SCOPES_KEY)?)
        .map_err(|error| corrupt(path, error))?;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let arrow = ArrowReaderMetadata::try_new(metadata.clone(), options)
        .map_err(|error| corrupt(path, error))?;
    Ok(Footer {
        metadata,
        arrow,
        tables: Arc::new(tables),
    })
}

/// Store failures keep their kind (not found, unavailable); anything else is corrupt data.
fn read_error(path: &Path, error: ParquetError) -> Error {
    match error {
        ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
            Ok(source) => Error::from_store("get", path, *source),
            Err(other) => corrupt(path, other),
        },
        other => corrupt(path, other),
    }
}
