//! Key paths of the `storage.trace` section, shared by its subsections' validation.

use contrail_proto::ConfigWarning;

/// YAML path of this section, used to name keys in warnings and errors.
pub(crate) const SECTION: &str = "storage.trace";

/// `Some(..)` means the user wrote the key; used for Tempo keys that are accepted and ignored.
pub(crate) fn ignored(section: &str, keys: &[(&str, bool)]) -> Vec<ConfigWarning> {
    keys.iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| ConfigWarning::tempo_key_ignored(format!("{SECTION}.{section}.{key}")))
        .collect()
}
