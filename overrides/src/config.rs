//! `overrides`: [`OverridesConfig`], in Tempo's nested form or its legacy flat form.

use std::path::PathBuf;
use std::time::Duration;

use contrail_proto::ConfigWarning;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};
use crate::legacy;
use crate::limits::Limits;

/// YAML path of this section.
pub const SECTION: &str = "overrides";

/// The `overrides` section.
#[derive(Debug, Clone, PartialEq)]
pub struct OverridesConfig {
    /// `defaults`: the limits of every tenant not named in the per-tenant file.
    pub defaults: Limits,
    /// `per_tenant_override_config`: YAML file with `overrides: { <tenant>: <limits> }`,
    /// reloaded every `per_tenant_override_period`.
    pub per_tenant_override_config: Option<PathBuf>,
    /// `per_tenant_override_period`: how often the per-tenant file is read again.
    pub per_tenant_override_period: Duration,
    /// `user_configurable_overrides` (Tempo's API-managed overrides): accepted, ignored.
    pub user_configurable_overrides: Option<Value>,
    /// Warnings found while reading the legacy form (ignored `metrics_generator_*` keys).
    legacy_warnings: Vec<ConfigWarning>,
}

impl Default for OverridesConfig {
    fn default() -> Self {
        OverridesConfig {
            defaults: Limits::default(),
            per_tenant_override_config: None,
            per_tenant_override_period: Duration::from_secs(10),
            user_configurable_overrides: None,
            legacy_warnings: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for OverridesConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        OverridesConfig::from_value(raw).map_err(|error| D::Error::custom(error.to_string()))
    }
}

impl OverridesConfig {
    /// Parses the section from a YAML value (`null` = all defaults).
    pub fn from_value(raw: Value) -> Result<Self> {
        let mut config = OverridesConfig::default();
        let mut mapping = match raw {
            Value::Null => return Ok(config),
            Value::Mapping(mapping) => mapping,
            _ => return Err(Error::invalid(SECTION, "expected a mapping")),
        };
        if let Some(value) = mapping.remove("per_tenant_override_config") {
            config.per_tenant_override_config = parse_at::<Option<PathBuf>>(
                value,
                &format!("{SECTION}.per_tenant_override_config"),
            )?
            .filter(|path| !path.as_os_str().is_empty());
        }
        if let Some(value) = mapping.remove("per_tenant_override_period") {
            let key = format!("{SECTION}.per_tenant_override_period");
            let period: HumanDuration = parse_at(value, &key)?;
            config.per_tenant_override_period = period.0;
        }
        config.user_configurable_overrides = mapping.remove("user_configurable_overrides");
        let defaults_opt = mapping.remove("defaults");
        let legacy_keys: Vec<String> = mapping
            .keys()
            .filter_map(Value::as_str)
            .filter(|key| legacy::is_legacy_key(key))
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = mapping
            .keys()
            .find(|key| !key.as_str().is_some_and(legacy::is_legacy_key))
        {
            let name = unknown.as_str().unwrap_or("?");
            return Err(Error::invalid(
                format!("{SECTION}.{name}"),
                "unknown field, expected one of `defaults`, `per_tenant_override_config`, `per_tenant_override_period`, `user_configurable_overrides` or a legacy flat key",
            ));
        }
        if defaults_opt.is_some() && !legacy_keys.is_empty() {
            return Err(Error::invalid(
                format!("{SECTION}.{}", legacy_keys[0]),
                "legacy flat overrides cannot be mixed with `defaults`; move it under `defaults`",
            ));
        }
        if legacy_keys.is_empty() {
            config.defaults = match defaults_opt {
                Some(value) => parse_limits(value, &format!("{SECTION}.defaults"))?,
                None => Limits::default(),
            };
        } else {
            let converted = legacy::to_nested(mapping, SECTION)?;
            config.defaults = parse_legacy_limits(converted.nested, SECTION)?;
            config.legacy_warnings = converted
                .metrics_generator_keys
                .iter()
                .map(|key| ConfigWarning::tempo_key_ignored(format!("{SECTION}.{key}")))
                .collect();
        }
        Ok(config)
    }

    /// Checks values; returns a warning for every Tempo key that Contrail does not enforce.
    pub fn validate(&self) -> Result<Vec<ConfigWarning>> {
        if self.per_tenant_override_config.is_some() && self.per_tenant_override_period.is_zero() {
            return Err(Error::invalid(
                format!("{SECTION}.per_tenant_override_period"),
                "must be greater than 0 when per_tenant_override_config is set",
            ));
        }
        let mut warnings = self.legacy_warnings.clone();
        if self.legacy_warnings.is_empty() {
            warnings.extend(self.defaults.warnings(&format!("{SECTION}.defaults")));
        } else {
            warnings.extend(
                self.defaults
                    .warnings(SECTION)
                    .into_iter()
                    .filter(|warning| warning.key != format!("{SECTION}.metrics_generator")),
            );
        }
        if self.user_configurable_overrides.is_some() {
            warnings.push(ConfigWarning::tempo_key_ignored(format!(
                "{SECTION}.user_configurable_overrides"
            )));
        }
        Ok(warnings)
    }
}

/// A duration as Tempo writes it (`10s`, `1m30s`).
#[derive(Deserialize)]
#[serde(transparent)]
struct HumanDuration(#[serde(with = "humantime_serde")] Duration);

fn parse_at<T: for<'de> Deserialize<'de>>(value: Value, key: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|error| Error::from_path_error(key, error))
}

/// Parses nested limits found at `prefix`.
pub(crate) fn parse_limits(value: Value, prefix: &str) -> Result<Limits> {
    parse_at(value, prefix)
}

/// Parses limits rewritten from the legacy form at `prefix`, naming the legacy key on error.
pub(crate) fn parse_legacy_limits(nested: Value, prefix: &str) -> Result<Limits> {
    serde_path_to_error::deserialize(nested).map_err(|error| {
        let nested_path = error.path().to_string();
        match legacy::legacy_key_for(&nested_path) {
            Some(legacy_key) => Error::invalid(
                format!("{prefix}.{legacy_key}"),
                error.into_inner().to_string(),
            ),
            None => Error::from_path_error(prefix, error),
        }
    })
}

/// Deep-merges `overlay` onto `base`: mappings merge key by key, anything else replaces.
pub(crate) fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base_mapping), Value::Mapping(overlay_mapping)) => {
            for (key, value) in overlay_mapping {
                match base_mapping.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base_mapping.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Whether a tenant's mapping is in the legacy flat form.
pub(crate) fn is_legacy_mapping(mapping: &Mapping) -> bool {
    mapping
        .keys()
        .filter_map(Value::as_str)
        .any(legacy::is_only_legacy_key)
}
