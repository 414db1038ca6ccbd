//! Tempo's legacy flat overrides (`ingestion_rate_limit_bytes: 15000000` directly under
//! `overrides` or under a tenant), rewritten into the nested form before parsing.

use serde_yaml::{Mapping, Value};

/// Legacy key → nested path (`section.key`), for every legacy key Contrail maps.
const LEGACY_TO_NESTED: [(&str, &str); 21] = [
    ("ingestion_rate_strategy", "ingestion.rate_strategy"),
    ("ingestion_rate_limit_bytes", "ingestion.rate_limit_bytes"),
    ("ingestion_burst_size_bytes", "ingestion.burst_size_bytes"),
    ("ingestion_tenant_shard_size", "ingestion.tenant_shard_size"),
    (
        "ingestion_max_attribute_bytes",
        "ingestion.max_attribute_bytes",
    ),
    ("ingestion_artificial_delay", "ingestion.artificial_delay"),
    (
        "ingestion_retry_info_enabled",
        "ingestion.retry_info_enabled",
    ),
    ("max_traces_per_user", "ingestion.max_traces_per_user"),
    (
        "max_global_traces_per_user",
        "ingestion.max_global_traces_per_user",
    ),
    ("forwarders", "forwarders"),
    ("block_retention", "compaction.block_retention"),
    ("compaction_disabled", "compaction.compaction_disabled"),
    ("compaction_window", "compaction.compaction_window"),
    (
        "max_bytes_per_tag_values_query",
        "read.max_bytes_per_tag_values_query",
    ),
    (
        "max_blocks_per_tag_values_query",
        "read.max_blocks_per_tag_values_query",
    ),
    ("max_search_duration", "read.max_search_duration"),
    ("max_metrics_duration", "read.max_metrics_duration"),
    ("unsafe_query_hints", "read.unsafe_query_hints"),
    ("max_bytes_per_trace", "global.max_bytes_per_trace"),
    ("cost_attribution", "cost_attribution"),
    (
        "parquet_dedicated_columns",
        "storage.parquet_dedicated_columns",
    ),
];

/// Every legacy `metrics_generator_*` key goes to the (ignored) `metrics_generator` section.
const METRICS_GENERATOR_PREFIX: &str = "metrics_generator_";

/// Whether `key` is a legacy flat key.
pub(crate) fn is_legacy_key(key: &str) -> bool {
    key.starts_with(METRICS_GENERATOR_PREFIX)
        || LEGACY_TO_NESTED.iter().any(|(legacy, _)| *legacy == key)
}

/// Whether `key` can only be a legacy key (`forwarders` and `cost_attribution` have the same
/// name in both forms).
pub(crate) fn is_only_legacy_key(key: &str) -> bool {
    is_legacy_key(key) && !matches!(key, "forwarders" | "cost_attribution")
}

/// The legacy key a nested path came from (to name it in an error), if any.
pub(crate) fn legacy_key_for(nested_path: &str) -> Option<&'static str> {
    LEGACY_TO_NESTED
        .iter()
        .find(|(_, nested)| *nested == nested_path)
        .map(|(legacy, _)| *legacy)
}

/// A legacy mapping rewritten in the nested form, and the legacy `metrics_generator_*` keys
/// (ignored by Contrail; the caller names them in warnings).
pub(crate) struct Converted {
    pub(crate) nested: Value,
    pub(crate) metrics_generator_keys: Vec<String>,
}

/// Rewrites a legacy flat mapping. `key_path` names the mapping in errors. Fails on a key that
/// is neither legacy nor known.
pub(crate) fn to_nested(flat: Mapping, key_path: &str) -> Result<Converted, crate::Error> {
    let mut nested = Mapping::new();
    let mut metrics_generator_keys = Vec::new();
    for (key, value) in flat {
        let Some(name) = key.as_str() else {
            return Err(crate::Error::invalid(key_path, "keys must be strings"));
        };
        if name.starts_with(METRICS_GENERATOR_PREFIX) {
            metrics_generator_keys.push(name.to_owned());
            continue;
        }
        let Some((_, path)) = LEGACY_TO_NESTED.iter().find(|(legacy, _)| *legacy == name) else {
            return Err(crate::Error::invalid(
                format!("{key_path}.{name}"),
                "unknown field in the legacy overrides form",
            ));
        };
        insert_path(&mut nested, path, value);
    }
    if !metrics_generator_keys.is_empty() {
        nested.insert(
            Value::from("metrics_generator"),
            Value::Mapping(Mapping::new()),
        );
    }
    Ok(Converted {
        nested: Value::Mapping(nested),
        metrics_generator_keys,
    })
}

fn insert_path(mapping: &mut Mapping, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            mapping.insert(Value::from(path), value);
        }
        Some((section, rest)) => {
            let entry = mapping
                .entry(Value::from(section))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if let Value::Mapping(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}
