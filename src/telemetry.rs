//! Logs: `tracing` to stderr in logfmt-style `key=value` lines or JSON (`server.log_format`),
//! at `server.log_level` (`RUST_LOG` overrides it).

use tracing_subscriber::EnvFilter;

use crate::config::server::{LogFormat, ServerConfig};

/// Installs the process's log subscriber; a second call (tests) is a no-op.
pub fn init_logging(server: &ServerConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(server.log_level.as_filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    // `try_init` fails only when a subscriber is already installed.
    let _ = match server.log_format {
        LogFormat::Logfmt => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
