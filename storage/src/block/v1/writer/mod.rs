//! The `vc1` block writer: traces in trace-ID order in, `data.parquet` out, then the bloom
//! shards, then `meta.json`.
//!
//! CPU and IO are split: rows are built and Parquet pages encoded and compressed by a
//! synchronous `ArrowWriter` into an in-memory buffer on the writer's own thread
//! (`WorkerThread`: never on the async runtime, never calling back into it, and never spread
//! over tokio's blocking threads, which would keep a row group's buffers in as many allocator
//! heaps, ADR 018); the bytes it produced are then handed to an
//! `object_store` `BufWriter` (multipart for big files) on the async side. Memory stays bounded:
//! traces are buffered only until `batch_spans` spans, the Parquet writer holds at most one row
//! group (`row_group_target_bytes`), and only the 16-byte trace IDs are kept for the bloom
//! filter. Row groups are cut only between traces, so a trace lives in exactly one row group.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use contrail_proto::{TenantId, TraceId};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory;
use parquet::file::metadata::ParquetMetaData;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::FORMAT;
use super::parquet_sink::{ParquetSink, column_writer_factory};
use super::schema::{ParquetOptions, arrow_schema, vc1_dedicated_columns, writer_properties};
use crate::block::bloom::{self, build_shards};
use crate::block::meta::BlockMeta;
use crate::block::v1::convert::to_rows::SpanBatchBuilder;
use crate::block::v1::convert::{EncodedTrace, RefTables, Trace};
use crate::block::{DATA_OBJECT, META_OBJECT, bloom_object, object_path};
use crate::error::{Error, Result};
use crate::worker_thread::WorkerThread;

pub(crate) mod append;
mod encode;

use append::RowGroupAppender;
use encode::{EncodeState, PendingTrace, write_error};

/// Parts of `data.parquet` uploaded at once (object_store's default is 8): with the merge
/// handing over a column chunk at a time, this bounds the output bytes in memory.
const UPLOAD_PARTS_IN_FLIGHT: usize = 4;

/// zstd level of the pages of new blocks (see `BlockWriterConfig::new`).
const WRITER_ZSTD_LEVEL: i32 = 1;

/// How a block is written.
#[derive(Debug, Clone)]
pub struct BlockWriterConfig {
    /// The owner of the block.
    pub tenant: TenantId,
    /// The block's ID (a random v4 UUID by default).
    pub block_id: Uuid,
    /// A row group is cut (between traces) once its encoded size passes this.
    pub row_group_target_bytes: usize,
    /// Traces are converted and encoded in batches of about this many spans.
    pub batch_spans: usize,
    /// Parquet encoding knobs.
    pub parquet: ParquetOptions,
    /// Bloom false-positive rate.
    pub bloom_false_positive: f64,
    /// Upper bound of one bloom shard's bitmap.
    pub bloom_shard_max_bytes: usize,
    /// Compaction level written into the meta.
    pub compaction_level: u32,
    /// Replication factor written into the meta (1 for RF1 blocks).
    pub replication_factor: u32,
    /// The blocks this one replaces (a compaction's inputs), written into the meta.
    pub compacted_from: Vec<Uuid>,
    /// Bytes of one part of the multipart upload of `data.parquet` (`storage.trace.s3.part_size`
    /// for S3); up to `UPLOAD_PARTS_IN_FLIGHT` parts are buffered at once.
    pub upload_part_size: usize,
}

/// `object_store`'s own default part size, kept where no backend setting says otherwise.
pub const DEFAULT_UPLOAD_PART_SIZE: usize = 10 * 1024 * 1024;

impl BlockWriterConfig {
    /// Defaults for `tenant` with a fresh block ID.
    pub fn new(tenant: TenantId) -> Self {
        BlockWriterConfig {
            tenant,
            block_id: Uuid::new_v4(),
            row_group_target_bytes: 32 * 1024 * 1024,
            batch_spans: 8192,
            // zstd 1 instead of the schema's default 3: 15% less encode CPU for 1.5% more bytes
            // (docs/adr/006-block-writer-speed.md).
            parquet: ParquetOptions {
                zstd_level: WRITER_ZSTD_LEVEL,
                ..ParquetOptions::default()
            },
            bloom_false_positive: bloom::DEFAULT_FALSE_POSITIVE,
            bloom_shard_max_bytes: bloom::DEFAULT_SHARD_MAX_BYTES,
            compaction_level: 0,
            replication_factor: 1,
            compacted_from: Vec::new(),
            upload_part_size: DEFAULT_UPLOAD_PART_SIZE,
        }
    }
}

/// A finished block: its meta and the bytes of every object written.
#[derive(Debug, Clone)]
pub struct WrittenBlock {
    /// The meta, as written to `meta.json`.
    pub meta: BlockMeta,
    /// Bytes of `meta.json`.
    pub meta_bytes: u64,
}

impl WrittenBlock {
    /// Total bytes of the block in the object store: data, bloom shards and meta.
    pub fn total_bytes(&self) -> u64 {
        self.meta.size + self.meta.bloom_size + self.meta_bytes
    }
}

/// Streams one `vc1` block into the object store.
pub struct BlockWriter {
    store: Arc<dyn ObjectStore>,
    config: BlockWriterConfig,
    data_path: Path,
    state: Option<Box<EncodeState>>,
    sink: BufWriter,
    pending: Vec<PendingTrace>,
    pending_spans: usize,
    trace_ids: Vec<TraceId>,
    total_spans: u64,
    /// Where every encode step of this block runs (one thread: its buffers stay in one
    /// allocator heap).
    encoder: WorkerThread,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("data_path", &self.data_path)
            .field("traces", &self.trace_ids.len())
            .field("spans", &self.total_spans)
            .finish()
    }
}

impl BlockWriter {
    /// Starts a block; nothing is visible until [`BlockWriter::finish`] writes `meta.json`.
    pub fn new(store: Arc<dyn ObjectStore>, config: BlockWriterConfig) -> Result<Self> {
        let data_path = object_path(&config.tenant, &config.block_id, DATA_OBJECT);
        let properties =
            writer_properties(&config.parquet).map_err(|source| write_error(&data_path, source))?;
        let parquet = ParquetSink::try_new(arrow_schema(), properties)
            .map_err(|source| write_error(&data_path, source))?;
        let state = EncodeState {
            parquet,
            rows: SpanBatchBuilder::default(),
            tables: RefTables::default(),
            row_groups: Vec::new(),
            current: None,
            row_group_target_bytes: config.row_group_target_bytes.max(1),
        };
        Ok(BlockWriter {
            sink: BufWriter::with_capacity(
                store.clone(),
                data_path.clone(),
                config.upload_part_size.max(1),
            )
            .with_max_concurrency(UPLOAD_PARTS_IN_FLIGHT),
            store,
            config,
            data_path,
            state: Some(Box::new(state)),
            pending: Vec::new(),
            pending_spans: 0,
            trace_ids: Vec::new(),
            total_spans: 0,
            encoder: WorkerThread::start("contrail-encode")?,
        })
    }

    /// The block's ID.
    pub fn block_id(&self) -> Uuid {
        self.config.block_id
    }

    /// Spans pushed so far.
    pub fn spans(&self) -> u64 {
        self.total_spans
    }

    /// Traces pushed so far.
    pub fn traces(&self) -> usize {
        self.trace_ids.len()
    }

    /// Adds one trace. Trace IDs must be strictly increasing; every span must belong to the
    /// trace and have an 8-byte span ID.
    pub async fn push_trace(&mut self, trace: Trace) -> Result<()> {
        let spans = trace.span_count();
        self.push_pending(PendingTrace::Decoded(trace), spans).await
    }

    /// Adds one trace as encoded segments checked by [`EncodedTrace::scan`] (the ingester's
    /// flush): the rows are built from the segment bytes, without decoding them into OTLP
    /// structs. The same rules as [`BlockWriter::push_trace`].
    pub async fn push_encoded(&mut self, trace: EncodedTrace) -> Result<()> {
        let spans = trace.span_count();
        self.push_pending(PendingTrace::Encoded(trace), spans).await
    }

    async fn push_pending(&mut self, trace: PendingTrace, spans: usize) -> Result<()> {
        let trace_id = trace.trace_id();
        if let Some(last) = self.trace_ids.last()
            && *last >= trace_id
        {
            return Err(Error::InvalidBlockInput {
                message: format!("trace {trace_id} pushed after trace {last}"),
            });
        }
        if spans == 0 {
            return Err(Error::InvalidBlockInput {
                message: format!("trace {trace_id} has no spans"),
            });
        }
        self.trace_ids.push(trace_id);
        self.total_spans += spans as u64;
        self.pending_spans += spans;
        self.pending.push(trace);
        if self.pending_spans >= self.config.batch_spans {
            self.encode_pending().await?;
        }
        Ok(())
    }

    /// The resource and scope tables that row references point into (written into the footer).
    pub(crate) fn tables_mut(&mut self) -> Result<&mut RefTables> {
        match self.state.as_mut() {
            Some(state) => Ok(&mut state.tables),
            None => Err(Error::BlockTask {
                message: format!("writer of {} failed earlier", self.data_path),
            }),
        }
    }

    /// Column writers whose closed chunks a lent encoder (`append::RowGroupAppender`)
    /// accepts (this block's schema and encoding properties).
    pub(crate) fn column_writer_factory(&self) -> Result<ArrowRowGroupWriterFactory> {
        let properties = writer_properties(&self.config.parquet)
            .map_err(|source| write_error(&self.data_path, source))?;
        column_writer_factory(arrow_schema(), properties)
            .map_err(|source| write_error(&self.data_path, source))
    }

    async fn encode_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let traces = std::mem::take(&mut self.pending);
        self.pending_spans = 0;
        self.encode_on_pool(traces).await
    }

    /// Encodes on the writer's thread (CPU only), then uploads what was produced (IO only).
    async fn encode_on_pool(&mut self, traces: Vec<PendingTrace>) -> Result<()> {
        let mut state = self.take_state()?;
        let data_path = self.data_path.clone();
        let (state, output) = self
            .encoder
            .run(self.data_path.as_ref(), move || {
                let output = state.encode(traces, &data_path)?;
                Ok((state, output))
            })
            .await?;
        self.state = Some(state);
        self.upload(output).await
    }

    /// Hands encoded bytes to the multipart upload (IO on the async side only).
    pub(crate) async fn upload(&mut self, output: Bytes) -> Result<()> {
        if output.is_empty() {
            return Ok(());
        }
        let data_path = &self.data_path;
        self.sink
            .put(output)
            .await
            .map_err(|source| Error::from_store("put", data_path, source))
    }

    fn take_state(&mut self) -> Result<Box<EncodeState>> {
        self.state.take().ok_or_else(|| Error::BlockTask {
            message: format!("writer of {} failed earlier", self.data_path),
        })
    }

    /// Finishes the block: the rest of `data.parquet`, the bloom shards, then `meta.json`.
    pub async fn finish(mut self) -> Result<WrittenBlock> {
        let (Some(min_id), Some(max_id)) = (
            self.trace_ids.first().copied(),
            self.trace_ids.last().copied(),
        ) else {
            return Err(Error::InvalidBlockInput {
                message: "a block needs at least one trace".to_owned(),
            });
        };
        self.encode_pending().await?;
        let mut state = self.take_state()?;
        let data_path = self.data_path.clone();
        let (state, metadata, output, size) = self
            .encoder
            .run(self.data_path.as_ref(), move || {
                let (metadata, output, size) = state.finish(&data_path)?;
                Ok((state, metadata, output, size))
            })
            .await?;
        self.upload(output).await?;
        // A failed shutdown leaves the writer shut down (object_store's `abort` would panic
        // now); no `meta.json` is written, so the partial object is invisible to readers.
        if let Err(error) = self.sink.shutdown().await {
            return Err(Error::from_store(
                "put",
                &self.data_path,
                object_store::Error::Generic {
                    store: "block writer",
                    source: Box::new(error),
                },
            ));
        }
        let footer_size =
            footer_size(self.store.as_ref(), &self.data_path, &metadata, size).await?;

        let trace_ids = std::mem::take(&mut self.trace_ids);
        let false_positive = self.config.bloom_false_positive;
        let shard_max_bytes = self.config.bloom_shard_max_bytes;
        let shards = self
            .encoder
            .run(self.data_path.as_ref(), move || {
                build_shards(&trace_ids, false_positive, shard_max_bytes)
                    .map_err(|message| Error::BlockTask { message })
                    .map(|shards| (shards, trace_ids.len()))
            })
            .await?;
        let (shards, trace_count) = shards;
        let mut bloom_size = 0u64;
        for (shard, bytes) in shards.iter().enumerate() {
            let path = object_path(
                &self.config.tenant,
                &self.config.block_id,
                &bloom_object(shard as u32),
            );
            bloom_size += bytes.len() as u64;
            self.store
                .put(&path, PutPayload::from(bytes.clone()))
                .await
                .map_err(|source| Error::from_store("put", &path, source))?;
        }

        let start = state
            .row_groups
            .iter()
            .map(|rg| rg.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = state
            .row_groups
            .iter()
            .map(|rg| rg.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        let meta = BlockMeta {
            format: FORMAT.to_owned(),
            block_id: self.config.block_id,
            tenant_id: self.config.tenant.clone(),
            start_time: timestamp(start),
            end_time: timestamp(end),
            min_id,
            max_id,
            total_objects: trace_count as u64,
            total_spans: self.total_spans,
            total_records: state.row_groups.len() as u32,
            size,
            footer_size,
            bloom_shards: shards.len() as u32,
            bloom_size,
            compaction_level: self.config.compaction_level,
            replication_factor: self.config.replication_factor,
            dedicated_columns: vc1_dedicated_columns(),
            row_groups: state.row_groups,
            compacted_from: std::mem::take(&mut self.config.compacted_from),
        };
        let meta_path = object_path(&self.config.tenant, &self.config.block_id, META_OBJECT);
        let body = serde_json::to_vec(&meta).map_err(|error| Error::BlockTask {
            message: format!("encode {meta_path}: {error}"),
        })?;
        let meta_bytes = body.len() as u64;
        self.store
            .put(&meta_path, PutPayload::from(body))
            .await
            .map_err(|source| Error::from_store("put", &meta_path, source))?;
        Ok(WrittenBlock { meta, meta_bytes })
    }
}

/// Bytes from the start of the page indexes to the end of the file. Reads the last 8 bytes
/// back (as Tempo does) to check the `PAR1` magic of what the store holds.
async fn footer_size(
    store: &dyn ObjectStore,
    data_path: &Path,
    metadata: &ParquetMetaData,
    size: u64,
) -> Result<u32> {
    let tail_start = size.checked_sub(8).ok_or_else(|| Error::BlockTask {
        message: format!("{data_path} is only {size} bytes"),
    })?;
    let tail = store
        .get_range(data_path, tail_start..size)
        .await
        .map_err(|source| Error::from_store("get", data_path, source))?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(Error::BlockTask {
            message: format!("{data_path} does not end with the parquet magic after upload"),
        });
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let page_index_start = metadata
        .row_groups()
        .iter()
        .flat_map(|row_group| row_group.columns())
        .flat_map(|column| [column.column_index_offset(), column.offset_index_offset()])
        .flatten()
        .filter_map(|offset| u64::try_from(offset).ok())
        .min()
        .unwrap_or(size);
    let footer_start = page_index_start.min(size.saturating_sub(metadata_len + 8));
    u32::try_from(size - footer_start).map_err(|_| Error::BlockTask {
        message: format!("footer of {data_path} larger than 4 GiB"),
    })
}

fn timestamp(unix_nano: u64) -> DateTime<Utc> {
    let nanos = i64::try_from(unix_nano).unwrap_or(i64::MAX);
    Utc.timestamp_nanos(nanos)
}

impl BlockWriter {
    /// Lends the encoder to a merge's thread, which appends row groups encoded column by
    /// column there ([`RowGroupAppender`]) and hands the bytes produced to
    /// [`BlockWriter::upload`]; [`BlockWriter::take_back`] returns it. Only before any trace
    /// is pushed.
    pub(crate) fn lend_encoder(&mut self) -> Result<RowGroupAppender> {
        if !self.pending.is_empty() {
            return Err(Error::InvalidBlockInput {
                message: "row groups appended after traces were pushed".to_owned(),
            });
        }
        Ok(RowGroupAppender {
            state: self.take_state()?,
            data_path: self.data_path.clone(),
            last_trace: self.trace_ids.last().copied(),
            trace_ids: Vec::new(),
            spans: 0,
        })
    }

    /// Takes the encoder back from a merge's thread, with the traces it appended.
    pub(crate) fn take_back(&mut self, appender: RowGroupAppender) {
        self.trace_ids.extend(appender.trace_ids);
        self.total_spans += appender.spans;
        self.state = Some(appender.state);
    }
}
