//! `contrail-loadgen`: the OTLP load generator and corpus writer.

/// mimalloc instead of glibc malloc: allocation-heavy paths (block encoding, OTLP decode) spend
/// far less time in malloc/free (docs/adr/007-block-writer-speed.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    contrail_loadgen::run()?;
    Ok(())
}
