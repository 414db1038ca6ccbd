//! Load generator: seeded, realistic OTLP traces (the benchmark corpus), written to files or sent
//! over OTLP gRPC / HTTP at a fixed rate or as fast as possible, with a one-line JSON summary.
//!
//! Data flow: [`corpus::Generator`] builds traces from a seed; [`files`] writes them as
//! `batch-NNNNNN.pb` files and reads them back for replay; the CLI ([`cli`]) drives both.
//!
//! May depend on `proto` only; never on `storage`, `traceql` or a service crate.

pub mod cli;
pub mod corpus;
mod error;
pub mod files;

pub use error::{Error, Result};

/// Parses the command line (bad arguments print usage and exit with code 2) and runs it.
pub fn run() -> Result<()> {
    cli::run(<cli::Cli as clap::Parser>::parse())
}
