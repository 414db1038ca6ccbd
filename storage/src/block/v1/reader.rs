//! The `vc1` block reader.
//!
//! IO and CPU apart: every read first plans the byte ranges it needs (whole column chunks, or
//! only the pages of the selected rows), fetches them asynchronously and coalesced through
//! `object_store`, then decodes on the [`DecodePool`]. No thread is ever blocked on IO.
//!
//! Trace by ID: meta ID range → one bloom shard GET → row groups whose trace-ID range (from
//! `meta.json`, no footer needed) includes the ID → footer and page indexes in one ranged GET
//! (cached per reader) → trace-ID pages whose min/max include the ID → only those pages of the
//! other columns.

use std::sync::Arc;

use arrow::array::{FixedSizeBinaryArray, RecordBatch, Scalar};
use contrail_proto::{TenantId, TraceId};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::footer::{Footer, build_footer};
use super::schema::{FORMAT, TRACE_ID};
use crate::block::bloom::{BloomShard, shard_for};
use crate::block::list::read_block_meta;
use crate::block::meta::BlockMeta;
use crate::block::paths::{DATA_OBJECT, META_OBJECT, bloom_object, object_path};
use crate::block::v1::convert::{RefTables, Trace, batch_to_traces};
use crate::decode_pool::DecodePool;
use crate::error::{Error, Result, corrupt};
use crate::parquet_query::predicate::{ColumnPredicate, CompareOp, Literal};
use crate::parquet_query::{
    FetchOptions, LeafRead, SparseFile, decode, fetch_footer_suffix, fetch_into, leaf_index,
    pages_may_match, parse_footer,
};

/// Which columns to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// Every column.
    All,
    /// Only these top-level columns (by name, e.g. `duration_nano`, `http_status_code`).
    Columns(Vec<String>),
}

/// How a reader does its IO and CPU work.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Where decoding runs.
    pub pool: DecodePool,
    /// How byte ranges are fetched.
    pub fetch: FetchOptions,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            pool: DecodePool::shared(),
            fetch: FetchOptions::default(),
        }
    }
}

/// Reads one `vc1` block.
pub struct BlockReader {
    store: Arc<dyn ObjectStore>,
    meta: BlockMeta,
    data_path: Path,
    options: ReaderOptions,
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
    /// A reader for the block described by `meta` (no IO yet), decoding on the shared pool.
    pub fn open(store: Arc<dyn ObjectStore>, meta: BlockMeta) -> Result<Self> {
        Self::open_with(store, meta, ReaderOptions::default())
    }

    /// A reader with explicit IO and CPU options.
    pub fn open_with(
        store: Arc<dyn ObjectStore>,
        meta: BlockMeta,
        options: ReaderOptions,
    ) -> Result<Self> {
        let data_path = object_path(&meta.tenant_id, &meta.block_id, DATA_OBJECT);
        if meta.format != FORMAT {
            return Err(Error::UnknownBlockFormat {
                object: object_path(&meta.tenant_id, &meta.block_id, META_OBJECT).to_string(),
                format: meta.format.clone(),
            });
        }
        Ok(BlockReader {
            store,
            meta,
            data_path,
            options,
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

    /// The path of `data.parquet`.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// The pool this reader decodes on.
    pub fn pool(&self) -> &DecodePool {
        &self.options.pool
    }

    /// Whether the block may hold `trace_id`: ID range, then one bloom shard.
    pub async fn may_contain(&self, trace_id: &TraceId) -> Result<bool> {
        if !self.meta.may_contain(trace_id) {
            return Ok(false);
        }
        let shard = self
            .bloom_shard(shard_for(trace_id, self.bloom_shard_count()?))
            .await?;
        Ok(shard.may_contain(trace_id))
    }

    /// The IDs of `trace_ids` the block may hold (ID range, then the bloom shards, each read
    /// once), in their order.
    pub async fn may_contain_any(&self, trace_ids: &[TraceId]) -> Result<Vec<TraceId>> {
        let in_range: Vec<TraceId> = trace_ids
            .iter()
            .filter(|id| self.meta.may_contain(id))
            .copied()
            .collect();
        if in_range.is_empty() {
            return Ok(in_range);
        }
        let shards = self.bloom_shard_count()?;
        let mut by_shard: std::collections::BTreeMap<u32, Vec<TraceId>> = Default::default();
        for id in &in_range {
            by_shard.entry(shard_for(id, shards)).or_default().push(*id);
        }
        let mut kept = std::collections::HashSet::new();
        for (index, ids) in by_shard {
            let shard = self.bloom_shard(index).await?;
            kept.extend(ids.into_iter().filter(|id| shard.may_contain(id)));
        }
        Ok(in_range
            .into_iter()
            .filter(|id| kept.contains(id))
            .collect())
    }

    fn bloom_shard_count(&self) -> Result<u32> {
        match self.meta.bloom_shards {
            0 => Err(corrupt(&self.block_object(META_OBJECT), "bloomShards is 0")),
            shards => Ok(shards),
        }
    }

    /// Bloom shard `index` (one GET).
    async fn bloom_shard(&self, index: u32) -> Result<BloomShard> {
        let path = self.block_object(&bloom_object(index));
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|source| Error::from_store("get", &path, source))?
            .bytes()
            .await
            .map_err(|source| Error::from_store("get", &path, source))?;
        BloomShard::decode(&bytes).map_err(|message| corrupt(&path, message))
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
        let predicate = ColumnPredicate::Compare {
            op: CompareOp::Eq,
            literal: Literal::Bytes(Arc::from(trace_id.as_bytes().as_slice())),
        };
        for row_group in row_groups {
            if row_group >= footer.metadata.num_row_groups() {
                return Err(corrupt(
                    &self.data_path,
                    format!("row group {row_group} missing"),
                ));
            }
            let rows = pages_may_match(&footer.metadata, row_group, leaf, &predicate);
            if rows.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            let read = LeafRead {
                row_group,
                leaves: (0..schema.num_columns()).collect(),
                rows,
            };
            let file = self.fetch(&footer, &read).await?;
            let tables = footer.tables.clone();
            let arrow_meta = footer.arrow.clone();
            let path = self.data_path.clone();
            let needle = *trace_id;
            let traces = self
                .options
                .pool
                .run(self.data_path.as_ref(), move || {
                    let Some(batch) =
                        decode(file, &arrow_meta, &read).map_err(|e| read_error(&path, e))?
                    else {
                        return Ok(Vec::new());
                    };
                    let batch = rows_of_trace(&batch, &needle).map_err(|e| corrupt(&path, e))?;
                    if batch.num_rows() == 0 {
                        return Ok(Vec::new());
                    }
                    batch_to_traces(&batch, &tables).map_err(|error| corrupt(&path, error))
                })
                .await?;
            if let Some(trace) = traces.into_iter().find(|trace| trace.trace_id == *trace_id) {
                return Ok(Some(trace));
            }
            // No row matched: the bloom filter's false positive.
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
        let read = self.row_group_read(&footer, row_group, projection)?;
        let file = self.fetch(&footer, &read).await?;
        let arrow_meta = footer.arrow.clone();
        let path = self.data_path.clone();
        self.options
            .pool
            .run(self.data_path.as_ref(), move || {
                decode(file, &arrow_meta, &read)
                    .map(|batch| batch.into_iter().collect())
                    .map_err(|error| read_error(&path, error))
            })
            .await
    }

    /// Every trace of one row group, as OTLP.
    pub async fn read_row_group_traces(&self, row_group: usize) -> Result<Vec<Trace>> {
        let footer = self.footer().await?;
        let read = self.row_group_read(&footer, row_group, &Projection::All)?;
        let file = self.fetch(&footer, &read).await?;
        let arrow_meta = footer.arrow.clone();
        let tables = footer.tables.clone();
        let path = self.data_path.clone();
        self.options
            .pool
            .run(self.data_path.as_ref(), move || {
                match decode(file, &arrow_meta, &read).map_err(|e| read_error(&path, e))? {
                    Some(batch) => {
                        batch_to_traces(&batch, &tables).map_err(|error| corrupt(&path, error))
                    }
                    None => Ok(Vec::new()),
                }
            })
            .await
    }

    fn row_group_read(
        &self,
        footer: &Footer,
        row_group: usize,
        projection: &Projection,
    ) -> Result<LeafRead> {
        if row_group >= footer.metadata.num_row_groups() {
            return Err(corrupt(
                &self.data_path,
                format!("row group {row_group} does not exist"),
            ));
        }
        let schema = footer.metadata.file_metadata().schema_descr();
        let leaves = match projection {
            Projection::All => (0..schema.num_columns()).collect(),
            Projection::Columns(columns) => (0..schema.num_columns())
                .filter(|leaf| {
                    let path = schema.column(*leaf).path().parts().to_vec();
                    path.first().is_some_and(|top| columns.contains(top))
                })
                .collect(),
        };
        Ok(LeafRead {
            row_group,
            leaves,
            rows: None,
        })
    }

    /// Fetches the byte ranges `read` needs (asynchronously, coalesced).
    pub(crate) async fn fetch(&self, footer: &Footer, read: &LeafRead) -> Result<SparseFile> {
        let mut file = SparseFile::new(self.meta.size);
        self.fetch_more(&read.byte_ranges(&footer.arrow), &mut file)
            .await?;
        Ok(file)
    }

    /// Adds `ranges` to `file`, fetching only what it does not hold yet; returns bytes fetched.
    pub(crate) async fn fetch_more(
        &self,
        ranges: &[std::ops::Range<u64>],
        file: &mut SparseFile,
    ) -> Result<u64> {
        fetch_into(
            &self.store,
            &self.data_path,
            ranges,
            &self.options.fetch,
            file,
        )
        .await
        .map_err(|source| Error::from_store("get", &self.data_path, source))
    }

    /// The footer: one suffix GET of `footerSize` bytes (asynchronous), parsed on the pool,
    /// then cached for the reader's lifetime.
    pub async fn footer(&self) -> Result<Arc<Footer>> {
        self.footer
            .get_or_try_init(|| async { self.load_footer().await.map(Arc::new) })
            .await
            .cloned()
    }

    async fn load_footer(&self) -> Result<Footer> {
        let path = &self.data_path;
        let store_error = |source| Error::from_store("get", path, source);
        let hint = u64::from(self.meta.footer_size);
        let (mut suffix, object_size) = fetch_footer_suffix(self.store.as_ref(), path, hint)
            .await
            .map_err(store_error)?;
        if object_size != self.meta.size {
            return Err(corrupt(
                path,
                format!(
                    "object is {object_size} bytes, meta.json says {}",
                    self.meta.size
                ),
            ));
        }
        let row_groups = self.meta.row_groups.len();
        for attempt in 0..2 {
            let bytes = suffix.clone();
            let task_path = path.clone();
            let parsed = self
                .options
                .pool
                .run(self.data_path.as_ref(), move || {
                    Ok(match parse_footer(&bytes, object_size) {
                        Ok(metadata) => Ok(build_footer(&task_path, metadata, row_groups)?),
                        Err(error) => Err(error),
                    })
                })
                .await?;
            match parsed {
                Ok(footer) => return Ok(footer),
                Err(ParquetError::NeedMoreData(needed)) if attempt == 0 => {
                    let needed = u64::try_from(needed).unwrap_or(u64::MAX).min(object_size);
                    suffix = self
                        .store
                        .get_range(path, object_size - needed..object_size)
                        .await
                        .map_err(store_error)?;
                }
                Err(error) => return Err(corrupt(path, format!("footer: {error}"))),
            }
        }
        Err(corrupt(path, "footer: size hint too small twice"))
    }
}

/// The rows of `batch` whose `trace_id` is `trace_id`.
fn rows_of_trace(batch: &RecordBatch, trace_id: &TraceId) -> Result<RecordBatch, String> {
    let column = batch
        .column_by_name(TRACE_ID)
        .ok_or_else(|| "no trace_id column".to_owned())?;
    let needle = FixedSizeBinaryArray::try_from_iter(std::iter::once(trace_id.as_bytes()))
        .map_err(|error| error.to_string())?;
    let mask = arrow::compute::kernels::cmp::eq(column, &Scalar::new(&needle))
        .map_err(|error| error.to_string())?;
    if mask.true_count() == 0 {
        return Ok(batch.slice(0, 0));
    }
    arrow::compute::filter_record_batch(batch, &mask).map_err(|error| error.to_string())
}

/// Decoding errors: a read outside the fetched ranges or undecodable bytes. Both mean the
/// block's bytes disagree with its footer: corrupt data.
pub(crate) fn read_error(path: &Path, error: ParquetError) -> Error {
    corrupt(path, error)
}
