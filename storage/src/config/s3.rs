//! `storage.trace.s3`: Amazon S3 and S3-compatible stores.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ConfigWarning, SECTION, Secret, ignored};
use crate::error::{Error, Result};

/// Smallest part S3 accepts in a multipart upload (all parts but the last).
pub const S3_MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const S3_MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// `storage.trace.s3`, with Tempo's key names.
///
/// Empty `access_key` and `secret_key` select the default AWS credential chain: environment
/// variables, web identity (IRSA), ECS task role, then instance metadata.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name (required with backend s3).
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `tempo` puts blocks under `tempo/<tenant>/...`.
    pub prefix: String,
    /// `host:port` or a URL; empty means AWS. Without a scheme, `insecure` picks http or https.
    pub endpoint: String,
    /// Region; empty means `AWS_REGION` or `us-east-1`.
    pub region: String,
    /// Static access key ID.
    pub access_key: String,
    /// Static secret access key.
    pub secret_key: Secret,
    /// Session token for temporary credentials.
    pub session_token: Secret,
    /// Plain HTTP to the endpoint.
    pub insecure: bool,
    /// Path-style requests (`endpoint/bucket/key`); custom endpoints always use path style.
    pub forcepathstyle: bool,
    /// Multipart part size (Tempo: bytes); at least 5 MiB.
    pub part_size: Option<ByteSize>,
    /// Attempts of one HTTP request in the S3 client, the first included.
    pub retry_max_attempts: Option<u32>,
    /// First backoff of the S3 client's HTTP retries.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_initial: Option<Duration>,
    /// Largest backoff of the S3 client's HTTP retries.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_max: Option<Duration>,
    /// Accept any server certificate (testing only).
    pub tls_insecure_skip_verify: bool,
    /// PEM file with an extra CA to trust.
    pub tls_ca_path: Option<PathBuf>,

    // Tempo settings accepted and ignored, each reported as a warning.
    pub tls_cert_path: Option<IgnoredAny>,
    pub tls_key_path: Option<IgnoredAny>,
    pub tls_server_name: Option<IgnoredAny>,
    pub tls_cipher_suites: Option<IgnoredAny>,
    pub tls_min_version: Option<IgnoredAny>,
    pub hedge_requests_at: Option<IgnoredAny>,
    pub hedge_requests_up_to: Option<IgnoredAny>,
    pub signature_v2: Option<IgnoredAny>,
    pub enable_dual_stack: Option<IgnoredAny>,
    pub bucket_lookup_type: Option<IgnoredAny>,
    pub tags: Option<IgnoredAny>,
    pub storage_class: Option<IgnoredAny>,
    pub metadata: Option<IgnoredAny>,
    pub native_aws_auth_enabled: Option<IgnoredAny>,
    pub list_blocks_concurrency: Option<IgnoredAny>,
    pub disable_multipart_upload: Option<IgnoredAny>,
    pub sse: Option<IgnoredAny>,
}

impl S3Config {
    pub(super) fn validate(&self) -> Result<()> {
        let key = |name: &str| format!("{SECTION}.s3.{name}");
        if self.bucket.trim().is_empty() {
            return Err(Error::invalid_config(
                key("bucket"),
                "must not be empty with backend s3",
            ));
        }
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            let missing = if self.access_key.is_empty() {
                "access_key"
            } else {
                "secret_key"
            };
            return Err(Error::invalid_config(
                key(missing),
                "access_key and secret_key must be set together (leave both empty for the aws credential chain)",
            ));
        }
        if !self.session_token.is_empty() && self.access_key.is_empty() {
            return Err(Error::invalid_config(
                key("session_token"),
                "needs access_key and secret_key",
            ));
        }
        if let Some(attempts) = self.retry_max_attempts
            && attempts > 21
        {
            return Err(Error::invalid_config(
                key("retry_max_attempts"),
                "must be at most 21",
            ));
        }
        if let (Some(initial), Some(max)) = (self.retry_backoff_initial, self.retry_backoff_max)
            && initial > max
        {
            return Err(Error::invalid_config(
                key("retry_backoff_initial"),
                "must not exceed retry_backoff_max",
            ));
        }
        Ok(())
    }

    /// The endpoint as a URL (scheme added from `insecure`), or `None` for AWS itself.
    pub fn endpoint_url(&self) -> Option<String> {
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        if endpoint.is_empty() {
            return None;
        }
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            return Some(endpoint.to_string());
        }
        let scheme = if self.insecure { "http" } else { "https" };
        Some(format!("{scheme}://{endpoint}"))
    }

    pub(super) fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "s3",
            &[
                ("tls_cert_path", self.tls_cert_path.is_some()),
                ("tls_key_path", self.tls_key_path.is_some()),
                ("tls_server_name", self.tls_server_name.is_some()),
                ("tls_cipher_suites", self.tls_cipher_suites.is_some()),
                ("tls_min_version", self.tls_min_version.is_some()),
                ("hedge_requests_at", self.hedge_requests_at.is_some()),
                ("hedge_requests_up_to", self.hedge_requests_up_to.is_some()),
                ("signature_v2", self.signature_v2.is_some()),
                ("enable_dual_stack", self.enable_dual_stack.is_some()),
                ("bucket_lookup_type", self.bucket_lookup_type.is_some()),
                ("tags", self.tags.is_some()),
                ("storage_class", self.storage_class.is_some()),
                ("metadata", self.metadata.is_some()),
                (
                    "native_aws_auth_enabled",
                    self.native_aws_auth_enabled.is_some(),
                ),
                (
                    "list_blocks_concurrency",
                    self.list_blocks_concurrency.is_some(),
                ),
                (
                    "disable_multipart_upload",
                    self.disable_multipart_upload.is_some(),
                ),
                ("sse", self.sse.is_some()),
            ],
        )
    }
}

pub(super) fn validate_part_size(part_size: ByteSize) -> Result<()> {
    if !(S3_MIN_PART_SIZE..=S3_MAX_PART_SIZE).contains(&part_size.as_u64()) {
        return Err(Error::invalid_config(
            format!("{SECTION}.s3.part_size"),
            "must be between 5 MiB and 5 GiB",
        ));
    }
    Ok(())
}
