//! Metrics on the engine: each leaf's span pipeline compiled by the planner and run by the
//! evaluator ([`program`]), the surviving rows fed to the accumulators, and the async driver
//! over units ([`driver`]). Recent data (the in-memory source) and blocks go through the same
//! code, so they have one semantics.

pub mod driver;
pub mod program;

pub use driver::{MetricsOutcome, run_metrics};
pub use program::{LeafProgram, MetricsQuery};
