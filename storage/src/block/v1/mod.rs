//! Format `vc1`: flat span rows in `data.parquet` (see `schema`), trace-ID bloom shards, and
//! `meta.json` written last. `writer` streams a block out; `reader` opens one by its meta.

pub mod convert;
pub mod merge;
mod reader;
pub mod schema;
mod writer;

/// The `format` value of `vc1` blocks.
pub const FORMAT: &str = "vc1";

pub use reader::{BlockReader, Projection, RowSliceBatches};
pub use schema::{
    DEDICATED_COLUMNS, DedicatedColumn, DedicatedScope, DedicatedType, ParquetOptions,
};
pub use writer::{BlockWriter, BlockWriterConfig, WrittenBlock};
