//! Format `vc1`: flat span rows in `data.parquet` (see `schema`), trace-ID bloom shards, and
//! `meta.json` written last. `writer` streams a block out; `reader` opens one by its meta.

pub mod convert;
mod footer;
pub mod merge;
mod parquet_sink;
mod reader;
pub mod schema;
pub mod search;
mod slices;
pub mod tags;
mod writer;

pub use footer::Footer;
pub use reader::{BlockReader, Projection, ReaderOptions};
pub use schema::{
    DEDICATED_COLUMNS, DEFAULT_DATA_PAGE_ROW_LIMIT, DedicatedColumn, DedicatedScope, DedicatedType,
    FORMAT, ParquetOptions,
};
pub use slices::{FetchedRows, RowSliceBatches};
pub use writer::{BlockWriter, BlockWriterConfig, DEFAULT_UPLOAD_PART_SIZE, WrittenBlock};
