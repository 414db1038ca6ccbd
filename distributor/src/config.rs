//! `distributor`: [`DistributorConfig`], with Tempo's `receivers` layout
//! (`receivers.otlp.protocols.{grpc,http}.endpoint`) and `ring` (the ingesters).

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use contrail_ring::RingConfig;
use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

use crate::error::{Error, Result};

/// YAML path of this section.
pub const SECTION: &str = "distributor";

/// The `distributor` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// `receivers`: which protocols are listened to, and where.
    pub receivers: ReceiversConfig,
    /// `ring`: where the ingesters are and the replication factor (Contrail's keys; Tempo's
    /// dskit ring keys here are accepted with warnings). Empty `addresses` in single-binary mode
    /// (the in-process ingester).
    pub ring: RingConfig,
    /// `max_attribute_bytes` (Tempo; older name `max_span_attr_byte`): attribute keys and
    /// string values longer than this are truncated and counted; 0 = no truncation. A tenant's
    /// `overrides.*.ingestion.max_attribute_bytes` takes precedence.
    #[serde(alias = "max_span_attr_byte")]
    pub max_attribute_bytes: u64,
    /// `retry_after_on_resource_exhausted` (Tempo): the retry delay sent with rate-limit
    /// refusals; 0 = the time until the tenant's bucket holds the request.
    #[serde(with = "humantime_serde")]
    pub retry_after_on_resource_exhausted: Duration,
    /// `decode_workers` (Contrail): concurrent decode + regroup jobs off the async runtime;
    /// 0 = one per core.
    pub decode_workers: usize,

    // Tempo settings accepted and ignored, each reported by `validate`.
    pub log_received_spans: Option<Value>,
    pub log_discarded_spans: Option<Value>,
    pub metric_received_spans: Option<Value>,
    pub forwarders: Option<Value>,
    pub extend_writes: Option<Value>,
    pub usage: Option<Value>,
    pub ingester_write_path_enabled: Option<Value>,
    pub kafka_write_path_enabled: Option<Value>,
    pub kafka_config: Option<Value>,
    pub override_ring_key: Option<Value>,
    pub search_tags_deny_list: Option<Value>,
    pub generator_forward_filters: Option<Value>,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        DistributorConfig {
            receivers: ReceiversConfig::default(),
            ring: RingConfig::default(),
            max_attribute_bytes: 2048,
            retry_after_on_resource_exhausted: Duration::ZERO,
            decode_workers: 0,
            log_received_spans: None,
            log_discarded_spans: None,
            metric_received_spans: None,
            forwarders: None,
            extend_writes: None,
            usage: None,
            ingester_write_path_enabled: None,
            kafka_write_path_enabled: None,
            kafka_config: None,
            override_ring_key: None,
            search_tags_deny_list: None,
            generator_forward_filters: None,
        }
    }
}

/// `distributor.receivers`. When the section is absent both OTLP protocols listen on their
/// default ports; when it is present, only the protocols it lists do (as in Tempo).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiversConfig {
    /// `otlp`.
    #[serde(default, deserialize_with = "present_or_null")]
    pub otlp: Option<OtlpReceiverConfig>,
    /// Tempo receivers Contrail does not implement: accepted with a warning.
    #[serde(default)]
    pub jaeger: Option<Value>,
    #[serde(default)]
    pub zipkin: Option<Value>,
    #[serde(default)]
    pub opencensus: Option<Value>,
    #[serde(default)]
    pub kafka: Option<Value>,
}

impl Default for ReceiversConfig {
    fn default() -> Self {
        ReceiversConfig {
            otlp: Some(OtlpReceiverConfig {
                protocols: OtlpProtocols {
                    grpc: Some(GrpcReceiverConfig::default()),
                    http: Some(HttpReceiverConfig::default()),
                },
            }),
            jaeger: None,
            zipkin: None,
            opencensus: None,
            kafka: None,
        }
    }
}

/// `distributor.receivers.otlp`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// `protocols`.
    pub protocols: OtlpProtocols,
}

/// `distributor.receivers.otlp.protocols`: a protocol listed (even with no settings, `grpc:`)
/// is enabled.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpProtocols {
    /// `grpc`.
    #[serde(default, deserialize_with = "present_or_null")]
    pub grpc: Option<GrpcReceiverConfig>,
    /// `http`.
    #[serde(default, deserialize_with = "present_or_null")]
    pub http: Option<HttpReceiverConfig>,
}

/// `distributor.receivers.otlp.protocols.grpc` (OpenTelemetry Collector keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcReceiverConfig {
    /// `endpoint`: `host:port` to listen on.
    pub endpoint: String,
    /// `max_recv_msg_size_mib`: largest request, in MiB.
    pub max_recv_msg_size_mib: u64,
    // Collector settings accepted and ignored.
    pub tls: Option<Value>,
    pub keepalive: Option<Value>,
    pub max_concurrent_streams: Option<Value>,
    pub read_buffer_size: Option<Value>,
    pub write_buffer_size: Option<Value>,
    pub include_metadata: Option<Value>,
    pub auth: Option<Value>,
    pub transport: Option<Value>,
}

impl Default for GrpcReceiverConfig {
    fn default() -> Self {
        GrpcReceiverConfig {
            endpoint: "0.0.0.0:4317".to_owned(),
            max_recv_msg_size_mib: 16,
            tls: None,
            keepalive: None,
            max_concurrent_streams: None,
            read_buffer_size: None,
            write_buffer_size: None,
            include_metadata: None,
            auth: None,
            transport: None,
        }
    }
}

/// `distributor.receivers.otlp.protocols.http` (OpenTelemetry Collector keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpReceiverConfig {
    /// `endpoint`: `host:port` to listen on.
    pub endpoint: String,
    /// `traces_url_path`: where traces are posted.
    pub traces_url_path: String,
    /// `max_request_body_size`: largest body after decompression.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_request_body_size: ByteSize,
    // Collector settings accepted and ignored.
    pub tls: Option<Value>,
    pub cors: Option<Value>,
    pub include_metadata: Option<Value>,
    pub auth: Option<Value>,
    pub response_headers: Option<Value>,
    pub compression_algorithms: Option<Value>,
}

impl Default for HttpReceiverConfig {
    fn default() -> Self {
        HttpReceiverConfig {
            endpoint: "0.0.0.0:4318".to_owned(),
            traces_url_path: "/v1/traces".to_owned(),
            max_request_body_size: ByteSize::mib(16),
            tls: None,
            cors: None,
            include_metadata: None,
            auth: None,
            response_headers: None,
            compression_algorithms: None,
        }
    }
}

/// A protocol key that is present enables the protocol, even when its value is `null`.
fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

fn validate_endpoint(key: &str, endpoint: &str) -> Result<()> {
    let valid = endpoint
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            key: key.to_owned(),
            message: format!("{endpoint:?} is not host:port"),
        })
    }
}

impl DistributorConfig {
    /// Checks values; returns a warning for every Tempo key Contrail accepts but ignores.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        let mut warnings = Vec::new();
        let mut ignored = |present: bool, key: &str| {
            if present {
                warnings.push(ConfigWarning::tempo_key_ignored(format!("{SECTION}.{key}")));
            }
        };
        ignored(self.log_received_spans.is_some(), "log_received_spans");
        ignored(self.log_discarded_spans.is_some(), "log_discarded_spans");
        ignored(
            self.metric_received_spans.is_some(),
            "metric_received_spans",
        );
        ignored(self.forwarders.is_some(), "forwarders");
        ignored(self.extend_writes.is_some(), "extend_writes");
        ignored(self.usage.is_some(), "usage");
        ignored(
            self.ingester_write_path_enabled.is_some(),
            "ingester_write_path_enabled",
        );
        ignored(
            self.kafka_write_path_enabled.is_some(),
            "kafka_write_path_enabled",
        );
        ignored(self.kafka_config.is_some(), "kafka_config");
        ignored(self.override_ring_key.is_some(), "override_ring_key");
        ignored(
            self.search_tags_deny_list.is_some(),
            "search_tags_deny_list",
        );
        ignored(
            self.generator_forward_filters.is_some(),
            "generator_forward_filters",
        );
        let receivers = &self.receivers;
        for (present, name) in [
            (receivers.jaeger.is_some(), "jaeger"),
            (receivers.zipkin.is_some(), "zipkin"),
            (receivers.opencensus.is_some(), "opencensus"),
            (receivers.kafka.is_some(), "kafka"),
        ] {
            if present {
                warnings.push(ConfigWarning::new(
                    format!("{SECTION}.receivers.{name}"),
                    "receiver not implemented by contrail (only otlp); not started",
                ));
            }
        }
        let protocols = receivers.otlp.as_ref().map(|otlp| &otlp.protocols);
        if let Some(grpc) = protocols.and_then(|protocols| protocols.grpc.as_ref()) {
            let prefix = format!("{SECTION}.receivers.otlp.protocols.grpc");
            validate_endpoint(&format!("{prefix}.endpoint"), &grpc.endpoint)?;
            if grpc.max_recv_msg_size_mib == 0 {
                return Err(Error::InvalidConfig {
                    key: format!("{prefix}.max_recv_msg_size_mib"),
                    message: "must be greater than 0".to_owned(),
                });
            }
            for (present, key) in [
                (grpc.tls.is_some(), "tls"),
                (grpc.keepalive.is_some(), "keepalive"),
                (
                    grpc.max_concurrent_streams.is_some(),
                    "max_concurrent_streams",
                ),
                (grpc.read_buffer_size.is_some(), "read_buffer_size"),
                (grpc.write_buffer_size.is_some(), "write_buffer_size"),
                (grpc.include_metadata.is_some(), "include_metadata"),
                (grpc.auth.is_some(), "auth"),
                (grpc.transport.is_some(), "transport"),
            ] {
                if present {
                    warnings.push(ConfigWarning::tempo_key_ignored(format!("{prefix}.{key}")));
                }
            }
        }
        if let Some(http) = protocols.and_then(|protocols| protocols.http.as_ref()) {
            let prefix = format!("{SECTION}.receivers.otlp.protocols.http");
            validate_endpoint(&format!("{prefix}.endpoint"), &http.endpoint)?;
            if !http.traces_url_path.starts_with('/') {
                return Err(Error::InvalidConfig {
                    key: format!("{prefix}.traces_url_path"),
                    message: "must start with /".to_owned(),
                });
            }
            if http.max_request_body_size.as_u64() == 0 {
                return Err(Error::InvalidConfig {
                    key: format!("{prefix}.max_request_body_size"),
                    message: "must be greater than 0".to_owned(),
                });
            }
            for (present, key) in [
                (http.tls.is_some(), "tls"),
                (http.cors.is_some(), "cors"),
                (http.include_metadata.is_some(), "include_metadata"),
                (http.auth.is_some(), "auth"),
                (http.response_headers.is_some(), "response_headers"),
                (
                    http.compression_algorithms.is_some(),
                    "compression_algorithms",
                ),
            ] {
                if present {
                    warnings.push(ConfigWarning::tempo_key_ignored(format!("{prefix}.{key}")));
                }
            }
        }
        if protocols.is_none_or(|protocols| protocols.grpc.is_none() && protocols.http.is_none()) {
            warnings.push(ConfigWarning::new(
                format!("{SECTION}.receivers.otlp"),
                "no otlp protocol configured: this distributor receives nothing",
            ));
        }
        let ring_prefix = format!("{SECTION}.ring");
        let ring_warnings = self
            .ring
            .validate(&ring_prefix)
            .map_err(|error| match error {
                contrail_ring::Error::InvalidConfig { key, message } => {
                    Error::InvalidConfig { key, message }
                }
                other => Error::InvalidConfig {
                    key: ring_prefix.clone(),
                    message: other.to_string(),
                },
            })?;
        warnings.extend(ring_warnings);
        Ok(warnings)
    }
}
