//! [`Limits`]: one tenant's limits, in Tempo's nested `overrides.defaults` shape.
//!
//! Who enforces what: the distributor `ingestion.rate_limit_bytes`, `burst_size_bytes`,
//! `max_attribute_bytes`, `retry_info_enabled` and `global.max_bytes_per_trace` (per request);
//! the ingester `ingestion.max_traces_per_user` and `global.max_bytes_per_trace` (per trace);
//! the querier and query-frontend `read.*`; the compactor `compaction.*`. Sections Contrail has
//! no component for (`metrics_generator`, `forwarders`, `cost_attribution`, `storage`) and the
//! cluster-wide knobs it does not have (`max_global_traces_per_user`, `tenant_shard_size`,
//! `artificial_delay`, `rate_strategy: global`) are accepted and reported by
//! [`Limits::warnings`].

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::{Deserialize, Serialize};

/// How the ingestion rate limit is shared between distributors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateStrategy {
    /// Each distributor applies the whole limit on its own (Tempo's default).
    #[default]
    Local,
    /// Tempo divides the limit by the number of distributors; Contrail has no distributor ring
    /// and applies it locally (with a warning).
    Global,
}

/// One tenant's limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// `ingestion`: enforced by the distributor and the ingester.
    pub ingestion: IngestionLimits,
    /// `read`: enforced by the query-frontend and the querier.
    pub read: ReadLimits,
    /// `compaction`: enforced by the compactor.
    pub compaction: CompactionLimits,
    /// `global`: enforced everywhere a whole trace is handled.
    pub global: GlobalLimits,
    /// `metrics_generator` (Tempo): accepted, ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_generator: Option<serde_yaml::Value>,
    /// `forwarders` (Tempo): accepted, ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarders: Option<serde_yaml::Value>,
    /// `cost_attribution` (Tempo): accepted, ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_attribution: Option<serde_yaml::Value>,
    /// `storage` (Tempo: per-tenant dedicated Parquet columns): accepted, ignored; vc1's
    /// dedicated columns are fixed by the block schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<serde_yaml::Value>,
}

/// `ingestion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestionLimits {
    /// `rate_strategy`: `local` (default) or `global` (applied as local, with a warning).
    pub rate_strategy: RateStrategy,
    /// `rate_limit_bytes`: sustained bytes per second per tenant and distributor; 0 = no limit.
    #[serde(with = "crate::bytes")]
    pub rate_limit_bytes: ByteSize,
    /// `burst_size_bytes`: the token bucket's size; a request larger than this is always refused.
    #[serde(with = "crate::bytes")]
    pub burst_size_bytes: ByteSize,
    /// `max_traces_per_user`: live traces per tenant and ingester; 0 = no limit.
    pub max_traces_per_user: u64,
    /// `max_global_traces_per_user` (Tempo): accepted, ignored unless 0.
    pub max_global_traces_per_user: u64,
    /// `max_attribute_bytes`: longer attribute keys and string values are truncated; 0 = the
    /// distributor's `max_attribute_bytes` applies.
    pub max_attribute_bytes: u64,
    /// `retry_info_enabled`: attach gRPC `RetryInfo` / HTTP `Retry-After` to rate-limit refusals.
    pub retry_info_enabled: bool,
    /// `tenant_shard_size` (Tempo shuffle sharding): accepted, ignored unless 0.
    pub tenant_shard_size: u64,
    /// `artificial_delay` (Tempo): accepted, ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artificial_delay: Option<serde_yaml::Value>,
}

impl Default for IngestionLimits {
    fn default() -> Self {
        IngestionLimits {
            rate_strategy: RateStrategy::Local,
            rate_limit_bytes: ByteSize::b(15_000_000),
            burst_size_bytes: ByteSize::b(20_000_000),
            max_traces_per_user: 10_000,
            max_global_traces_per_user: 0,
            max_attribute_bytes: 0,
            retry_info_enabled: true,
            tenant_shard_size: 0,
            artificial_delay: None,
        }
    }
}

/// `read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadLimits {
    /// `max_bytes_per_tag_values_query`: largest tag-values response; 0 = no limit.
    #[serde(with = "crate::bytes")]
    pub max_bytes_per_tag_values_query: ByteSize,
    /// `max_blocks_per_tag_values_query`: 0 = no limit.
    pub max_blocks_per_tag_values_query: u64,
    /// `max_search_duration`: longest search time range; 0 = no limit.
    #[serde(with = "humantime_serde")]
    pub max_search_duration: Duration,
    /// `max_metrics_duration`: longest TraceQL metrics time range; 0 = no limit.
    #[serde(with = "humantime_serde")]
    pub max_metrics_duration: Duration,
    /// `unsafe_query_hints`: allow query hints that can be expensive.
    pub unsafe_query_hints: bool,
    /// `left_pad_trace_ids`: return 32-character trace IDs in search results.
    pub left_pad_trace_ids: bool,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_bytes_per_tag_values_query: ByteSize::b(5_000_000),
            max_blocks_per_tag_values_query: 0,
            max_search_duration: Duration::ZERO,
            max_metrics_duration: Duration::ZERO,
            unsafe_query_hints: false,
            left_pad_trace_ids: false,
        }
    }
}

/// `compaction`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionLimits {
    /// `block_retention`: per-tenant retention; 0 = the compactor's `block_retention` applies.
    #[serde(with = "humantime_serde")]
    pub block_retention: Duration,
    /// `compaction_window`: 0 = the compactor's window applies.
    #[serde(with = "humantime_serde")]
    pub compaction_window: Duration,
    /// `compaction_disabled`: never compact this tenant's blocks.
    pub compaction_disabled: bool,
}

/// `global`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalLimits {
    /// `max_bytes_per_trace`: largest trace (encoded); 0 = no limit.
    #[serde(with = "crate::bytes")]
    pub max_bytes_per_trace: ByteSize,
}

impl Default for GlobalLimits {
    fn default() -> Self {
        GlobalLimits {
            max_bytes_per_trace: ByteSize::b(5_000_000),
        }
    }
}

impl Limits {
    /// Warnings for the Tempo keys set in these limits that Contrail accepts but does not
    /// enforce; `prefix` is the path of the limits (`overrides.defaults`).
    pub fn warnings(&self, prefix: &str) -> Vec<ConfigWarning> {
        let mut warnings = Vec::new();
        let mut ignored = |present: bool, key: &str| {
            if present {
                warnings.push(ConfigWarning::tempo_key_ignored(format!("{prefix}.{key}")));
            }
        };
        ignored(self.metrics_generator.is_some(), "metrics_generator");
        ignored(self.forwarders.is_some(), "forwarders");
        ignored(self.cost_attribution.is_some(), "cost_attribution");
        ignored(self.storage.is_some(), "storage");
        let ingestion = &self.ingestion;
        ignored(
            ingestion.max_global_traces_per_user != 0,
            "ingestion.max_global_traces_per_user",
        );
        ignored(
            ingestion.tenant_shard_size != 0,
            "ingestion.tenant_shard_size",
        );
        ignored(
            ingestion.artificial_delay.is_some(),
            "ingestion.artificial_delay",
        );
        if ingestion.rate_strategy == RateStrategy::Global {
            warnings.push(ConfigWarning::new(
                format!("{prefix}.ingestion.rate_strategy"),
                "contrail has no distributor ring: the global rate limit is applied by each distributor (local)",
            ));
        }
        warnings
    }

    /// The attribute size limit for this tenant: its own, else `distributor_default`
    /// (0 = no truncation).
    pub fn max_attribute_bytes_or(&self, distributor_default: u64) -> u64 {
        match self.ingestion.max_attribute_bytes {
            0 => distributor_default,
            own => own,
        }
    }
}
