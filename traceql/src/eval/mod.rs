//! Evaluation: a [`program::Program`] run over the traces of a [`crate::fetch::SpanBatch`].
//! CPU work, synchronous; callers run it on a bounded pool (see [`crate::cpu::CpuRunner`]).
//! Files in dependency order: `program` (what runs), `bind` (attributes to columns), `field`
//! (expressions and filters), `structural`, `aggregate`, `pipeline` (stages per trace) and
//! `trace` (a batch's traces to spansets).

pub mod aggregate;
pub mod bind;
mod error;
pub mod field;
pub mod pipeline;
pub mod program;
pub mod structural;
pub mod trace;

pub use error::QueryError;
