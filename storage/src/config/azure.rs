//! `storage.trace.azure`: Azure Blob Storage.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ConfigWarning, SECTION, Secret, ignored};
use crate::error::{Error, Result};

/// Tempo's default `endpoint_suffix`.
pub(crate) const AZURE_DEFAULT_ENDPOINT_SUFFIX: &str = "blob.core.windows.net";

/// `storage.trace.azure`, with Tempo's key names.
///
/// Credentials: `storage_account_key`, else managed identity / workload identity (federated
/// token) as found in the environment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureConfig {
    /// Container name (required with backend azure).
    pub container_name: String,
    /// Key prefix inside the container.
    pub prefix: String,
    /// Storage account name (required with backend azure).
    pub storage_account_name: String,
    /// Shared key of the storage account.
    pub storage_account_key: Secret,
    /// `blob.core.windows.net` by default; `host:port` (Azurite) selects plain HTTP and
    /// path-style `http://host:port/<account>` URLs.
    pub endpoint_suffix: String,
    /// Use the VM / pod managed identity.
    pub use_managed_identity: bool,
    /// Use workload identity (`AZURE_FEDERATED_TOKEN_FILE`).
    pub use_federated_token: bool,
    /// Client ID of a user-assigned managed identity.
    pub user_assigned_id: String,

    // Tempo settings accepted and ignored, each reported as a warning.
    pub max_buffers: Option<IgnoredAny>,
    pub buffer_size: Option<IgnoredAny>,
    pub hedge_requests_at: Option<IgnoredAny>,
    pub hedge_requests_up_to: Option<IgnoredAny>,
    pub use_v2_sdk: Option<IgnoredAny>,
}

impl AzureConfig {
    pub(super) fn validate(&self) -> Result<()> {
        let key = |name: &str| format!("{SECTION}.azure.{name}");
        if self.container_name.trim().is_empty() {
            return Err(Error::invalid_config(
                key("container_name"),
                "must not be empty with backend azure",
            ));
        }
        if self.storage_account_name.trim().is_empty() {
            return Err(Error::invalid_config(
                key("storage_account_name"),
                "must not be empty with backend azure",
            ));
        }
        if self.storage_account_key.is_empty()
            && !self.use_managed_identity
            && !self.use_federated_token
        {
            return Err(Error::invalid_config(
                key("storage_account_key"),
                "set it, or use_managed_identity, or use_federated_token",
            ));
        }
        Ok(())
    }

    /// The blob service URL, or `None` for the default public cloud endpoint.
    pub fn endpoint_url(&self) -> Option<String> {
        let suffix = self.endpoint_suffix.trim().trim_end_matches('/');
        if suffix.is_empty() || suffix == AZURE_DEFAULT_ENDPOINT_SUFFIX {
            return None;
        }
        if suffix.starts_with("http://") || suffix.starts_with("https://") {
            return Some(format!("{suffix}/{}", self.storage_account_name));
        }
        if suffix.contains(':') {
            // An emulator such as Azurite: `host:port`, account in the path.
            return Some(format!("http://{suffix}/{}", self.storage_account_name));
        }
        Some(format!("https://{}.{suffix}", self.storage_account_name))
    }

    pub(super) fn warnings(&self) -> Vec<ConfigWarning> {
        ignored(
            "azure",
            &[
                ("max_buffers", self.max_buffers.is_some()),
                ("buffer_size", self.buffer_size.is_some()),
                ("hedge_requests_at", self.hedge_requests_at.is_some()),
                ("hedge_requests_up_to", self.hedge_requests_up_to.is_some()),
                ("use_v2_sdk", self.use_v2_sdk.is_some()),
            ],
        )
    }
}
