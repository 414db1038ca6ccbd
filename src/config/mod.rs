//! `tempo.yaml`: [`Config`] composes every crate's section. A Tempo key Contrail accepts but
//! does not implement is a warning naming it; an unknown key or a bad value is an error naming
//! its full path (`distributor.receivers.otlp.protocols.grpc.endpoint`).

pub mod server;

use std::path::Path;

use anyhow::{Context, bail};
use contrail_compactor::CompactorConfig;
use contrail_distributor::DistributorConfig;
use contrail_ingester::IngesterConfig;
use contrail_overrides::OverridesConfig;
use contrail_proto::ConfigWarning;
use contrail_querier::{QuerierConfig, QueryFrontendConfig};
use contrail_storage::TraceStorageConfig;
use serde::Deserialize;
use serde_yaml::Value;

pub use server::ServerConfig;

use crate::target::Target;

/// The `storage` section (Tempo has only `storage.trace`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `storage.trace`.
    pub trace: TraceStorageConfig,
}

/// The whole `tempo.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `target`: which components run (`-target` overrides it).
    pub target: Target,
    /// `multitenancy_enabled`: tenants from `X-Scope-OrgID`; otherwise `single-tenant`.
    pub multitenancy_enabled: bool,
    /// `server`.
    pub server: ServerConfig,
    /// `distributor`.
    pub distributor: DistributorConfig,
    /// `overrides`.
    pub overrides: OverridesConfig,
    /// `storage`.
    pub storage: StorageConfig,
    /// `ingester`, `querier`, `query_frontend`, `compactor` as written: parsed into
    /// [`Config::components`] (Tempo's `ingester.lifecycler.ring.replication_factor` is read
    /// from the raw `ingester` section, which the typed one accepts and ignores).
    pub ingester: Option<Value>,
    pub querier: Option<Value>,
    pub query_frontend: Option<Value>,
    pub compactor: Option<Value>,
    /// The typed component sections (filled by [`Config::parse`]).
    #[serde(skip)]
    pub components: ComponentConfigs,

    // Tempo settings and sections Contrail accepts and ignores, each reported by `validate`.
    pub stream_over_http_enabled: Option<Value>,
    pub http_api_prefix: Option<Value>,
    pub use_otel_tracer: Option<Value>,
    pub autocomplete_filtering_enabled: Option<Value>,
    pub enable_go_runtime_metrics: Option<Value>,
    pub shutdown_delay: Option<Value>,
    pub metrics_generator: Option<Value>,
    pub metrics_generator_client: Option<Value>,
    pub ingester_client: Option<Value>,
    pub memberlist: Option<Value>,
    pub usage_report: Option<Value>,
    pub cache: Option<Value>,
    pub backend_scheduler: Option<Value>,
    pub backend_scheduler_client: Option<Value>,
    pub backend_worker: Option<Value>,
    pub block_builder: Option<Value>,
    pub live_store: Option<Value>,
    pub live_store_client: Option<Value>,
    pub ingest: Option<Value>,
    pub tracing: Option<Value>,
}

/// The sections of the ingester, querier, query-frontend and compactor, typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentConfigs {
    pub ingester: IngesterConfig,
    pub querier: QuerierConfig,
    pub query_frontend: QueryFrontendConfig,
    pub compactor: CompactorConfig,
}

/// Deserializes one section; errors name the full key path (`ingester.max_block_bytes`).
fn section<T: serde::de::DeserializeOwned + Default>(
    name: &str,
    value: Option<&Value>,
) -> anyhow::Result<T> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value.clone()).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        if path == "." {
            anyhow::anyhow!("{name}: {message}")
        } else {
            anyhow::anyhow!("{name}.{path}: {message}")
        }
    })
}

impl Config {
    /// Reads and parses `path`, expanding `${VAR}` and `${VAR:-default}` first when
    /// `expand_env` is set.
    pub fn load(path: &Path, expand_env: bool) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let text = if expand_env {
            expand_env_vars(&text)
        } else {
            text
        };
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses YAML text; errors name the full key path.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let mut config: Config =
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                let path = error.path().to_string();
                let message = error.inner().to_string();
                if path == "." || message.starts_with(&format!("invalid config {path}")) {
                    anyhow::anyhow!("{message}")
                } else {
                    anyhow::anyhow!("{path}: {message}")
                }
            })?;
        config.components = ComponentConfigs {
            ingester: section("ingester", config.ingester.as_ref())?,
            querier: section("querier", config.querier.as_ref())?,
            query_frontend: section("query_frontend", config.query_frontend.as_ref())?,
            compactor: section("compactor", config.compactor.as_ref())?,
        };
        Ok(config)
    }

    /// Checks every section; returns the warnings, or the first invalid value.
    pub fn validate(&self) -> anyhow::Result<Vec<ConfigWarning>> {
        let mut warnings = self.server.warnings();
        warnings.extend(self.distributor.validate()?);
        warnings.extend(self.overrides.validate()?);
        warnings.extend(self.storage.trace.validate()?);
        let replication_factor = self.replication_factor()?;
        if replication_factor > 1 && self.distributor.ring.addresses.is_empty() {
            warnings.push(ConfigWarning::new(
                "distributor.ring.addresses",
                "empty: the single binary has one in-process ingester, so the replication factor is 1",
            ));
        }
        warnings.extend(self.components.ingester.validate()?);
        warnings.extend(self.components.querier.validate()?);
        warnings.extend(self.components.query_frontend.validate()?);
        warnings.extend(self.components.compactor.validate()?);
        let ignored = [
            (
                "stream_over_http_enabled",
                self.stream_over_http_enabled.is_some(),
            ),
            ("http_api_prefix", self.http_api_prefix.is_some()),
            ("use_otel_tracer", self.use_otel_tracer.is_some()),
            (
                "autocomplete_filtering_enabled",
                self.autocomplete_filtering_enabled.is_some(),
            ),
            (
                "enable_go_runtime_metrics",
                self.enable_go_runtime_metrics.is_some(),
            ),
            ("shutdown_delay", self.shutdown_delay.is_some()),
            ("metrics_generator", self.metrics_generator.is_some()),
            (
                "metrics_generator_client",
                self.metrics_generator_client.is_some(),
            ),
            ("ingester_client", self.ingester_client.is_some()),
            ("memberlist", self.memberlist.is_some()),
            ("usage_report", self.usage_report.is_some()),
            ("cache", self.cache.is_some()),
            ("backend_scheduler", self.backend_scheduler.is_some()),
            (
                "backend_scheduler_client",
                self.backend_scheduler_client.is_some(),
            ),
            ("backend_worker", self.backend_worker.is_some()),
            ("block_builder", self.block_builder.is_some()),
            ("live_store", self.live_store.is_some()),
            ("live_store_client", self.live_store_client.is_some()),
            ("ingest", self.ingest.is_some()),
            ("tracing", self.tracing.is_some()),
        ];
        warnings.extend(
            ignored
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(key, _)| ConfigWarning::tempo_key_ignored(key)),
        );
        Ok(warnings)
    }

    /// The replication factor: `distributor.ring.replication_factor`, or Tempo's
    /// `ingester.lifecycler.ring.replication_factor` when only that one is set.
    pub fn replication_factor(&self) -> anyhow::Result<usize> {
        let own = self.distributor.ring.replication_factor;
        let tempo_opt = self
            .ingester
            .as_ref()
            .and_then(|ingester| ingester.get("lifecycler"))
            .and_then(|lifecycler| lifecycler.get("ring"))
            .and_then(|ring| ring.get("replication_factor"))
            .map(|value| {
                value.as_u64().and_then(|rf| usize::try_from(rf).ok()).filter(|rf| *rf > 0).ok_or_else(|| {
                    anyhow::anyhow!(
                        "ingester.lifecycler.ring.replication_factor: expected a positive integer, got {value:?}"
                    )
                })
            })
            .transpose()?;
        match tempo_opt {
            None => Ok(own),
            Some(tempo) if own == 1 || own == tempo => Ok(tempo),
            Some(tempo) => bail!(
                "distributor.ring.replication_factor ({own}) and ingester.lifecycler.ring.replication_factor ({tempo}) disagree"
            ),
        }
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` with the environment's values (unset: the default,
/// or empty), as Tempo's `-config.expand-env` does.
pub fn expand_env_vars(text: &str) -> String {
    let pattern = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
        .expect("the pattern is valid");
    pattern
        .replace_all(text, |captures: &regex::Captures<'_>| {
            let name = &captures[1];
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => value,
                _ => captures
                    .get(2)
                    .map_or(String::new(), |default| default.as_str().to_owned()),
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests;
