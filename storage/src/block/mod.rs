//! Blocks: immutable, versioned units of trace data in the object store.
//!
//! Layout: `<tenant>/<block-uuid>/{data.parquet, bloom-0..N-1, meta.json}`, written in that
//! order so a block is visible (listed) only once `meta.json` exists. Compaction replaces
//! `meta.json` with `meta.compacted.json`. `<tenant>/index.json.zst` is the tenant index.
//!
//! `Encoding::from_version(&meta.format)` selects the code of a format version; `vc1` (in `v1/`)
//! is the only one so far. The schema decision is recorded in `docs/adr/001-block-schema.md`.

pub mod bloom;
pub mod index;
pub mod list;
pub mod meta;
pub mod v1;

use std::io::Read;

use contrail_proto::TenantId;
use object_store::path::Path;

use crate::error::{Error, Result};

pub use index::{TenantIndex, read_tenant_index, write_tenant_index};
pub use list::{
    BlockList, CorruptBlock, list_blocks, list_tenants, mark_compacted, read_block_meta,
};
pub use meta::{BlockMeta, CompactedBlockMeta, DedicatedColumnMeta, RowGroupMeta};
pub use uuid::Uuid;
pub use v1::{
    BlockReader, BlockWriter, BlockWriterConfig, ParquetOptions, Projection, WrittenBlock,
};

/// The Parquet data object of a block.
pub const DATA_OBJECT: &str = "data.parquet";
/// The meta object; its presence makes a block visible.
pub const META_OBJECT: &str = "meta.json";
/// The meta object of a compacted (replaced) block.
pub const COMPACTED_META_OBJECT: &str = "meta.compacted.json";
/// The tenant index, under `<tenant>/`.
pub const TENANT_INDEX_OBJECT: &str = "index.json.zst";

/// The name of bloom shard `shard`: `bloom-<shard>`.
pub fn bloom_object(shard: u32) -> String {
    format!("bloom-{shard}")
}

/// `<tenant>/<block>`.
pub fn block_path(tenant: &TenantId, block_id: &Uuid) -> Path {
    Path::from(tenant.as_str()).join(block_id.to_string().as_str())
}

/// `<tenant>/<block>/<object>`.
pub fn object_path(tenant: &TenantId, block_id: &Uuid, object: &str) -> Path {
    block_path(tenant, block_id).join(object)
}

/// The block format versions this build reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `vc1`: flat span rows, see `docs/adr/001-block-schema.md`.
    V1,
}

impl Encoding {
    /// The newest format, used for new blocks.
    pub const LATEST: Encoding = Encoding::V1;

    /// The format named by `meta.format`.
    pub fn from_version(format: &str) -> Option<Encoding> {
        match format {
            v1::FORMAT => Some(Encoding::V1),
            _ => None,
        }
    }

    /// The name written into `meta.format`.
    pub fn version(self) -> &'static str {
        match self {
            Encoding::V1 => v1::FORMAT,
        }
    }
}

/// A `CorruptBlock` error for `object`.
pub(crate) fn corrupt(object: &Path, message: impl std::fmt::Display) -> Error {
    Error::CorruptBlock {
        object: object.to_string(),
        message: message.to_string(),
    }
}

/// zstd-decompresses at most `limit` bytes; more is an error (a corrupt or hostile object).
pub(crate) fn decompress_bounded(compressed: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::new(compressed)?;
    let mut out = Vec::new();
    let read = decoder.take(limit as u64 + 1).read_to_end(&mut out)?;
    if read > limit {
        return Err(std::io::Error::other(format!(
            "decompressed size exceeds {limit} bytes"
        )));
    }
    Ok(out)
}

/// Runs CPU-heavy `work` on the blocking pool; a panic inside becomes an error naming `object`
/// (decoders must never take the process down on bad data).
pub(crate) async fn run_blocking<T, F>(object: &Path, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join_error) if join_error.is_panic() => Err(corrupt(
            object,
            format!(
                "decoder panicked: {}",
                panic_message(join_error.into_panic())
            ),
        )),
        Err(join_error) => Err(Error::BlockTask {
            message: join_error.to_string(),
        }),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}
