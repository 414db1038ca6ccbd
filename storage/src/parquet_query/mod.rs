//! Generic Parquet query pieces over `object_store`, independent of the trace schema:
//! - [`predicate`]: predicates on one leaf column, evaluated against statistics, dictionaries
//!   and decoded Arrow arrays with one set of rules;
//! - [`prune`]: column-chunk statistics and the page index → which chunks and pages may match;
//! - [`dictionary`]: a chunk's dictionary page → whether any of its values match;
//! - [`sparse`]: the byte ranges a read needs (whole chunks, or only the pages of selected rows),
//!   fetched asynchronously and coalesced into a [`SparseFile`];
//! - [`decode`]: leaf-level projections and row selections decoded from a [`SparseFile`] with
//!   the synchronous reader (on a CPU pool, no IO);
//! - [`reader`]: an `AsyncFileReader` and the one-GET footer fetch.

mod compare;
pub mod decode;
pub mod dictionary;
pub mod predicate;
pub mod prune;
mod ranges;
mod reader;
pub mod sparse;

pub use decode::{LeafRead, batch_reader, decode};
pub use dictionary::{Dictionary, is_fully_dictionary_encoded, read_dictionary};
pub use predicate::{ColumnPredicate, CompareOp, Literal, StatValue};
pub use prune::{chunk_may_match, pages_may_match};
pub use ranges::coalesce_ranges;
pub use reader::{
    FetchedMetadata, FileReaderOptions, MetadataError, ObjectStoreFileReader, fetch_footer_suffix,
    fetch_metadata, parse_footer,
};
pub use sparse::{FetchOptions, SparseFile, fetch_into};

use parquet::schema::types::SchemaDescriptor;

/// The index of the leaf column whose dotted path is `path` (e.g. `trace_id`,
/// `attrs.list.item.key`).
pub fn leaf_index(schema: &SchemaDescriptor, path: &str) -> Option<usize> {
    schema
        .columns()
        .iter()
        .position(|column| column.path().string() == path)
}
