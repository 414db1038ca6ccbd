//! Lowering: the untyped outer tree of `parse/` becomes the typed AST, checking the shapes
//! Tempo's grammar allows. Files in dependency order: `shape` (predicates on nodes), `scalar`
//! (constants, aggregates, scalar filters), `spanset`, `pipeline`, `scalar_pipeline`,
//! `metrics`, and `body` (the whole query).

pub(crate) mod body;
pub(crate) mod metrics;
pub(crate) mod pipeline;
pub(crate) mod scalar;
pub(crate) mod scalar_pipeline;
pub(crate) mod shape;
pub(crate) mod spanset;
