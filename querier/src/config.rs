//! `querier:` and `query_frontend:`: Tempo's keys, each implemented or reported by `validate` as
//! accepted and ignored (a [`ConfigWarning`] naming the full key path); unknown keys fail
//! deserialization with serde's message naming them. Contrail's own keys (cache sizes, the
//! per-query memory budget, the blocklist poll interval, distributed-mode queriers) have
//! defaults, so an empty section is a working config.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{Error, Result};

mod frontend;
mod metrics;
#[cfg(test)]
mod tests;

pub use frontend::{
    FrontendSearchConfig, FrontendTraceByIdConfig, GRPC_CLIENT_MAX_MESSAGE_BYTES,
    QueryFrontendConfig,
};
pub use metrics::FrontendMetricsConfig;

/// The warnings for the Tempo keys in `keys` that are set, under `section`.
pub(crate) fn ignored(section: &str, keys: &[(&str, bool)]) -> Vec<ConfigWarning> {
    keys.iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| ConfigWarning::tempo_key_ignored(format!("{section}.{key}")))
        .collect()
}

/// Fails with an [`Error::InvalidConfig`] naming `key` when `ok` is false.
pub(crate) fn require(ok: bool, key: &str, message: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_config(key, message))
    }
}

/// `querier:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// `querier.search`.
    pub search: QuerierSearchConfig,
    /// `querier.trace_by_id`.
    pub trace_by_id: QuerierTraceByIdConfig,
    /// Block jobs (search, tags) one querier runs at once (Tempo's key; the size of the
    /// querier's job pool).
    pub max_concurrent_queries: usize,
    /// `querier.cache` (Contrail): memory-bounded caches of the read path.
    pub cache: CacheConfig,
    /// How often the querier re-reads each tenant's blocklist (`index.json.zst`, listing as a
    /// fallback); a new block becomes visible within one interval (Contrail; Tempo has
    /// `storage.trace.blocklist_poll`).
    #[serde(with = "humantime_serde")]
    pub blocklist_poll: Duration,
    /// Timeout of one gRPC call to an ingester (recent data) or a remote querier (Contrail).
    #[serde(with = "humantime_serde")]
    pub remote_timeout: Duration,

    // Tempo settings accepted and ignored, each reported by `validate`.
    /// TraceQL metrics (issue 11).
    pub metrics: Option<IgnoredAny>,
    /// Contrail's frontend sends jobs to queriers (it discovers them like ingesters), so there is
    /// no worker that dials the frontend.
    pub frontend_worker: Option<IgnoredAny>,
    pub shuffle_sharding_ingesters_enabled: Option<IgnoredAny>,
    pub shuffle_sharding_ingesters_lookback_period: Option<IgnoredAny>,
    pub query_relevant_ingesters: Option<IgnoredAny>,
    pub secondary_ingester_ring: Option<IgnoredAny>,
    pub partition_ring: Option<IgnoredAny>,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig {
            search: QuerierSearchConfig::default(),
            trace_by_id: QuerierTraceByIdConfig::default(),
            max_concurrent_queries: 20,
            cache: CacheConfig::default(),
            blocklist_poll: Duration::from_secs(30),
            remote_timeout: Duration::from_secs(10),
            metrics: None,
            frontend_worker: None,
            shuffle_sharding_ingesters_enabled: None,
            shuffle_sharding_ingesters_lookback_period: None,
            query_relevant_ingesters: None,
            secondary_ingester_ring: None,
            partition_ring: None,
        }
    }
}

impl QuerierConfig {
    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        require(
            self.max_concurrent_queries > 0,
            "querier.max_concurrent_queries",
            "must be at least 1",
        )?;
        require(
            !self.blocklist_poll.is_zero(),
            "querier.blocklist_poll",
            "must be above 0s",
        )?;
        require(
            !self.remote_timeout.is_zero(),
            "querier.remote_timeout",
            "must be above 0s",
        )?;
        require(
            !self.search.query_timeout.is_zero(),
            "querier.search.query_timeout",
            "must be above 0s",
        )?;
        require(
            !self.trace_by_id.query_timeout.is_zero(),
            "querier.trace_by_id.query_timeout",
            "must be above 0s",
        )?;
        let mut warnings = ignored(
            "querier",
            &[
                ("metrics", self.metrics.is_some()),
                ("frontend_worker", self.frontend_worker.is_some()),
                (
                    "shuffle_sharding_ingesters_enabled",
                    self.shuffle_sharding_ingesters_enabled.is_some(),
                ),
                (
                    "shuffle_sharding_ingesters_lookback_period",
                    self.shuffle_sharding_ingesters_lookback_period.is_some(),
                ),
                (
                    "query_relevant_ingesters",
                    self.query_relevant_ingesters.is_some(),
                ),
                (
                    "secondary_ingester_ring",
                    self.secondary_ingester_ring.is_some(),
                ),
                ("partition_ring", self.partition_ring.is_some()),
            ],
        );
        warnings.extend(self.search.warnings());
        warnings.extend(ignored(
            "querier.trace_by_id",
            &[("external", self.trace_by_id.external.is_some())],
        ));
        Ok(warnings)
    }
}

/// `querier.search`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierSearchConfig {
    /// Deadline of one search, tags or tag-values request inside the querier (Tempo's key).
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    // Tempo's serverless search, accepted and ignored.
    pub prefer_self: Option<IgnoredAny>,
    pub external_endpoints: Option<IgnoredAny>,
    pub external_hedge_requests_at: Option<IgnoredAny>,
    pub external_hedge_requests_up_to: Option<IgnoredAny>,
    pub external_backend: Option<IgnoredAny>,
    pub google_cloud_run: Option<IgnoredAny>,
}

impl Default for QuerierSearchConfig {
    fn default() -> Self {
        QuerierSearchConfig {
            query_timeout: Duration::from_secs(30),
            prefer_self: None,
            external_endpoints: None,
            external_hedge_requests_at: None,
            external_hedge_requests_up_to: None,
            external_backend: None,
            google_cloud_run: None,
        }
    }
}

impl QuerierSearchConfig {
    fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "querier.search",
            &[
                ("prefer_self", self.prefer_self.is_some()),
                ("external_endpoints", self.external_endpoints.is_some()),
                (
                    "external_hedge_requests_at",
                    self.external_hedge_requests_at.is_some(),
                ),
                (
                    "external_hedge_requests_up_to",
                    self.external_hedge_requests_up_to.is_some(),
                ),
                ("external_backend", self.external_backend.is_some()),
                ("google_cloud_run", self.google_cloud_run.is_some()),
            ],
        )
    }
}

/// `querier.trace_by_id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierTraceByIdConfig {
    /// Deadline of one trace-by-ID lookup (Tempo's key).
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Tempo's external trace-by-ID endpoint, accepted and ignored.
    pub external: Option<IgnoredAny>,
}

impl Default for QuerierTraceByIdConfig {
    fn default() -> Self {
        QuerierTraceByIdConfig {
            query_timeout: Duration::from_secs(10),
            external: None,
        }
    }
}

/// `querier.cache` (Contrail): byte bounds of the read-path caches (0 disables one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Parquet footers with their page indexes (one suffix read per block).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub footer_cache_size: ByteSize,
    /// Trace-ID bloom filter shards.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub bloom_cache_size: ByteSize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            footer_cache_size: ByteSize::mib(256),
            bloom_cache_size: ByteSize::mib(256),
        }
    }
}
