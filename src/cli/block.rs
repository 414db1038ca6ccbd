//! `contrail-cli block ...`: write, list and inspect vc1 blocks (being built in issue 2).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// List the blocks under a local storage folder.
    List { dir: std::path::PathBuf },
}

pub fn run(command: BlockCommand) -> anyhow::Result<ExitCode> {
    match command {
        BlockCommand::List { dir } => anyhow::bail!("block tools are not built yet ({})", dir.display()),
    }
}
