//! Load generator: seeded, realistic OTLP traces (the benchmark corpus), written to files or sent
//! over OTLP gRPC / HTTP at a fixed rate or as fast as possible, with a one-line JSON summary.
//!
//! Data flow: [`corpus::Generator`] builds traces from a seed; [`files`] writes them as
//! `batch-NNNNNN.pb` files and reads them back for replay; [`send`] streams either over OTLP,
//! or replays a pool encoded before the run with fresh trace IDs per pass
//! ([`send::preencoded`], the client of W1); the CLI ([`cli`]) drives them.
//!
//! May depend on `proto` only; never on `storage`, `traceql` or a service crate.

pub mod bench;
pub mod cli;
pub mod corpus;
mod error;
pub mod files;
pub mod send;

pub use error::{Error, Result};

/// Parses the command line and runs it. Bad arguments, including values that parse but make no
/// sense together, print usage and exit with code 2.
pub fn run() -> Result<()> {
    use clap::{CommandFactory, Parser};
    match cli::run(cli::Cli::parse()) {
        Err(Error::InvalidArgument(message)) => {
            let mut command = cli::Cli::command();
            let subcommand_opt = std::env::args().nth(1);
            let usage_of = match subcommand_opt.as_deref() {
                Some(name) => command.find_subcommand_mut(name).cloned(),
                None => None,
            };
            usage_of
                .unwrap_or(command)
                .error(clap::error::ErrorKind::ValueValidation, message)
                .exit()
        }
        other => other,
    }
}
