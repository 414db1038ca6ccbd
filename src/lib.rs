//! Contrail: the binaries. Composes each crate's config from `tempo.yaml`, picks the target
//! (`all`, `distributor`, `ingester`, `querier`, `compactor`), runs the servers and orders
//! shutdown. Also hosts `contrail-cli`, the operator's tool for blocks and TraceQL.
//!
//! May depend on every crate of the workspace; nothing depends on it except `tests/`.

pub mod cli;

/// The version printed by every binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entry point of the `contrail` binary.
pub fn run() -> anyhow::Result<()> {
    println!("contrail {VERSION}");
    Ok(())
}
