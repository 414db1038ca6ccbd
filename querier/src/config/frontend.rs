//! `query_frontend:`: search limits and defaults, the split between recent data (ingesters) and
//! blocks, job sizes, timeouts, cross-tenant queries and the per-query memory budget.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::metrics::FrontendMetricsConfig;
use super::{ignored, require};
use crate::error::Result;

/// The largest gRPC message Grafana accepts by default; streamed messages stay below it.
pub const GRPC_CLIENT_MAX_MESSAGE_BYTES: u64 = 4 * 1024 * 1024;

/// `query_frontend:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryFrontendConfig {
    /// Queries one tenant may have running at once; more are refused with 429 (Tempo's key).
    pub max_outstanding_per_tenant: usize,
    /// Retries of a failed job on another querier, distributed mode (Tempo's key).
    pub max_retries: u32,
    /// `query_frontend.search`.
    pub search: FrontendSearchConfig,
    /// `query_frontend.trace_by_id`.
    pub trace_by_id: FrontendTraceByIdConfig,
    /// `query_frontend.metrics` (TraceQL metrics).
    pub metrics: FrontendMetricsConfig,
    /// Whether `X-Scope-OrgID: a|b` queries several tenants at once (Tempo's key).
    pub multi_tenant_queries_enabled: bool,
    /// Deadline of every API request, HTTP and gRPC; 0 disables (Tempo's key). Past it the
    /// answer is 503 `unable to process request in the configured timeout`.
    #[serde(with = "humantime_serde")]
    pub api_timeout: Duration,
    /// Upper bound of one streamed gRPC message (Tempo's key); kept below the 4 MiB Grafana
    /// accepts.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_grpc_streaming_packet_size: ByteSize,
    /// Longest TraceQL text accepted; longer is 400 (Tempo's key).
    pub max_query_expression_size_bytes: usize,
    /// Searches ignore the last this-long of the time range (Tempo's key). Contrail's default
    /// is 0s: recent data is searchable right after the ack (Tempo's default is 30s).
    #[serde(with = "humantime_serde")]
    pub query_end_cutoff: Duration,

    // Tempo settings accepted and ignored, each reported by `validate`.
    pub max_batch_size: Option<IgnoredAny>,
    pub log_query_request_headers: Option<IgnoredAny>,
    pub response_consumers: Option<IgnoredAny>,
    pub weights: Option<IgnoredAny>,
    pub mcp_server: Option<IgnoredAny>,
    pub url_deny_list: Option<IgnoredAny>,
    pub querier_forget_delay: Option<IgnoredAny>,
}

impl Default for QueryFrontendConfig {
    fn default() -> Self {
        QueryFrontendConfig {
            max_outstanding_per_tenant: 2000,
            max_retries: 2,
            search: FrontendSearchConfig::default(),
            trace_by_id: FrontendTraceByIdConfig::default(),
            metrics: FrontendMetricsConfig::default(),
            multi_tenant_queries_enabled: true,
            api_timeout: Duration::ZERO,
            max_grpc_streaming_packet_size: ByteSize::mib(2),
            max_query_expression_size_bytes: 128 * 1024,
            query_end_cutoff: Duration::ZERO,
            max_batch_size: None,
            log_query_request_headers: None,
            response_consumers: None,
            weights: None,
            mcp_server: None,
            url_deny_list: None,
            querier_forget_delay: None,
        }
    }
}

impl QueryFrontendConfig {
    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        require(
            self.max_outstanding_per_tenant > 0,
            "query_frontend.max_outstanding_per_tenant",
            "must be at least 1",
        )?;
        let packet = self.max_grpc_streaming_packet_size.as_u64();
        require(
            (64 * 1024..GRPC_CLIENT_MAX_MESSAGE_BYTES).contains(&packet),
            "query_frontend.max_grpc_streaming_packet_size",
            "must be at least 64KiB and below 4MiB (the largest message Grafana accepts)",
        )?;
        require(
            self.max_query_expression_size_bytes > 0,
            "query_frontend.max_query_expression_size_bytes",
            "must be at least 1",
        )?;
        self.search.validate()?;
        let metrics_warnings = self.metrics.validate()?;
        let mut warnings = ignored(
            "query_frontend",
            &[
                ("max_batch_size", self.max_batch_size.is_some()),
                (
                    "log_query_request_headers",
                    self.log_query_request_headers.is_some(),
                ),
                ("response_consumers", self.response_consumers.is_some()),
                ("weights", self.weights.is_some()),
                ("mcp_server", self.mcp_server.is_some()),
                ("url_deny_list", self.url_deny_list.is_some()),
                ("querier_forget_delay", self.querier_forget_delay.is_some()),
            ],
        );
        warnings.extend(self.search.warnings());
        warnings.extend(self.trace_by_id.warnings());
        warnings.extend(metrics_warnings);
        Ok(warnings)
    }
}

/// `query_frontend.search`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendSearchConfig {
    /// Jobs of one query in flight at once (Tempo's key).
    pub concurrent_jobs: usize,
    /// Target bytes of block data per job; a job is a block and a range of its row groups
    /// (Tempo's key).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub target_bytes_per_job: ByteSize,
    /// `limit` when the request has none (Tempo's key).
    pub default_result_limit: u32,
    /// Largest `limit` accepted; 0 = no maximum (Tempo's key).
    pub max_result_limit: u32,
    /// Longest `end - start` accepted; 0 = no maximum (Tempo's key).
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Blocks are searched for the part of the range older than now minus this (Tempo's key).
    #[serde(with = "humantime_serde")]
    pub query_backend_after: Duration,
    /// Ingesters are searched for the part of the range newer than now minus this (Tempo's
    /// key). Must be at least `query_backend_after`, so no instant is left out; a trace found on
    /// both sides is merged into one result.
    #[serde(with = "humantime_serde")]
    pub query_ingesters_until: Duration,
    /// `spss` when the request has none (Tempo's key).
    pub default_spans_per_span_set: u32,
    /// Largest `spss` accepted (Tempo's key).
    pub max_spans_per_span_set: u32,
    /// Memory one query may hold (decoded columns and results); past it the answer is 400 with
    /// the reason (Contrail).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_query_memory: ByteSize,
    // Tempo settings accepted and ignored.
    pub ingester_shards: Option<IgnoredAny>,
    pub most_recent_shards: Option<IgnoredAny>,
    pub duration_slo: Option<IgnoredAny>,
    pub throughput_bytes_slo: Option<IgnoredAny>,
    pub metadata_slo: Option<IgnoredAny>,
    pub timeout: Option<IgnoredAny>,
}

impl Default for FrontendSearchConfig {
    fn default() -> Self {
        FrontendSearchConfig {
            concurrent_jobs: 1000,
            target_bytes_per_job: ByteSize::mib(100),
            default_result_limit: 20,
            max_result_limit: 262_144,
            max_duration: Duration::from_secs(168 * 3600),
            query_backend_after: Duration::from_secs(15 * 60),
            query_ingesters_until: Duration::from_secs(30 * 60),
            default_spans_per_span_set: 3,
            max_spans_per_span_set: 100,
            max_query_memory: ByteSize::gib(1),
            ingester_shards: None,
            most_recent_shards: None,
            duration_slo: None,
            throughput_bytes_slo: None,
            metadata_slo: None,
            timeout: None,
        }
    }
}

impl FrontendSearchConfig {
    fn validate(&self) -> Result<()> {
        const S: &str = "query_frontend.search";
        require(
            self.concurrent_jobs > 0,
            &format!("{S}.concurrent_jobs"),
            "must be at least 1",
        )?;
        require(
            self.target_bytes_per_job.as_u64() > 0,
            &format!("{S}.target_bytes_per_job"),
            "must be above 0",
        )?;
        require(
            self.default_result_limit > 0,
            &format!("{S}.default_result_limit"),
            "must be at least 1",
        )?;
        require(
            self.max_result_limit == 0 || self.default_result_limit <= self.max_result_limit,
            &format!("{S}.default_result_limit"),
            "must not exceed max_result_limit",
        )?;
        require(
            self.default_spans_per_span_set <= self.max_spans_per_span_set,
            &format!("{S}.default_spans_per_span_set"),
            "must not exceed max_spans_per_span_set",
        )?;
        require(
            self.query_backend_after <= self.query_ingesters_until,
            &format!("{S}.query_backend_after"),
            "must not exceed query_ingesters_until, or data between the two is never searched",
        )?;
        require(
            self.max_query_memory.as_u64() >= 1024 * 1024,
            &format!("{S}.max_query_memory"),
            "must be at least 1MiB",
        )?;
        Ok(())
    }

    fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "query_frontend.search",
            &[
                ("ingester_shards", self.ingester_shards.is_some()),
                ("most_recent_shards", self.most_recent_shards.is_some()),
                ("duration_slo", self.duration_slo.is_some()),
                ("throughput_bytes_slo", self.throughput_bytes_slo.is_some()),
                ("metadata_slo", self.metadata_slo.is_some()),
                ("timeout", self.timeout.is_some()),
            ],
        )
    }
}

/// `query_frontend.trace_by_id`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendTraceByIdConfig {
    // Tempo's trace-by-ID sharding and SLOs, accepted and ignored: Contrail checks one bloom
    // shard per candidate block, all candidates at once.
    pub query_shards: Option<IgnoredAny>,
    pub blocks_per_shard: Option<IgnoredAny>,
    pub concurrent_shards: Option<IgnoredAny>,
    pub hedge_requests_at: Option<IgnoredAny>,
    pub hedge_requests_up_to: Option<IgnoredAny>,
    pub duration_slo: Option<IgnoredAny>,
    pub throughput_bytes_slo: Option<IgnoredAny>,
}

impl FrontendTraceByIdConfig {
    fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "query_frontend.trace_by_id",
            &[
                ("query_shards", self.query_shards.is_some()),
                ("blocks_per_shard", self.blocks_per_shard.is_some()),
                ("concurrent_shards", self.concurrent_shards.is_some()),
                ("hedge_requests_at", self.hedge_requests_at.is_some()),
                ("hedge_requests_up_to", self.hedge_requests_up_to.is_some()),
                ("duration_slo", self.duration_slo.is_some()),
                ("throughput_bytes_slo", self.throughput_bytes_slo.is_some()),
            ],
        )
    }
}
