//! Writing a cut block and uploading it.
//!
//! The block is written with `BlockWriter` into the local block store (`<wal>/blocks`, where it
//! stays readable for `complete_block_timeout`), traces checked and indexed in batches on the CPU
//! pool (`EncodedTrace::scan`: the writer builds rows straight from the segment bytes; segments
//! the wire path does not take are decoded with `prost` as before). The block's segments are
//! unpacked first, each held record decompressed once and only the block's segments copied out
//! (`packed::unpack_block`); those bytes count as held until the block is written.
//! Then its objects are copied to the object store: `data.parquet` (multipart when large), the
//! bloom shards, and `meta.json` last, so the block exists for readers only once it is whole.
//! Only after that are the block's WAL references released.

use std::sync::Arc;

use contrail_storage::block::{
    BlockWriter, BlockWriterConfig, DATA_OBJECT, META_OBJECT, WrittenBlock, bloom_object,
    object_path,
};
use contrail_storage::config::BlockConfig;
use contrail_storage::convert::{EncodedTrace, Scanned, Trace};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::cpu::CpuPool;
use crate::error::{Error, Result};
use crate::instance::CutBlock;
use crate::metrics::IngesterMetrics;
use crate::packed::{HeldBytes, UnpackedBlock, unpack_block};
use crate::trace::{Dropped, decode_chunks};

/// A trace ready for the block writer.
enum Ready {
    Encoded(EncodedTrace),
    Decoded(Trace),
}

/// Spans scanned per CPU task while writing a block.
const DECODE_BATCH_SPANS: u64 = 8192;

/// What writing and uploading blocks needs.
#[derive(Debug, Clone)]
pub(crate) struct Flusher {
    pub(crate) local: Arc<dyn ObjectStore>,
    pub(crate) remote: Arc<dyn ObjectStore>,
    pub(crate) block: BlockConfig,
    pub(crate) cpu: CpuPool,
    pub(crate) metrics: IngesterMetrics,
    /// The ingester's held-bytes counter (unpacked blocks count while written).
    pub(crate) held: Arc<HeldBytes>,
}

/// A block's unpacked segments, counted as held until dropped.
struct Unpacked {
    block: UnpackedBlock,
    held: Arc<HeldBytes>,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        self.held.sub(self.block.bytes);
    }
}

impl Flusher {
    /// Writes `block` into the local store. `None` when no valid span was left.
    pub(crate) async fn write_local(&self, block: &Arc<CutBlock>) -> Result<Option<WrittenBlock>> {
        let mut config = BlockWriterConfig::new(block.tenant.clone());
        config.block_id = block.block_id;
        self.block.apply_to(&mut config);
        let flush_error = |source| Error::Flush {
            tenant: block.tenant.to_string(),
            block_id: block.block_id,
            source: Box::new(source),
        };
        let mut writer = BlockWriter::new(self.local.clone(), config).map_err(flush_error)?;
        let source = block.clone();
        let held = self.held.clone();
        let unpacked = self
            .cpu
            .run(move || {
                let block = unpack_block(source.traces.iter().map(|(_, data)| &data.chunks[..]));
                held.add(block.bytes);
                Arc::new(Unpacked { block, held })
            })
            .await?;
        self.count_dropped(Dropped {
            invalid_spans: 0,
            undecodable_chunks: unpacked.block.failed,
        });
        tracing::debug!(
            block_id = %block.block_id,
            unpacked_bytes = unpacked.block.bytes,
            "block's held segments unpacked"
        );
        let mut next = 0usize;
        while next < block.traces.len() {
            let mut end = next;
            let mut spans = 0u64;
            while end < block.traces.len() && spans < DECODE_BATCH_SPANS {
                spans += block.traces[end].1.spans;
                end += 1;
            }
            let source = block.clone();
            let bytes = unpacked.clone();
            let range = next..end;
            let (traces, dropped) = self
                .cpu
                .run(move || {
                    let mut dropped = Dropped::default();
                    let traces: Vec<Ready> = source.traces[range.clone()]
                        .iter()
                        .zip(&bytes.block.traces[range])
                        .filter_map(|((trace_id, data), chunks)| {
                            match EncodedTrace::scan_with(*trace_id, chunks.clone(), data.checked) {
                                Scanned::Ready {
                                    trace,
                                    invalid_spans,
                                } => {
                                    dropped.invalid_spans += invalid_spans;
                                    trace.map(Ready::Encoded)
                                }
                                Scanned::Decode => decode_chunks(*trace_id, chunks, &mut dropped)
                                    .map(Ready::Decoded),
                            }
                        })
                        .collect();
                    (traces, dropped)
                })
                .await?;
            self.count_dropped(dropped);
            for trace in traces {
                match trace {
                    Ready::Encoded(trace) => writer.push_encoded(trace).await,
                    Ready::Decoded(trace) => writer.push_trace(trace).await,
                }
                .map_err(flush_error)?;
            }
            next = end;
        }
        if writer.traces() == 0 {
            return Ok(None);
        }
        writer.finish().await.map(Some).map_err(flush_error)
    }

    fn count_dropped(&self, dropped: Dropped) {
        if dropped.invalid_spans > 0 || dropped.undecodable_chunks > 0 {
            tracing::warn!(
                invalid_spans = dropped.invalid_spans,
                undecodable_segments = dropped.undecodable_chunks,
                "dropped invalid spans while writing a block"
            );
            self.metrics
                .invalid_spans_dropped
                .inc_by(dropped.invalid_spans);
        }
    }

    /// Copies a locally written block to the object store, `meta.json` last.
    pub(crate) async fn upload(&self, written: &WrittenBlock) -> Result<()> {
        let meta = &written.meta;
        let upload_error = |source| Error::Flush {
            tenant: meta.tenant_id.to_string(),
            block_id: meta.block_id,
            source: Box::new(source),
        };
        let data = object_path(&meta.tenant_id, &meta.block_id, DATA_OBJECT);
        self.copy_streaming(&data).await.map_err(upload_error)?;
        for shard in 0..meta.bloom_shards {
            let path = object_path(&meta.tenant_id, &meta.block_id, &bloom_object(shard));
            self.copy_small(&path).await.map_err(upload_error)?;
        }
        let meta_path = object_path(&meta.tenant_id, &meta.block_id, META_OBJECT);
        self.copy_small(&meta_path).await.map_err(upload_error)
    }

    async fn copy_small(&self, path: &Path) -> contrail_storage::Result<()> {
        let bytes = self
            .local
            .get(path)
            .await
            .map_err(|source| contrail_storage::Error::from_store("get", path, source))?
            .bytes()
            .await
            .map_err(|source| contrail_storage::Error::from_store("get", path, source))?;
        self.remote
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(|source| contrail_storage::Error::from_store("put", path, source))?;
        Ok(())
    }

    /// Streams an object (multipart upload once it passes the buffer size).
    async fn copy_streaming(&self, path: &Path) -> contrail_storage::Result<()> {
        let store_error =
            |operation, source| contrail_storage::Error::from_store(operation, path, source);
        let mut stream = self
            .local
            .get(path)
            .await
            .map_err(|source| store_error("get", source))?
            .into_stream();
        let mut sink = BufWriter::new(self.remote.clone(), path.clone());
        let copied = async {
            while let Some(chunk) = stream.try_next().await.map_err(|s| store_error("get", s))? {
                sink.put(chunk).await.map_err(|s| store_error("put", s))?;
            }
            sink.shutdown().await.map_err(|error| {
                store_error(
                    "put",
                    object_store::Error::Generic {
                        store: "upload",
                        source: Box::new(error),
                    },
                )
            })
        }
        .await;
        if copied.is_err() {
            let _ = sink.abort().await;
        }
        copied
    }
}
