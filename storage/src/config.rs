//! `storage.trace`: which object store holds the blocks, and how requests to it behave.
//!
//! Section and key names are Tempo's (`backend`, `local`, `s3`, `gcs`, `azure`), so a Tempo
//! user's file deserializes as is. Tempo keys that Contrail accepts but does not implement are
//! listed by [`TraceStorageConfig::validate`] as [`ConfigWarning`]s; any other unknown key fails
//! deserialization with serde's message naming it. `requests` is Contrail's own section: the
//! concurrency limit, timeouts and retries applied by the decorators to every backend.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{Error, Result};

mod azure;
mod gcs;
mod keys;
mod s3;
mod secret;
mod sections;
#[cfg(test)]
mod tests;

pub use azure::AzureConfig;
pub use gcs::GcsConfig;
pub(crate) use keys::{SECTION, ignored};
pub use s3::{S3_MIN_PART_SIZE, S3Config};
pub use secret::Secret;
pub use sections::{BLOCK_FORMAT, BlockConfig, FsyncPolicy, WalConfig};

/// Where the blocks live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on the local filesystem (`local.path`).
    #[default]
    Local,
    /// Amazon S3 or an S3-compatible store (MinIO, Ceph, R2, ...).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// Process memory: tests and throwaway single-binary runs only.
    Memory,
}

impl Backend {
    /// The name users write in `storage.trace.backend`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azure",
            Backend::Memory => "memory",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use contrail_proto::ConfigWarning;

/// `storage.trace`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceStorageConfig {
    /// Which backend section is used.
    pub backend: Backend,
    /// `storage.trace.local`.
    pub local: LocalConfig,
    /// `storage.trace.s3`.
    pub s3: S3Config,
    /// `storage.trace.gcs`.
    pub gcs: GcsConfig,
    /// `storage.trace.azure`.
    pub azure: AzureConfig,
    /// `storage.trace.requests` (Contrail): concurrency, timeouts and retries for every backend.
    pub requests: RequestConfig,

    /// `storage.trace.wal`: where the ingester keeps its write-ahead log.
    pub wal: WalConfig,
    /// `storage.trace.block`: how blocks are written.
    pub block: BlockConfig,

    // Tempo settings accepted and ignored, each reported by `validate`.
    pub pool: Option<IgnoredAny>,
    pub search: Option<IgnoredAny>,
    pub cache: Option<IgnoredAny>,
    pub cache_min_compaction_level: Option<IgnoredAny>,
    pub cache_max_block_age: Option<IgnoredAny>,
    pub background_cache: Option<IgnoredAny>,
    pub memcached: Option<IgnoredAny>,
    pub redis: Option<IgnoredAny>,
    pub blocklist_poll: Option<IgnoredAny>,
    pub blocklist_poll_concurrency: Option<IgnoredAny>,
    pub blocklist_poll_fallback: Option<IgnoredAny>,
    pub blocklist_poll_tenant_index_builders: Option<IgnoredAny>,
    pub blocklist_poll_stale_tenant_index: Option<IgnoredAny>,
    pub blocklist_poll_jitter_ms: Option<IgnoredAny>,
    pub blocklist_poll_tolerate_consecutive_errors: Option<IgnoredAny>,
    pub blocklist_poll_tolerate_tenant_failures: Option<IgnoredAny>,
    pub empty_tenant_deletion_enabled: Option<IgnoredAny>,
    pub empty_tenant_deletion_age: Option<IgnoredAny>,
}

impl TraceStorageConfig {
    /// Checks values, returning the warnings for ignored Tempo keys or the first invalid key.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        let mut warnings = Vec::new();
        self.requests.validate()?;
        match self.backend {
            Backend::Local => self.local.validate()?,
            Backend::S3 => self.s3.validate()?,
            Backend::Gcs => self.gcs.validate()?,
            Backend::Azure => self.azure.validate()?,
            Backend::Memory => {}
        }
        // Prefixes and ignored keys are checked in every section, used or not, so a file that
        // switches backends later does not hide a mistake.
        validate_prefix(&format!("{SECTION}.s3.prefix"), &self.s3.prefix)?;
        validate_prefix(&format!("{SECTION}.gcs.prefix"), &self.gcs.prefix)?;
        validate_prefix(&format!("{SECTION}.azure.prefix"), &self.azure.prefix)?;
        if let Some(part_size) = self.s3.part_size {
            s3::validate_part_size(part_size)?;
        }
        for (key, present) in self.ignored_keys() {
            if present {
                warnings.push(ConfigWarning::tempo_key_ignored(format!("{SECTION}.{key}")));
            }
        }
        warnings.extend(self.wal.validate()?);
        warnings.extend(self.block.validate()?);
        warnings.extend(self.s3.warnings());
        warnings.extend(self.gcs.warnings());
        warnings.extend(self.azure.warnings());
        Ok(warnings)
    }

    /// The key prefix inside the bucket for the selected backend (`""` for none).
    pub fn prefix(&self) -> &str {
        match self.backend {
            Backend::S3 => &self.s3.prefix,
            Backend::Gcs => &self.gcs.prefix,
            Backend::Azure => &self.azure.prefix,
            Backend::Local | Backend::Memory => "",
        }
    }

    /// Part size for multipart uploads (`BufWriter::with_capacity`): `s3.part_size` when set.
    pub fn multipart_part_size(&self) -> usize {
        match (self.backend, self.s3.part_size) {
            (Backend::S3, Some(size)) => usize::try_from(size.as_u64()).unwrap_or(usize::MAX),
            _ => crate::block::v1::DEFAULT_UPLOAD_PART_SIZE,
        }
    }

    /// `storage.trace.block` with what other sections say of writing blocks (the backend's
    /// multipart part size): what the ingester and the compactor write blocks with.
    pub fn block_settings(&self) -> BlockConfig {
        let mut block = self.block.clone();
        block.upload_part_size = Some(self.multipart_part_size());
        block
    }

    fn ignored_keys(&self) -> [(&'static str, bool); 18] {
        [
            ("pool", self.pool.is_some()),
            ("search", self.search.is_some()),
            ("cache", self.cache.is_some()),
            (
                "cache_min_compaction_level",
                self.cache_min_compaction_level.is_some(),
            ),
            ("cache_max_block_age", self.cache_max_block_age.is_some()),
            ("background_cache", self.background_cache.is_some()),
            ("memcached", self.memcached.is_some()),
            ("redis", self.redis.is_some()),
            ("blocklist_poll", self.blocklist_poll.is_some()),
            (
                "blocklist_poll_concurrency",
                self.blocklist_poll_concurrency.is_some(),
            ),
            (
                "blocklist_poll_fallback",
                self.blocklist_poll_fallback.is_some(),
            ),
            (
                "blocklist_poll_tenant_index_builders",
                self.blocklist_poll_tenant_index_builders.is_some(),
            ),
            (
                "blocklist_poll_stale_tenant_index",
                self.blocklist_poll_stale_tenant_index.is_some(),
            ),
            (
                "blocklist_poll_jitter_ms",
                self.blocklist_poll_jitter_ms.is_some(),
            ),
            (
                "blocklist_poll_tolerate_consecutive_errors",
                self.blocklist_poll_tolerate_consecutive_errors.is_some(),
            ),
            (
                "blocklist_poll_tolerate_tenant_failures",
                self.blocklist_poll_tolerate_tenant_failures.is_some(),
            ),
            (
                "empty_tenant_deletion_enabled",
                self.empty_tenant_deletion_enabled.is_some(),
            ),
            (
                "empty_tenant_deletion_age",
                self.empty_tenant_deletion_age.is_some(),
            ),
        ]
    }
}

/// `storage.trace.local`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// Directory holding the blocks; created when missing.
    pub path: PathBuf,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            path: PathBuf::from("./data/blocks"),
        }
    }
}

impl LocalConfig {
    fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::invalid_config(
                format!("{SECTION}.local.path"),
                "must not be empty with backend local",
            ));
        }
        Ok(())
    }
}

/// `storage.trace.requests` (Contrail): how every object-store request is bounded and retried.
///
/// See `docs/adr/003-object-store-decorators.md` for how these split between the store's HTTP
/// client and the `RetryStore` decorator.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestConfig {
    /// Requests in flight at once, per process (`LimitStore`).
    pub max_concurrency: usize,
    /// Deadline of one attempt (and of one HTTP request); a hung request is cut off here.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deadline for opening a connection (HTTP backends).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Attempts per operation in `RetryStore`, the first included (1 = no retry).
    pub max_attempts: u32,
    /// First backoff before a retry; doubles per attempt, with full jitter.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Upper bound of one backoff.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Deadline of a whole operation, retries and backoffs included.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    /// Retries of one HTTP request inside the S3/GCS/Azure client (5xx, 429, connection errors).
    /// Tempo's `s3.retry_max_attempts` overrides it for S3.
    pub http_max_retries: u32,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            max_concurrency: 64,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 4,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            total_timeout: Duration::from_secs(180),
            http_max_retries: 2,
        }
    }
}

impl RequestConfig {
    fn validate(&self) -> Result<()> {
        let key = |name: &str| format!("{SECTION}.requests.{name}");
        if !(1..=10_000).contains(&self.max_concurrency) {
            return Err(Error::invalid_config(
                key("max_concurrency"),
                "must be between 1 and 10000",
            ));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(Error::invalid_config(
                key("max_attempts"),
                "must be between 1 and 20",
            ));
        }
        if self.http_max_retries > 20 {
            return Err(Error::invalid_config(
                key("http_max_retries"),
                "must be at most 20",
            ));
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("total_timeout", self.total_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::invalid_config(key(name), "must be greater than 0s"));
            }
        }
        if self.total_timeout < self.timeout {
            return Err(Error::invalid_config(
                key("total_timeout"),
                "must be at least requests.timeout",
            ));
        }
        if self.backoff_initial > self.backoff_max {
            return Err(Error::invalid_config(
                key("backoff_initial"),
                "must not exceed requests.backoff_max",
            ));
        }
        Ok(())
    }
}

/// A prefix must be a valid object path once its surrounding slashes are trimmed.
pub(crate) fn validate_prefix(key: &str, prefix: &str) -> Result<()> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }
    object_store::path::Path::parse(trimmed)
        .map(|_| ())
        .map_err(|err| Error::invalid_config(key, format!("not a valid object path: {err}")))
}
