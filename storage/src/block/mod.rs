//! Blocks: immutable, versioned units of trace data in the object store.
//!
//! Layout: `<tenant>/<block-uuid>/{data.parquet, bloom-0..N-1, meta.json}`, written in that
//! order so a block is visible (listed) only once `meta.json` exists. Compaction replaces
//! `meta.json` with `meta.compacted.json`. `<tenant>/index.json.zst` is the tenant index.
//!
//! `Encoding::from_version(&meta.format)` selects the code of a format version; `vc1` (in `v1/`)
//! is the only one so far. The schema decision is recorded in `docs/adr/001-block-schema.md`.
//!
//! This module only declares and re-exports; shared helpers live in leaf modules (`paths`,
//! `decompress`, `encoding`) so the module graph stays acyclic.

pub mod bloom;
mod decompress;
mod encoding;
pub mod index;
pub mod list;
pub mod meta;
mod paths;
pub mod v1;

pub(crate) use crate::error::corrupt;
pub(crate) use decompress::decompress_bounded;
pub use encoding::Encoding;
pub use index::{TenantIndex, read_tenant_index, write_tenant_index};
pub use list::{
    BlockList, CorruptBlock, list_blocks, list_tenants, mark_compacted, read_block_meta,
};
pub use meta::{BlockMeta, CompactedBlockMeta, DedicatedColumnMeta, RowGroupMeta};
pub use paths::{
    COMPACTED_META_OBJECT, DATA_OBJECT, META_OBJECT, TENANT_INDEX_OBJECT, block_path, bloom_object,
    object_path,
};
pub use uuid::Uuid;
pub use v1::{
    BlockReader, BlockWriter, BlockWriterConfig, Footer, ParquetOptions, Projection, ReaderOptions,
    WrittenBlock,
};
