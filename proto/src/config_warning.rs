//! [`ConfigWarning`]: a problem in `tempo.yaml` that does not stop start-up, shared by every
//! crate's `validate()` so the binary can print them all in one format.

use std::fmt;

/// A problem in the config that does not stop start-up: usually a Tempo key Contrail ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Full YAML path of the key, e.g. `storage.trace.s3.hedge_requests_at`.
    pub key: String,
    /// What happens to it, lowercase.
    pub message: String,
}

impl ConfigWarning {
    /// A warning with any message.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigWarning {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The warning for a Tempo key that Contrail accepts and ignores.
    pub fn tempo_key_ignored(key: impl Into<String>) -> Self {
        ConfigWarning::new(
            key,
            "tempo setting accepted but not implemented by contrail; ignored",
        )
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
