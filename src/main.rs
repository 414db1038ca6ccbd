//! `contrail`: the Contrail server (every target in one process, or the one `-target=` names).

/// mimalloc instead of glibc malloc: allocation-heavy paths (block encoding, OTLP decode) spend
/// far less time in malloc/free (docs/adr/007-block-writer-speed.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    contrail::run()
}
