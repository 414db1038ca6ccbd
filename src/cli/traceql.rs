//! `contrail-cli traceql ...`: TraceQL checks (being built in issue 4).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TraceqlCommand {
    /// Parse and validate queries from the arguments, or from stdin one per line.
    Check { queries: Vec<String> },
}

pub fn run(command: TraceqlCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceqlCommand::Check { queries } => anyhow::bail!("traceql check is not built yet ({} queries)", queries.len()),
    }
}
