//! `compactor:` in `tempo.yaml`, with Tempo's keys.
//!
//! Tempo's `compactor.compaction` keys are implemented (`block_retention`,
//! `compacted_block_retention`, `compaction_window`, `max_compaction_objects`, `max_block_bytes`,
//! `retention_concurrency`, `max_time_per_tenant`, `compaction_cycle`) or, for the v2-format
//! buffer knobs, accepted with a warning; so are `compactor.ring` and
//! `compactor.override_ring_key` (membership comes from `compactor.sharding`, or from the ring
//! crate's discovery wired by the binary). Contrail's own keys: `compaction.max_input_blocks`,
//! `compaction.active_window`, `compaction.lease_duration`, `compaction.zstd_level`,
//! `compaction.attribute_zstd_level`, `compaction.data_page_size`,
//! `compaction.data_page_row_limit`, `compaction.byte_stream_split` (the encoding of compacted
//! blocks: docs/adr/016-compacted-block-size.md) and `sharding`. Unknown keys fail deserialization with serde's message naming the key.

use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::ConfigWarning;
use serde::Deserialize;
use serde::de::IgnoredAny;

use contrail_storage::block::ParquetOptions;

use crate::error::{Error, Result};
use crate::planner::PlannerConfig;

/// YAML path of the section.
const SECTION: &str = "compactor";

/// `compactor`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Tempo's switch: a disabled compactor runs nothing (no compaction, retention or index).
    pub disabled: bool,
    /// `compactor.compaction`.
    pub compaction: CompactionConfig,
    /// `compactor.sharding` (Contrail): this instance and the static member list.
    pub sharding: ShardingConfig,
    /// Tempo's ring; membership is `sharding` or the binary's discovery. Ignored with a warning.
    pub ring: Option<IgnoredAny>,
    /// Tempo's ring key. Ignored with a warning.
    pub override_ring_key: Option<IgnoredAny>,
}

/// `compactor.compaction`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// Live blocks whose end is older than this are marked compacted (per tenant: overrides).
    #[serde(with = "humantime_serde")]
    pub block_retention: Duration,
    /// Compacted blocks are deleted this long after they were marked, so that readers polling
    /// the blocklist never lose a block they are reading.
    #[serde(with = "humantime_serde")]
    pub compacted_block_retention: Duration,
    /// Blocks are grouped by `endTime` into windows this long; a job never crosses windows.
    #[serde(with = "humantime_serde")]
    pub compaction_window: Duration,
    /// A job's inputs hold at most this many traces in total.
    pub max_compaction_objects: u64,
    /// A job's inputs hold at most this many bytes in total.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub max_block_bytes: ByteSize,
    /// Blocks marked or deleted concurrently by retention.
    pub retention_concurrency: usize,
    /// No new job of a tenant starts after this long in one cycle; the next tenant goes on.
    #[serde(with = "humantime_serde")]
    pub max_time_per_tenant: Duration,
    /// Time between compaction cycles.
    #[serde(with = "humantime_serde")]
    pub compaction_cycle: Duration,
    /// (Contrail) Inputs of one job, at most.
    pub max_input_blocks: usize,
    /// (Contrail) Blocks ending within this long of now are compacted with blocks of their own
    /// level only; older windows are merged across levels (Tempo's fixed 24 h).
    #[serde(with = "humantime_serde")]
    pub active_window: Duration,
    /// (Contrail) How long a job's lease lasts without renewal; a crashed compactor's window is
    /// free again after this.
    #[serde(with = "humantime_serde")]
    pub lease_duration: Duration,
    /// (Contrail) zstd level of compacted blocks (docs/adr/016-compacted-block-size.md).
    pub zstd_level: i32,
    /// (Contrail) zstd level of the generic span attributes' string values in compacted
    /// blocks, the largest column.
    pub attribute_zstd_level: i32,
    /// (Contrail) Target uncompressed size of a data page of compacted blocks (level 0: 256 KiB).
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub data_page_size: ByteSize,
    /// (Contrail) A data page of a compacted block holds at most this many rows (level 0:
    /// 20,000). Larger pages compress better; a trace-by-ID read decodes one page per column.
    pub data_page_row_limit: usize,
    /// (Contrail) BYTE_STREAM_SPLIT for span start offsets, durations and generic int
    /// attribute values in compacted blocks (level 0: delta and dictionary encodings).
    pub byte_stream_split: bool,
    /// Tempo v2-format buffer sizes: no meaning for vc1 blocks. Ignored with a warning.
    pub v2_in_buffer_bytes: Option<IgnoredAny>,
    /// See `v2_in_buffer_bytes`.
    pub v2_out_buffer_bytes: Option<IgnoredAny>,
    /// See `v2_in_buffer_bytes`.
    pub v2_prefetch_traces_count: Option<IgnoredAny>,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            block_retention: Duration::from_secs(14 * 24 * 3600),
            compacted_block_retention: Duration::from_secs(3600),
            compaction_window: Duration::from_secs(3600),
            max_compaction_objects: 6_000_000,
            max_block_bytes: ByteSize::gib(100),
            retention_concurrency: 10,
            max_time_per_tenant: Duration::from_secs(5 * 60),
            compaction_cycle: Duration::from_secs(30),
            max_input_blocks: 8,
            active_window: Duration::from_secs(24 * 3600),
            lease_duration: Duration::from_secs(5 * 60),
            zstd_level: DEFAULT_COMPACTED_ZSTD_LEVEL,
            attribute_zstd_level: DEFAULT_COMPACTED_ATTRIBUTE_ZSTD_LEVEL,
            data_page_size: ByteSize::mib(1),
            data_page_row_limit: DEFAULT_COMPACTED_DATA_PAGE_ROW_LIMIT,
            byte_stream_split: true,
            v2_in_buffer_bytes: None,
            v2_out_buffer_bytes: None,
            v2_prefetch_traces_count: None,
        }
    }
}

/// zstd level of compacted blocks by default (docs/adr/016-compacted-block-size.md).
pub const DEFAULT_COMPACTED_ZSTD_LEVEL: i32 = 6;

/// zstd level of compacted blocks' generic attribute string values by default.
pub const DEFAULT_COMPACTED_ATTRIBUTE_ZSTD_LEVEL: i32 = 9;

/// Row limit of a compacted block's data page by default.
pub const DEFAULT_COMPACTED_DATA_PAGE_ROW_LIMIT: usize = 200_000;

/// Largest accepted `data_page_size`: a page is decoded whole, by every reader of a row in it.
const MAX_DATA_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// `compactor.sharding` (Contrail).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardingConfig {
    /// This compactor's name among the members (default: the host name, else `compactor`).
    pub instance_id: Option<String>,
    /// Every compactor's name; empty means this one alone.
    pub members: Vec<String>,
}

impl ShardingConfig {
    /// The instance name to use.
    pub fn instance_id(&self) -> String {
        self.instance_id
            .clone()
            .or_else(|| {
                std::env::var("HOSTNAME")
                    .ok()
                    .filter(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "compactor".to_owned())
    }
}

impl CompactorConfig {
    /// Checks values; returns warnings for the Tempo keys that are accepted and ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        let compaction = &self.compaction;
        let key = |name: &str| format!("{SECTION}.compaction.{name}");
        let positive = [
            ("compaction_window", compaction.compaction_window),
            ("compaction_cycle", compaction.compaction_cycle),
            ("max_time_per_tenant", compaction.max_time_per_tenant),
            ("lease_duration", compaction.lease_duration),
            ("block_retention", compaction.block_retention),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(Error::invalid_config(key(name), "must be greater than 0"));
            }
        }
        if compaction.max_input_blocks < 2 {
            return Err(Error::invalid_config(
                key("max_input_blocks"),
                format!("must be at least 2, got {}", compaction.max_input_blocks),
            ));
        }
        if compaction.max_compaction_objects == 0 {
            return Err(Error::invalid_config(
                key("max_compaction_objects"),
                "must be greater than 0",
            ));
        }
        if compaction.max_block_bytes.as_u64() == 0 {
            return Err(Error::invalid_config(
                key("max_block_bytes"),
                "must be greater than 0",
            ));
        }
        if compaction.retention_concurrency == 0 {
            return Err(Error::invalid_config(
                key("retention_concurrency"),
                "must be greater than 0",
            ));
        }
        for (name, level) in [
            ("zstd_level", compaction.zstd_level),
            ("attribute_zstd_level", compaction.attribute_zstd_level),
        ] {
            if !(1..=22).contains(&level) {
                return Err(Error::invalid_config(
                    key(name),
                    format!("must be between 1 and 22, got {level}"),
                ));
            }
        }
        let page_bytes = compaction.data_page_size.as_u64();
        if !(1..=MAX_DATA_PAGE_BYTES).contains(&page_bytes) {
            return Err(Error::invalid_config(
                key("data_page_size"),
                format!("must be between 1 B and 64 MiB, got {page_bytes} B"),
            ));
        }
        if compaction.data_page_row_limit == 0 {
            return Err(Error::invalid_config(
                key("data_page_row_limit"),
                "must be greater than 0",
            ));
        }
        if let Some(instance) = &self.sharding.instance_id
            && instance.trim().is_empty()
        {
            return Err(Error::invalid_config(
                format!("{SECTION}.sharding.instance_id"),
                "must not be empty",
            ));
        }
        let mut warnings = Vec::new();
        let ignored = [
            ("ring", self.ring.is_some()),
            ("override_ring_key", self.override_ring_key.is_some()),
            (
                "compaction.v2_in_buffer_bytes",
                compaction.v2_in_buffer_bytes.is_some(),
            ),
            (
                "compaction.v2_out_buffer_bytes",
                compaction.v2_out_buffer_bytes.is_some(),
            ),
            (
                "compaction.v2_prefetch_traces_count",
                compaction.v2_prefetch_traces_count.is_some(),
            ),
        ];
        for (name, present) in ignored {
            if present {
                warnings.push(ConfigWarning::tempo_key_ignored(format!(
                    "{SECTION}.{name}"
                )));
            }
        }
        Ok(warnings)
    }

    /// The Parquet encoding of compacted blocks.
    pub fn parquet_options(&self) -> ParquetOptions {
        let compaction = &self.compaction;
        ParquetOptions {
            zstd_level: compaction.zstd_level,
            data_page_size_bytes: usize::try_from(compaction.data_page_size.as_u64())
                .unwrap_or(usize::MAX),
            data_page_row_limit: compaction.data_page_row_limit,
            byte_stream_split_integers: compaction.byte_stream_split,
            attribute_string_zstd_level: Some(compaction.attribute_zstd_level),
            ..ParquetOptions::default()
        }
    }

    /// The planner's part of the config.
    pub fn planner(&self) -> PlannerConfig {
        let compaction = &self.compaction;
        PlannerConfig {
            compaction_window: compaction.compaction_window,
            active_window: compaction.active_window,
            max_input_blocks: compaction.max_input_blocks,
            max_compaction_objects: compaction.max_compaction_objects,
            max_block_bytes: compaction.max_block_bytes.as_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> std::result::Result<CompactorConfig, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    #[test]
    fn tempo_keys_parse_and_defaults_match_tempo() {
        let config = parse(
            "compaction:\n  block_retention: 48h\n  compacted_block_retention: 30m\n  \
             compaction_window: 2h\n  max_compaction_objects: 1000\n  max_block_bytes: 10GiB\n  \
             retention_concurrency: 4\n  max_time_per_tenant: 1m\n  compaction_cycle: 10s\n",
        )
        .expect("parses");
        assert_eq!(
            config.compaction.block_retention,
            Duration::from_secs(48 * 3600)
        );
        assert_eq!(
            config.compaction.compacted_block_retention,
            Duration::from_secs(1800)
        );
        assert_eq!(config.compaction.max_block_bytes, ByteSize::gib(10));
        assert_eq!(config.validate().expect("valid"), Vec::new());
        let defaults = CompactorConfig::default().compaction;
        assert_eq!(defaults.block_retention, Duration::from_secs(336 * 3600));
        assert_eq!(defaults.compaction_cycle, Duration::from_secs(30));
        assert_eq!(defaults.max_block_bytes.as_u64(), 107_374_182_400);
    }

    #[test]
    fn ignored_tempo_keys_warn_with_their_full_path() {
        let config = parse(
            "ring:\n  kvstore:\n    store: memberlist\ncompaction:\n  v2_in_buffer_bytes: 5242880\n",
        )
        .expect("parses");
        let keys: Vec<String> = config
            .validate()
            .expect("valid")
            .into_iter()
            .map(|warning| warning.key)
            .collect();
        assert_eq!(
            keys,
            vec!["compactor.ring", "compactor.compaction.v2_in_buffer_bytes"]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let error = parse("compaction:\n  max_inputs: 3\n").expect_err("unknown key");
        assert!(error.to_string().contains("max_inputs"), "{error}");
        let config = parse("compaction:\n  max_input_blocks: 1\n").expect("parses");
        let error = config.validate().expect_err("too few inputs");
        assert!(
            error
                .to_string()
                .contains("compactor.compaction.max_input_blocks"),
            "{error}"
        );
        let config = parse("compaction:\n  compaction_window: 0s\n").expect("parses");
        let error = config.validate().expect_err("zero window");
        assert!(error.to_string().contains("compaction_window"), "{error}");
        let error = parse("compaction:\n  block_retention: soon\n").expect_err("bad duration");
        assert!(error.to_string().contains("block_retention"), "{error}");
    }

    #[test]
    fn compacted_block_encoding_keys_parse_validate_and_reach_the_writer() {
        let defaults = CompactorConfig::default();
        assert!(defaults.validate().expect("defaults are valid").is_empty());
        let options = defaults.parquet_options();
        assert_eq!(options.zstd_level, 6);
        assert_eq!(options.attribute_string_zstd_level, Some(9));
        assert_eq!(options.data_page_size_bytes, 1024 * 1024);
        assert_eq!(options.data_page_row_limit, 200_000);
        assert!(options.byte_stream_split_integers);
        // Everything else as level-0 blocks.
        let level0 = ParquetOptions::default();
        assert_eq!(options.delta_integers, level0.delta_integers);
        assert_eq!(options.trace_id_dictionary, level0.trace_id_dictionary);

        let config = parse(
            "compaction:\n  zstd_level: 3\n  attribute_zstd_level: 4\n  data_page_size: 256KiB\n  \
             data_page_row_limit: 20000\n  byte_stream_split: false\n",
        )
        .expect("parses");
        assert!(config.validate().expect("valid").is_empty());
        let options = config.parquet_options();
        assert_eq!(options.zstd_level, 3);
        assert_eq!(options.attribute_string_zstd_level, Some(4));
        assert_eq!(options.data_page_size_bytes, 256 * 1024);
        assert_eq!(options.data_page_row_limit, 20_000);
        assert!(!options.byte_stream_split_integers);

        for (yaml, key) in [
            (
                "attribute_zstd_level: 0",
                "compactor.compaction.attribute_zstd_level",
            ),
            (
                "attribute_zstd_level: 23",
                "compactor.compaction.attribute_zstd_level",
            ),
            ("zstd_level: 0", "compactor.compaction.zstd_level"),
            ("data_page_size: 0B", "compactor.compaction.data_page_size"),
            (
                "data_page_size: 65MiB",
                "compactor.compaction.data_page_size",
            ),
            (
                "data_page_row_limit: 0",
                "compactor.compaction.data_page_row_limit",
            ),
        ] {
            let config = parse(&format!("compaction:\n  {yaml}\n")).expect("parses");
            let error = config.validate().expect_err(yaml);
            assert!(error.to_string().contains(key), "{yaml}: {error}");
        }
        let error = parse("compaction:\n  byte_stream_split: sometimes\n").expect_err("bad bool");
        assert!(error.to_string().contains("byte_stream_split"), "{error}");
    }
}
