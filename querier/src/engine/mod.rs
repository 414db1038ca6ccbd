//! [`EngineBlockSearch`]: the [`BlockSearch`] the querier's job pool runs, over `vc1` blocks in
//! the object store. A search job is the TraceQL engine's driver
//! (`contrail_traceql::search`) over one `BlockSpanSource` (the job's block and row groups),
//! evaluating on the storage decode pool; tag jobs are the block half of the tag scan
//! (`contrail_storage::block::v1::tags`), with the `q` filter evaluated by the engine first
//! (`tags`).
//!
//! A metrics job over replicated blocks that may share spans reads them through the
//! compactor's merge into a scratch block (`merged`, ADR 013).
//!
//! `BlockReader`s are cached per block (byte-bounded by their footers), so a block's footer is
//! read once however many jobs and queries touch it. Errors name the block: a corrupt block is
//! a `DataCorrupt` error, a block deleted by compaction `NotFound` (the frontend then replans).

mod block_search;
mod error;
mod merged;
mod tags;

pub use block_search::EngineBlockSearch;
