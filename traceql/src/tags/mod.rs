//! Tag names and tag values (Tempo's `/api/v2/search/tags` and `/api/v2/search/tag/{tag}/values`)
//! over any data: the collectors both halves fill ([`TagNames`], [`TagValues`]), what a
//! tag-values request reads ([`ValueTarget`]), the in-memory half over OTLP traces (`memory`),
//! and the `q` filter as the set of spans matching it (`matching`). The block half lives in
//! `storage` (`block::v1::tags`) and fills the same collectors, so recent data and blocks answer
//! alike.
//!
//! Collectors keep, within their limit, the smallest entries in the order the frontend sorts
//! them (names by text, values by type then text): the union of several collectors cut at the
//! limit is then the same as one collector over all the data.

mod collect;
pub mod matching;
pub mod memory;

pub use collect::{
    DataScope, IntrinsicValues, TagNames, TagValues, ValueTarget, parse_tag_name, value_type,
};
pub use matching::{MatchedSpans, SpanFilter};

#[cfg(test)]
mod tests;
