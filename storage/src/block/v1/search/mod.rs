//! TraceQL search over `vc1` blocks: [`BlockSpanSource`] implements the engine's
//! `contrail_traceql::fetch::SpanSource` over one unit (a block and a range of its row groups).
//!
//! Data flow of a first pass: `plan` resolves the request once per block (resource and scope
//! conditions against the block's tables become `resource_ref` / `scope_ref` sets; each
//! condition gets its pruning predicates); `scan` prunes each row group by meta, statistics,
//! dictionaries and the page index, decodes only the condition columns of the candidate rows
//! (`eval`), then the structure (`structure`) and the result columns of the matched rows only
//! (`output`). The second pass reuses the last step for the rows the engine kept.

mod batch;
mod condition;
mod eval;
mod generic;
mod leaves;
mod matching;
mod output;
mod plan;
mod recent;
mod scan;
mod source;
mod sources;
mod stats;
mod structure;

pub use scan::ScanStats;
pub use source::{BlockSpanSource, block_units};
