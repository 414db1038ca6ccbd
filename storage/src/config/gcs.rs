//! `storage.trace.gcs`: Google Cloud Storage.

use std::path::PathBuf;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ConfigWarning, SECTION, ignored};
use crate::error::{Error, Result};

/// `storage.trace.gcs`, with Tempo's key names.
///
/// Credentials: `service_account_path` (Contrail), else `GOOGLE_APPLICATION_CREDENTIALS`, else
/// the metadata server (GKE workload identity).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcsConfig {
    /// Bucket name (required with backend gcs).
    pub bucket_name: String,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// Base URL of the JSON API, for emulators such as fake-gcs-server; empty means Google.
    pub endpoint: String,
    /// Allow plain HTTP to `endpoint`.
    pub insecure: bool,
    /// Service-account JSON key file (Contrail).
    pub service_account_path: Option<PathBuf>,

    // Tempo settings accepted and ignored, each reported as a warning.
    pub chunk_buffer_size: Option<IgnoredAny>,
    pub hedge_requests_at: Option<IgnoredAny>,
    pub hedge_requests_up_to: Option<IgnoredAny>,
    pub object_cache_control: Option<IgnoredAny>,
    pub object_metadata: Option<IgnoredAny>,
    pub list_blocks_concurrency: Option<IgnoredAny>,
}

impl GcsConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.bucket_name.trim().is_empty() {
            return Err(Error::invalid_config(
                format!("{SECTION}.gcs.bucket_name"),
                "must not be empty with backend gcs",
            ));
        }
        Ok(())
    }

    pub(super) fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "gcs",
            &[
                ("chunk_buffer_size", self.chunk_buffer_size.is_some()),
                ("hedge_requests_at", self.hedge_requests_at.is_some()),
                ("hedge_requests_up_to", self.hedge_requests_up_to.is_some()),
                ("object_cache_control", self.object_cache_control.is_some()),
                ("object_metadata", self.object_metadata.is_some()),
                (
                    "list_blocks_concurrency",
                    self.list_blocks_concurrency.is_some(),
                ),
            ],
        )
    }
}
