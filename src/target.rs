//! [`Target`]: which components one process runs (`target:` in tempo.yaml, `-target=`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The components a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Every component in one process (the default).
    #[default]
    All,
    /// OTLP receivers and routing to ingesters.
    Distributor,
    /// WAL, live traces, blocks.
    Ingester,
    /// Search and trace-by-ID over ingesters and blocks.
    Querier,
    /// Query planning and sharding.
    QueryFrontend,
    /// Merging blocks and retention.
    Compactor,
}

impl Target {
    /// Every target, as users write them.
    pub const NAMES: [&'static str; 6] = [
        "all",
        "distributor",
        "ingester",
        "querier",
        "query-frontend",
        "compactor",
    ];

    /// The name users write.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Distributor => "distributor",
            Target::Ingester => "ingester",
            Target::Querier => "querier",
            Target::QueryFrontend => "query-frontend",
            Target::Compactor => "compactor",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "all" => Ok(Target::All),
            "distributor" => Ok(Target::Distributor),
            "ingester" => Ok(Target::Ingester),
            "querier" => Ok(Target::Querier),
            "query-frontend" | "query_frontend" => Ok(Target::QueryFrontend),
            "compactor" => Ok(Target::Compactor),
            "scalable-single-binary"
            | "metrics-generator"
            | "backend-scheduler"
            | "backend-worker"
            | "live-store"
            | "block-builder" => Err(format!(
                "target {name:?} is a Tempo target that contrail does not have; use one of {}",
                Target::NAMES.join(", ")
            )),
            _ => Err(format!(
                "unknown target {name:?}; use one of {}",
                Target::NAMES.join(", ")
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
