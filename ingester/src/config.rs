//! `ingester:` in `tempo.yaml`: Tempo's keys (same names, same meaning) plus Contrail's memory
//! limit and live-trace age cap. Ring and lifecycler keys are accepted and reported as ignored
//! (Kubernetes is the membership system). The WAL's own settings (path, fsync policy, segment
//! size, corrupt-record replay) live in `storage.trace.wal` beside Tempo's `path`.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{Error, Result};

/// YAML path of this section.
const SECTION: &str = "ingester";

/// `ingester:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// A trace that received no span for this long moves from the live traces to the head block.
    #[serde(with = "humantime_serde")]
    pub trace_idle_period: Duration,
    /// Contrail: a trace that keeps receiving spans moves to the head block once it has been
    /// live this long (bounds the memory of never-ending traces).
    #[serde(with = "humantime_serde")]
    pub max_trace_live_period: Duration,
    /// The head block is cut into a block once its traces hold this many bytes (segment bytes,
    /// as pushed).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_block_bytes: ByteSize,
    /// The head block is cut once it is this old (and not empty).
    #[serde(with = "humantime_serde")]
    pub max_block_duration: Duration,
    /// A flushed block stays readable from local disk this long after its upload.
    #[serde(with = "humantime_serde")]
    pub complete_block_timeout: Duration,
    /// How often live traces are checked for idleness and head blocks for cutting.
    #[serde(with = "humantime_serde")]
    pub flush_check_period: Duration,
    /// Blocks written and uploaded at the same time.
    pub concurrent_flushes: usize,
    /// Time limit of one block write + upload attempt (a failed attempt is retried).
    #[serde(with = "humantime_serde")]
    pub flush_op_timeout: Duration,
    /// On shutdown, cut and upload everything held (`true`), or leave it in the WAL for the
    /// next start to replay (`false`).
    pub flush_all_on_shutdown: bool,
    /// Contrail: pushes are refused with RESOURCE_EXHAUSTED (HTTP 429) once live traces, head
    /// blocks and blocks being flushed hold this many bytes.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_bytes_in_memory: ByteSize,
    /// Contrail: held pushes are kept zstd-compressed, as in the WAL; the newest this many
    /// bytes are also kept uncompressed, so that reads of the freshest data and blocks cut
    /// soon after need no decompression. Counted in `max_bytes_in_memory`. Unset: 256MiB, or
    /// a quarter of `max_bytes_in_memory` when that is less
    /// ([`IngesterConfig::uncompressed_budget`]).
    #[serde(deserialize_with = "optional_byte_size")]
    pub max_uncompressed_bytes_in_memory: Option<ByteSize>,

    // Tempo settings accepted and ignored, each reported by `validate`.
    pub lifecycler: Option<IgnoredAny>,
    pub override_ring_key: Option<IgnoredAny>,
    pub autocomplete_filtering_enabled: Option<IgnoredAny>,
    pub dedicated_columns: Option<IgnoredAny>,
    pub flush_object_storage: Option<IgnoredAny>,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            trace_idle_period: Duration::from_secs(5),
            max_trace_live_period: Duration::from_secs(30),
            max_block_bytes: ByteSize::mib(128),
            max_block_duration: Duration::from_secs(10 * 60),
            complete_block_timeout: Duration::from_secs(15 * 60),
            flush_check_period: Duration::from_secs(1),
            concurrent_flushes: 2,
            flush_op_timeout: Duration::from_secs(5 * 60),
            flush_all_on_shutdown: true,
            max_bytes_in_memory: ByteSize::mib(1024),
            max_uncompressed_bytes_in_memory: None,
            lifecycler: None,
            override_ring_key: None,
            autocomplete_filtering_enabled: None,
            dedicated_columns: None,
            flush_object_storage: None,
        }
    }
}

/// `max_uncompressed_bytes_in_memory` when unset, unless a quarter of the memory limit is less.
const DEFAULT_UNCOMPRESSED_BYTES: u64 = 256 * 1024 * 1024;

fn optional_byte_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<ByteSize>, D::Error> {
    contrail_proto::byte_size::deserialize(deserializer).map(Some)
}

impl IngesterConfig {
    /// Bytes of the newest held pushes kept uncompressed.
    pub fn uncompressed_budget(&self) -> u64 {
        self.max_uncompressed_bytes_in_memory.map_or_else(
            || DEFAULT_UNCOMPRESSED_BYTES.min(self.max_bytes_in_memory.as_u64() / 4),
            |bytes| bytes.as_u64(),
        )
    }

    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        let key = |name: &str| format!("{SECTION}.{name}");
        let positive = [
            ("trace_idle_period", self.trace_idle_period),
            ("max_trace_live_period", self.max_trace_live_period),
            ("max_block_duration", self.max_block_duration),
            ("flush_check_period", self.flush_check_period),
            ("flush_op_timeout", self.flush_op_timeout),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(Error::invalid_config(key(name), "must be more than 0s"));
            }
        }
        // Tempo accepts any size; tiny blocks only cost objects and requests
        if self.max_block_bytes.as_u64() < 64 * 1024 {
            return Err(Error::invalid_config(
                key("max_block_bytes"),
                format!("must be at least 64KiB, got {}", self.max_block_bytes),
            ));
        }
        if self.concurrent_flushes == 0 {
            return Err(Error::invalid_config(
                key("concurrent_flushes"),
                "must be at least 1",
            ));
        }
        if let Some(uncompressed) = self.max_uncompressed_bytes_in_memory
            && uncompressed > self.max_bytes_in_memory
        {
            return Err(Error::invalid_config(
                key("max_uncompressed_bytes_in_memory"),
                format!(
                    "must be at most ingester.max_bytes_in_memory ({}), got {uncompressed}",
                    self.max_bytes_in_memory
                ),
            ));
        }
        if self.max_bytes_in_memory.as_u64() < 2 * self.max_block_bytes.as_u64() {
            return Err(Error::invalid_config(
                key("max_bytes_in_memory"),
                format!(
                    "must be at least twice ingester.max_block_bytes ({}), got {}",
                    self.max_block_bytes, self.max_bytes_in_memory
                ),
            ));
        }
        let mut warnings = Vec::new();
        if self.max_trace_live_period < self.trace_idle_period {
            warnings.push(ConfigWarning::new(
                key("max_trace_live_period"),
                "shorter than ingester.trace_idle_period: traces move to the head block after max_trace_live_period",
            ));
        }
        let ignored = [
            ("lifecycler", self.lifecycler.is_some()),
            ("override_ring_key", self.override_ring_key.is_some()),
            (
                "autocomplete_filtering_enabled",
                self.autocomplete_filtering_enabled.is_some(),
            ),
            ("dedicated_columns", self.dedicated_columns.is_some()),
            ("flush_object_storage", self.flush_object_storage.is_some()),
        ];
        warnings.extend(
            ignored
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(name, _)| ConfigWarning::tempo_key_ignored(key(name))),
        );
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> std::result::Result<IngesterConfig, String> {
        serde_yaml::from_str(yaml).map_err(|error| error.to_string())
    }

    #[test]
    fn tempo_keys_are_honoured_and_ring_keys_warned() {
        let config = parse(
            "trace_idle_period: 10s\nmax_block_bytes: 500MB\nmax_block_duration: 30m\n\
             complete_block_timeout: 15m\nflush_check_period: 10s\nconcurrent_flushes: 4\n\
             flush_op_timeout: 5m\nflush_all_on_shutdown: false\n\
             lifecycler:\n  ring:\n    replication_factor: 3\n",
        )
        .expect("parses");
        assert_eq!(config.trace_idle_period, Duration::from_secs(10));
        assert_eq!(config.max_block_bytes, ByteSize::mb(500));
        assert_eq!(config.max_block_duration, Duration::from_secs(1800));
        assert_eq!(config.concurrent_flushes, 4);
        assert!(!config.flush_all_on_shutdown);
        let warnings = config.validate().expect("valid");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key, "ingester.lifecycler");
    }

    #[test]
    fn defaults_are_valid_and_the_root_tempo_yaml_parses() {
        assert!(
            IngesterConfig::default()
                .validate()
                .expect("valid")
                .is_empty()
        );
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tempo.yaml"))
            .expect("root tempo.yaml");
        let root: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        let section = root.get("ingester").cloned().expect("ingester section");
        let config: IngesterConfig = serde_yaml::from_value(section).expect("ingester config");
        assert!(config.validate().expect("valid").is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let error = parse("trace_idle_perod: 5s\n").expect_err("typo");
        assert!(error.contains("trace_idle_perod"), "{error}");
        let config = parse("concurrent_flushes: 0\n").expect("parses");
        let error = config.validate().expect_err("zero").to_string();
        assert!(error.contains("ingester.concurrent_flushes"), "{error}");
        let config = parse("max_block_bytes: 1GiB\nmax_bytes_in_memory: 1GiB\n").expect("parses");
        let error = config.validate().expect_err("too small").to_string();
        assert!(error.contains("ingester.max_bytes_in_memory"), "{error}");
        let config = parse("max_bytes_in_memory: 512MiB\n").expect("parses");
        assert_eq!(config.uncompressed_budget(), 128 * 1024 * 1024);
        let config = parse("max_uncompressed_bytes_in_memory: 0\n").expect("parses");
        assert_eq!(config.uncompressed_budget(), 0);
        assert_eq!(
            IngesterConfig::default().uncompressed_budget(),
            256 * 1024 * 1024
        );
        let config = parse("max_uncompressed_bytes_in_memory: 2GiB\n").expect("parses");
        let error = config.validate().expect_err("over the limit").to_string();
        assert!(
            error.contains("ingester.max_uncompressed_bytes_in_memory"),
            "{error}"
        );
        let config = parse("trace_idle_period: 0s\n").expect("parses");
        let error = config.validate().expect_err("zero").to_string();
        assert!(error.contains("ingester.trace_idle_period"), "{error}");
    }
}
