//! Contrail: the binaries. Composes each crate's config from `tempo.yaml` ([`config`]), picks
//! the target (`all`, `distributor`, `ingester`, `querier`, `query-frontend`, `compactor`), runs
//! the servers and orders shutdown ([`app`]). Also hosts `contrail-cli`, the operator's tool for
//! blocks and TraceQL.
//!
//! May depend on every crate of the workspace; nothing depends on it except `tests/`.

pub mod alloc;
pub mod app;
pub mod cli;
pub mod config;
pub mod flags;
pub mod servers;
pub mod target;
pub mod telemetry;

use std::process::ExitCode;

use crate::config::Config;
use crate::flags::Flags;

/// The version printed by every binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entry point of the `contrail` binary: flags, config, then `-config.verify` or the target.
pub fn run() -> ExitCode {
    run_binary(None)
}

/// Entry point of a one-component binary (`contrail-ingester`, ...): `contrail` with its target
/// fixed (the config file's `target:` is not read; `-target` naming another one is an error).
pub fn run_as(target: target::Target) -> ExitCode {
    run_binary(Some(target))
}

fn run_binary(fixed_opt: Option<target::Target>) -> ExitCode {
    let mut flags = match Flags::parse_from_args(std::env::args_os()) {
        Ok(flags) => flags,
        Err(error) => error.exit(),
    };
    if let Some(fixed) = fixed_opt {
        match flags.target_opt {
            Some(asked) if asked != fixed => {
                eprintln!(
                    "error: this binary runs -target={fixed} only, not -target={asked}; use contrail -target={asked}"
                );
                return ExitCode::FAILURE;
            }
            _ => flags.target_opt = Some(fixed),
        }
    }
    match run_with_flags(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_with_flags(flags: Flags) -> anyhow::Result<()> {
    let config = Config::load(&flags.config_file, flags.expand_env)?;
    let warnings = config.validate()?;
    let target = flags.target_opt.unwrap_or(config.target);
    if flags.verify {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        println!(
            "{}: valid ({} warnings)",
            flags.config_file.display(),
            warnings.len()
        );
        return Ok(());
    }
    if target == target::Target::Compactor {
        alloc::purge_freed_pages_at_once();
    }
    telemetry::init_logging(&config.server);
    for warning in &warnings {
        tracing::warn!(key = %warning.key, "{}", warning.message);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(blocking_threads())
        .enable_all()
        .build()?;
    runtime.block_on(app::run(config, target))
}

/// Threads of tokio's blocking pool: two per core, at least four (tokio's default is 512).
/// What runs there is short (local-disk reads and writes of `object_store`, WAL group commits,
/// OTLP decoding); the long CPU work has threads of its own (the decode pool, block writers,
/// merges). Every thread that ever allocated keeps its own allocator heap, so the same reads
/// spread over dozens of threads held several times their memory (ADR 018).
pub(crate) fn blocking_threads() -> usize {
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    (2 * cores).max(4)
}
