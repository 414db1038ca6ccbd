//! `contrail-cli`: the operator's tool, like tempo-cli. Each subcommand group lives in its own
//! module and returns the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod out;
pub mod block;
pub mod compact;
pub mod query;
mod query_metrics;
mod sources;
pub mod traceql;

#[derive(Debug, Parser)]
#[command(
    name = "contrail-cli",
    version,
    about = "Contrail's tool for blocks and TraceQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write, list, inspect and compact vc1 blocks, and look traces up in them.
    #[command(subcommand)]
    Block(block::BlockCommand),
    /// Search vc1 blocks with TraceQL and print the `/api/search` response JSON (or run a
    /// TraceQL metrics query and print the `/api/metrics/query_range` JSON).
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Check TraceQL queries: parse, validate and print their canonical form.
    #[command(subcommand)]
    Traceql(traceql::TraceqlCommand),
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Block(command) => block::run(command),
        Command::Query(command) => query::run(command),
        Command::Traceql(command) => traceql::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
