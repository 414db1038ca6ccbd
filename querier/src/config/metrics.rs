//! `query_frontend.metrics:`: TraceQL metrics queries (`/api/metrics/query_range` and
//! `/api/metrics/query`): job sizes and concurrency, the longest range, where recent data ends
//! and blocks begin, and the exemplar and series caps.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ignored, require};
use crate::error::Result;

/// `query_frontend.metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendMetricsConfig {
    /// Jobs of one metrics query in flight at once (Tempo's key).
    pub concurrent_jobs: usize,
    /// Target bytes of block data per job (Tempo's key).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub target_bytes_per_job: ByteSize,
    /// Longest `end - start` accepted; 0 = no maximum (Tempo's key).
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Spans that started before now minus this are counted from blocks, the later ones from
    /// the ingesters (Tempo's key). The two sides never overlap, so no span is counted twice;
    /// the ingesters must still hold every span that started after the cut, so keep it at most
    /// `ingester.complete_block_timeout` (both 15m by default; Tempo's default is 30m).
    #[serde(with = "humantime_serde")]
    pub query_backend_after: Duration,
    /// Most exemplars per series a request may ask for (Tempo's key).
    pub max_exemplars: u32,
    /// Most series per answer; beyond it the answer is PARTIAL (Tempo's key).
    pub max_response_series: usize,
    // Tempo settings accepted and ignored, each reported by `validate`.
    /// Contrail plans jobs by bytes only, never by time interval.
    pub interval: Option<IgnoredAny>,
    pub streaming_shards: Option<IgnoredAny>,
    pub exemplars: Option<IgnoredAny>,
    pub duration_slo: Option<IgnoredAny>,
    pub throughput_bytes_slo: Option<IgnoredAny>,
}

impl Default for FrontendMetricsConfig {
    fn default() -> Self {
        FrontendMetricsConfig {
            concurrent_jobs: 1000,
            target_bytes_per_job: ByteSize::mib(100),
            max_duration: Duration::from_secs(24 * 3600),
            query_backend_after: Duration::from_secs(15 * 60),
            max_exemplars: contrail_traceql::metrics::MAX_EXEMPLARS,
            max_response_series: contrail_traceql::metrics::DEFAULT_MAX_SERIES,
            interval: None,
            streaming_shards: None,
            exemplars: None,
            duration_slo: None,
            throughput_bytes_slo: None,
        }
    }
}

impl FrontendMetricsConfig {
    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        const S: &str = "query_frontend.metrics";
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
            self.max_exemplars <= contrail_traceql::metrics::MAX_EXEMPLARS,
            &format!("{S}.max_exemplars"),
            "must be at most 100",
        )?;
        require(
            self.max_response_series > 0,
            &format!("{S}.max_response_series"),
            "must be at least 1",
        )?;
        Ok(ignored(
            S,
            &[
                ("interval", self.interval.is_some()),
                ("streaming_shards", self.streaming_shards.is_some()),
                ("exemplars", self.exemplars.is_some()),
                ("duration_slo", self.duration_slo.is_some()),
                ("throughput_bytes_slo", self.throughput_bytes_slo.is_some()),
            ],
        ))
    }
}
