//! The per-tenant overrides file (`per_tenant_override_config`):
//! `overrides: { <tenant>: <limits> }`, each tenant in the nested or the legacy form, merged
//! key by key onto the defaults. The tenant `*` applies to every tenant not listed.

use std::collections::HashMap;
use std::sync::Arc;

use contrail_proto::{ConfigWarning, TenantId};
use serde_yaml::{Mapping, Value};

use crate::config::{is_legacy_mapping, merge, parse_legacy_limits, parse_limits};
use crate::error::{Error, Result};
use crate::legacy;
use crate::limits::Limits;

/// The tenant whose limits apply to every tenant the file does not name.
const WILDCARD_TENANT: &str = "*";

/// The limits of the tenants named in the per-tenant file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantLimits {
    by_tenant: HashMap<TenantId, Arc<Limits>>,
    wildcard: Option<Arc<Limits>>,
}

impl TenantLimits {
    /// The limits the file gives `tenant`, if it names it (or has a `*` entry).
    pub fn get(&self, tenant: &TenantId) -> Option<&Arc<Limits>> {
        self.by_tenant.get(tenant).or(self.wildcard.as_ref())
    }

    /// How many tenants the file names (the wildcard included).
    pub fn len(&self) -> usize {
        self.by_tenant.len() + usize::from(self.wildcard.is_some())
    }

    /// Whether the file names no tenant.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses the file's text; `file_name` names it in errors and warnings.
    pub fn parse(
        text: &str,
        defaults: &Limits,
        file_name: &str,
    ) -> Result<(TenantLimits, Vec<ConfigWarning>)> {
        let document: Value = serde_yaml::from_str(text)
            .map_err(|error| Error::invalid(file_name, error.to_string()))?;
        let mut root = match document {
            Value::Null => Mapping::new(),
            Value::Mapping(root) => root,
            _ => {
                return Err(Error::invalid(
                    file_name,
                    "expected a mapping with `overrides`",
                ));
            }
        };
        let tenants = match root.remove("overrides") {
            None | Some(Value::Null) => Mapping::new(),
            Some(Value::Mapping(tenants)) => tenants,
            Some(_) => {
                return Err(Error::invalid(
                    format!("{file_name}: overrides"),
                    "expected a mapping of tenant IDs to limits",
                ));
            }
        };
        if let Some(other) = root.keys().next() {
            return Err(Error::invalid(
                format!("{file_name}: {}", other.as_str().unwrap_or("?")),
                "unknown field, expected `overrides`",
            ));
        }
        let defaults_value = serde_yaml::to_value(defaults).map_err(|error| {
            Error::invalid(file_name, format!("cannot merge defaults: {error}"))
        })?;
        let mut parsed = TenantLimits::default();
        let mut warnings = Vec::new();
        for (tenant_key, tenant_value) in tenants {
            let tenant_name = tenant_key
                .as_str()
                .ok_or_else(|| Error::invalid(file_name, "tenant IDs must be strings"))?
                .to_owned();
            let prefix = format!("{file_name}: overrides.{tenant_name}");
            let (limits, tenant_warnings) = tenant_limits(&defaults_value, tenant_value, &prefix)?;
            // Only what the tenant's entry adds: the defaults' own warnings were given once.
            let inherited = defaults.warnings(&prefix);
            warnings.extend(
                tenant_warnings
                    .into_iter()
                    .filter(|warning| !inherited.contains(warning)),
            );
            if tenant_name == WILDCARD_TENANT {
                parsed.wildcard = Some(Arc::new(limits));
            } else {
                let tenant = TenantId::new(tenant_name)
                    .map_err(|error| Error::invalid(&prefix, error.to_string()))?;
                parsed.by_tenant.insert(tenant, Arc::new(limits));
            }
        }
        Ok((parsed, warnings))
    }
}

fn tenant_limits(
    defaults_value: &Value,
    tenant_value: Value,
    prefix: &str,
) -> Result<(Limits, Vec<ConfigWarning>)> {
    let overlay = match tenant_value {
        Value::Null => Mapping::new(),
        Value::Mapping(overlay) => overlay,
        _ => return Err(Error::invalid(prefix, "expected a mapping of limits")),
    };
    let mut merged = defaults_value.clone();
    if is_legacy_mapping(&overlay) {
        let converted = legacy::to_nested(overlay, prefix)?;
        merge(&mut merged, converted.nested);
        let limits = parse_legacy_limits(merged, prefix)?;
        let mut warnings: Vec<ConfigWarning> = converted
            .metrics_generator_keys
            .iter()
            .map(|key| ConfigWarning::tempo_key_ignored(format!("{prefix}.{key}")))
            .collect();
        warnings.extend(
            limits
                .warnings(prefix)
                .into_iter()
                .filter(|warning| warning.key != format!("{prefix}.metrics_generator")),
        );
        Ok((limits, warnings))
    } else {
        merge(&mut merged, Value::Mapping(overlay));
        let limits = parse_limits(merged, prefix)?;
        let warnings = limits.warnings(prefix);
        Ok((limits, warnings))
    }
}
