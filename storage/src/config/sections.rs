//! `storage.trace.wal` and `storage.trace.block`: typed, so every key a Tempo user writes there is
//! either honoured, reported as ignored, or rejected naming it.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ConfigWarning, SECTION, ignored};
use crate::block::BlockWriterConfig;
use crate::error::{Error, Result};

/// When the ingester's WAL writer calls `fdatasync` (Contrail's key `storage.trace.wal.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Every group commit is synced before its pushes are acknowledged: an ack survives a crash
    /// of the machine, not only of the process.
    #[default]
    Always,
    /// Pushes are acknowledged once written; the file is synced at most every `fsync_interval`.
    /// A machine crash may lose the last interval of acknowledged pushes (a process crash does not).
    Interval,
    /// Never synced by Contrail (the kernel writes back on its own schedule).
    Never,
}

/// `storage.trace.wal`: where the ingester keeps its write-ahead log, and how it is written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// The WAL directory (Tempo's key).
    pub path: PathBuf,
    /// Contrail: when appends are synced to disk (`always`, `interval`, `never`).
    pub fsync: FsyncPolicy,
    /// Contrail: with `fsync: interval`, the longest time between two syncs.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// Contrail: a segment file is closed and a new one started once it passes this size.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub segment_size: ByteSize,
    /// Contrail: at replay, skip a corrupt record in the middle of a segment (counted in
    /// `contrail_ingester_wal_corrupt_records_skipped_total`) instead of refusing to start.
    pub skip_corrupt_records: bool,
    // Tempo settings accepted and ignored: Contrail's WAL has one format of its own.
    pub v2_encoding: Option<IgnoredAny>,
    pub search_encoding: Option<IgnoredAny>,
    pub ingestion_time_range_slack: Option<IgnoredAny>,
    pub version: Option<IgnoredAny>,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            path: PathBuf::from("./data/wal"),
            fsync: FsyncPolicy::Always,
            fsync_interval: Duration::from_millis(100),
            segment_size: ByteSize::mib(128),
            skip_corrupt_records: false,
            v2_encoding: None,
            search_encoding: None,
            ingestion_time_range_slack: None,
            version: None,
        }
    }
}

impl WalConfig {
    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::invalid_config(
                format!("{SECTION}.wal.path"),
                "must not be empty",
            ));
        }
        if self.segment_size.as_u64() < 64 * 1024 {
            return Err(Error::invalid_config(
                format!("{SECTION}.wal.segment_size"),
                format!("must be at least 64KiB, got {}", self.segment_size),
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.is_zero() {
            return Err(Error::invalid_config(
                format!("{SECTION}.wal.fsync_interval"),
                "must be more than 0s with fsync: interval",
            ));
        }
        Ok(ignored(
            "wal",
            &[
                ("v2_encoding", self.v2_encoding.is_some()),
                ("search_encoding", self.search_encoding.is_some()),
                (
                    "ingestion_time_range_slack",
                    self.ingestion_time_range_slack.is_some(),
                ),
                ("version", self.version.is_some()),
            ],
        ))
    }
}

/// The block format Contrail writes.
pub const BLOCK_FORMAT: &str = "vc1";

/// `storage.trace.block`: how blocks are written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    /// Tempo's block version (`vParquet4`, ...). Contrail always writes `vc1`; any other value
    /// is reported as ignored.
    pub version: Option<String>,
    /// False-positive rate of the trace-ID bloom filters.
    pub bloom_filter_false_positive: f64,
    /// Upper bound of one bloom shard.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub bloom_filter_shard_size_bytes: ByteSize,
    /// Target size of a Parquet row group.
    #[serde(deserialize_with = "contrail_proto::byte_size::deserialize")]
    pub parquet_row_group_size_bytes: ByteSize,
    // Tempo settings accepted and ignored.
    pub parquet_dedicated_columns: Option<IgnoredAny>,
    pub v2_index_downsample_bytes: Option<IgnoredAny>,
    pub v2_index_page_size_bytes: Option<IgnoredAny>,
    pub v2_encoding: Option<IgnoredAny>,
    pub search_encoding: Option<IgnoredAny>,
    pub search_page_size_bytes: Option<IgnoredAny>,
    pub create_index_pages: Option<IgnoredAny>,
    /// Not a key of this section: the backend's multipart part size, filled in by
    /// `TraceStorageConfig::block_settings` (`storage.trace.s3.part_size`).
    #[serde(skip)]
    pub upload_part_size: Option<usize>,
}

impl Default for BlockConfig {
    fn default() -> Self {
        let writer = BlockWriterConfig::new(contrail_proto::TenantId::single_tenant());
        BlockConfig {
            version: None,
            bloom_filter_false_positive: writer.bloom_false_positive,
            bloom_filter_shard_size_bytes: ByteSize::b(writer.bloom_shard_max_bytes as u64),
            parquet_row_group_size_bytes: ByteSize::b(writer.row_group_target_bytes as u64),
            parquet_dedicated_columns: None,
            v2_index_downsample_bytes: None,
            v2_index_page_size_bytes: None,
            v2_encoding: None,
            search_encoding: None,
            search_page_size_bytes: None,
            create_index_pages: None,
            upload_part_size: None,
        }
    }
}

impl BlockConfig {
    /// Checks values and lists the Tempo keys that are accepted but ignored.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        let key = |name: &str| format!("{SECTION}.block.{name}");
        let false_positive = self.bloom_filter_false_positive;
        if !(false_positive > 0.0 && false_positive < 1.0) {
            return Err(Error::invalid_config(
                key("bloom_filter_false_positive"),
                format!("must be between 0 and 1 (exclusive), got {false_positive}"),
            ));
        }
        if self.bloom_filter_shard_size_bytes.as_u64() < 1024 {
            return Err(Error::invalid_config(
                key("bloom_filter_shard_size_bytes"),
                format!(
                    "must be at least 1KiB, got {}",
                    self.bloom_filter_shard_size_bytes
                ),
            ));
        }
        if self.parquet_row_group_size_bytes.as_u64() < 64 * 1024 {
            return Err(Error::invalid_config(
                key("parquet_row_group_size_bytes"),
                format!(
                    "must be at least 64KiB, got {}",
                    self.parquet_row_group_size_bytes
                ),
            ));
        }
        let mut warnings = ignored(
            "block",
            &[
                (
                    "parquet_dedicated_columns",
                    self.parquet_dedicated_columns.is_some(),
                ),
                (
                    "v2_index_downsample_bytes",
                    self.v2_index_downsample_bytes.is_some(),
                ),
                (
                    "v2_index_page_size_bytes",
                    self.v2_index_page_size_bytes.is_some(),
                ),
                ("v2_encoding", self.v2_encoding.is_some()),
                ("search_encoding", self.search_encoding.is_some()),
                (
                    "search_page_size_bytes",
                    self.search_page_size_bytes.is_some(),
                ),
                ("create_index_pages", self.create_index_pages.is_some()),
            ],
        );
        if let Some(version) = self
            .version
            .as_deref()
            .filter(|version| *version != BLOCK_FORMAT)
        {
            warnings.push(ConfigWarning {
                key: key("version"),
                message: format!(
                    "contrail writes {BLOCK_FORMAT} blocks; tempo block version {version:?} ignored"
                ),
            });
        }
        Ok(warnings)
    }

    /// Applies these settings to a block writer's configuration.
    pub fn apply_to(&self, writer: &mut BlockWriterConfig) {
        writer.bloom_false_positive = self.bloom_filter_false_positive;
        writer.bloom_shard_max_bytes =
            usize::try_from(self.bloom_filter_shard_size_bytes.as_u64()).unwrap_or(usize::MAX);
        writer.row_group_target_bytes =
            usize::try_from(self.parquet_row_group_size_bytes.as_u64()).unwrap_or(usize::MAX);
        if let Some(part_size) = self.upload_part_size {
            writer.upload_part_size = part_size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: for<'de> Deserialize<'de>>(yaml: &str) -> std::result::Result<T, String> {
        serde_yaml::from_str(yaml).map_err(|error| error.to_string())
    }

    #[test]
    fn tempo_wal_and_block_keys_are_honoured_or_warned() {
        let wal: WalConfig = parse("path: /var/tempo/wal\nv2_encoding: snappy\n").expect("wal");
        assert_eq!(wal.path, PathBuf::from("/var/tempo/wal"));
        let warnings = wal.validate().expect("valid");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key, "storage.trace.wal.v2_encoding");

        let block: BlockConfig =
            parse("version: vParquet4\nbloom_filter_false_positive: 0.05\nparquet_row_group_size_bytes: 50MB\n")
                .expect("block");
        let warnings = block.validate().expect("valid");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key, "storage.trace.block.version");
        let mut writer = BlockWriterConfig::new(contrail_proto::TenantId::single_tenant());
        block.apply_to(&mut writer);
        assert_eq!(writer.bloom_false_positive, 0.05);
        assert_eq!(writer.row_group_target_bytes, 50_000_000);
    }

    #[test]
    fn typos_and_bad_values_name_the_key() {
        let error = parse::<WalConfig>("pth: /x\n").expect_err("typo");
        assert!(error.contains("pth"), "{error}");
        let error = parse::<BlockConfig>("bloom_filter_shard_size: 1\n").expect_err("typo");
        assert!(error.contains("bloom_filter_shard_size"), "{error}");
        let block: BlockConfig = parse("bloom_filter_false_positive: 1.5\n").expect("parses");
        let error = block.validate().expect_err("out of range").to_string();
        assert!(
            error.contains("storage.trace.block.bloom_filter_false_positive"),
            "{error}"
        );
        let wal: WalConfig = parse("path: ''\n").expect("parses");
        let error = wal.validate().expect_err("empty").to_string();
        assert!(error.contains("storage.trace.wal.path"), "{error}");
        let error = parse::<WalConfig>("fsync: sometimes\n").expect_err("bad policy");
        assert!(error.contains("sometimes"), "{error}");
        let wal: WalConfig = parse("segment_size: 1KiB\n").expect("parses");
        let error = wal.validate().expect_err("tiny").to_string();
        assert!(error.contains("storage.trace.wal.segment_size"), "{error}");
        let wal: WalConfig = parse("fsync: interval\nfsync_interval: 0s\n").expect("parses");
        let error = wal.validate().expect_err("zero").to_string();
        assert!(
            error.contains("storage.trace.wal.fsync_interval"),
            "{error}"
        );
    }

    #[test]
    fn wal_fsync_policy_and_replay_flag_parse() {
        let wal: WalConfig = parse(
            "path: /wal\nfsync: interval\nfsync_interval: 250ms\nsegment_size: 8MiB\nskip_corrupt_records: true\n",
        )
        .expect("wal");
        assert_eq!(wal.fsync, FsyncPolicy::Interval);
        assert_eq!(wal.fsync_interval, Duration::from_millis(250));
        assert_eq!(wal.segment_size, ByteSize::mib(8));
        assert!(wal.skip_corrupt_records);
        assert!(wal.validate().expect("valid").is_empty());
        assert_eq!(WalConfig::default().fsync, FsyncPolicy::Always);
    }
}
