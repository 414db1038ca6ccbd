//! `server`: the API listeners and logging, with Tempo's (dskit's) key names.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde_yaml::Value;

/// `server.log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// The default.
    #[default]
    Info,
    /// Problems only.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The `tracing` filter directive.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// `server.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` lines.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The `server` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `http_listen_address` (empty = all interfaces).
    pub http_listen_address: String,
    /// `http_listen_port`: the Tempo API, `/ready`, `/metrics`.
    pub http_listen_port: u16,
    /// `grpc_listen_address` (empty = all interfaces).
    pub grpc_listen_address: String,
    /// `grpc_listen_port`: internal services and `grpc.health.v1`.
    pub grpc_listen_port: u16,
    /// `log_level`.
    pub log_level: LogLevel,
    /// `log_format`.
    pub log_format: LogFormat,
    /// `graceful_shutdown_timeout`: how long in-flight requests may take at shutdown.
    #[serde(with = "humantime_serde")]
    pub graceful_shutdown_timeout: Duration,
    /// `grpc_server_max_recv_msg_size`: bytes.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub grpc_server_max_recv_msg_size: ByteSize,
    /// `grpc_server_max_send_msg_size`: bytes.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub grpc_server_max_send_msg_size: ByteSize,

    // dskit settings accepted and ignored, each reported by `validate`.
    pub http_listen_network: Option<Value>,
    pub grpc_listen_network: Option<Value>,
    pub http_listen_conn_limit: Option<Value>,
    pub grpc_listen_conn_limit: Option<Value>,
    pub http_tls_config: Option<Value>,
    pub grpc_tls_config: Option<Value>,
    pub register_instrumentation: Option<Value>,
    pub http_server_read_timeout: Option<Value>,
    pub http_server_write_timeout: Option<Value>,
    pub http_server_idle_timeout: Option<Value>,
    pub grpc_server_max_concurrent_streams: Option<Value>,
    pub grpc_server_max_connection_idle: Option<Value>,
    pub grpc_server_max_connection_age: Option<Value>,
    pub grpc_server_max_connection_age_grace: Option<Value>,
    pub grpc_server_keepalive_time: Option<Value>,
    pub grpc_server_keepalive_timeout: Option<Value>,
    pub grpc_server_min_time_between_pings: Option<Value>,
    pub grpc_server_ping_without_stream_allowed: Option<Value>,
    pub log_source_ips_enabled: Option<Value>,
    pub log_request_headers: Option<Value>,
    pub log_request_at_info_level_enabled: Option<Value>,
    pub http_path_prefix: Option<Value>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: String::new(),
            http_listen_port: 3200,
            grpc_listen_address: String::new(),
            grpc_listen_port: 9095,
            log_level: LogLevel::Info,
            log_format: LogFormat::Logfmt,
            graceful_shutdown_timeout: Duration::from_secs(30),
            grpc_server_max_recv_msg_size: ByteSize::mib(16),
            grpc_server_max_send_msg_size: ByteSize::mib(16),
            http_listen_network: None,
            grpc_listen_network: None,
            http_listen_conn_limit: None,
            grpc_listen_conn_limit: None,
            http_tls_config: None,
            grpc_tls_config: None,
            register_instrumentation: None,
            http_server_read_timeout: None,
            http_server_write_timeout: None,
            http_server_idle_timeout: None,
            grpc_server_max_concurrent_streams: None,
            grpc_server_max_connection_idle: None,
            grpc_server_max_connection_age: None,
            grpc_server_max_connection_age_grace: None,
            grpc_server_keepalive_time: None,
            grpc_server_keepalive_timeout: None,
            grpc_server_min_time_between_pings: None,
            grpc_server_ping_without_stream_allowed: None,
            log_source_ips_enabled: None,
            log_request_headers: None,
            log_request_at_info_level_enabled: None,
            http_path_prefix: None,
        }
    }
}

impl ServerConfig {
    /// `host:port` of the HTTP API.
    pub fn http_address(&self) -> String {
        listen_address(&self.http_listen_address, self.http_listen_port)
    }

    /// `host:port` of the gRPC server.
    pub fn grpc_address(&self) -> String {
        listen_address(&self.grpc_listen_address, self.grpc_listen_port)
    }

    /// Warnings for the dskit keys Contrail accepts but ignores.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        let ignored = [
            ("http_listen_network", self.http_listen_network.is_some()),
            ("grpc_listen_network", self.grpc_listen_network.is_some()),
            (
                "http_listen_conn_limit",
                self.http_listen_conn_limit.is_some(),
            ),
            (
                "grpc_listen_conn_limit",
                self.grpc_listen_conn_limit.is_some(),
            ),
            ("http_tls_config", self.http_tls_config.is_some()),
            ("grpc_tls_config", self.grpc_tls_config.is_some()),
            (
                "register_instrumentation",
                self.register_instrumentation.is_some(),
            ),
            (
                "http_server_read_timeout",
                self.http_server_read_timeout.is_some(),
            ),
            (
                "http_server_write_timeout",
                self.http_server_write_timeout.is_some(),
            ),
            (
                "http_server_idle_timeout",
                self.http_server_idle_timeout.is_some(),
            ),
            (
                "grpc_server_max_concurrent_streams",
                self.grpc_server_max_concurrent_streams.is_some(),
            ),
            (
                "grpc_server_max_connection_idle",
                self.grpc_server_max_connection_idle.is_some(),
            ),
            (
                "grpc_server_max_connection_age",
                self.grpc_server_max_connection_age.is_some(),
            ),
            (
                "grpc_server_max_connection_age_grace",
                self.grpc_server_max_connection_age_grace.is_some(),
            ),
            (
                "grpc_server_keepalive_time",
                self.grpc_server_keepalive_time.is_some(),
            ),
            (
                "grpc_server_keepalive_timeout",
                self.grpc_server_keepalive_timeout.is_some(),
            ),
            (
                "grpc_server_min_time_between_pings",
                self.grpc_server_min_time_between_pings.is_some(),
            ),
            (
                "grpc_server_ping_without_stream_allowed",
                self.grpc_server_ping_without_stream_allowed.is_some(),
            ),
            (
                "log_source_ips_enabled",
                self.log_source_ips_enabled.is_some(),
            ),
            ("log_request_headers", self.log_request_headers.is_some()),
            (
                "log_request_at_info_level_enabled",
                self.log_request_at_info_level_enabled.is_some(),
            ),
            ("http_path_prefix", self.http_path_prefix.is_some()),
        ];
        ignored
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(key, _)| ConfigWarning::tempo_key_ignored(format!("server.{key}")))
            .collect()
    }
}

fn listen_address(host: &str, port: u16) -> String {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
