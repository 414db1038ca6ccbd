//! [`RingConfig`]: where the ingesters are and how many replicas each trace gets.

use std::time::Duration;

use contrail_proto::ConfigWarning;
use serde::Deserialize;

use crate::discovery::MemberAddress;
use crate::error::{Error, Result};

/// Where this section sits under its owner (`distributor.ring`).
pub const SECTION_SUFFIX: &str = "ring";

/// Ingester membership and replication.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// `addresses`: ingesters as `host:port` (static), `dns+host:port` (every A/AAAA record of
    /// `host`, e.g. a Kubernetes headless Service) or `dnssrv+_grpc._tcp.host` (every SRV
    /// record: stable pod names as member IDs). Empty in single-binary mode.
    pub addresses: Vec<String>,
    /// `replication_factor`: replicas per trace (3 in a distributed deployment); a push
    /// succeeds on `replication_factor / 2 + 1` of them.
    pub replication_factor: usize,
    /// `refresh_interval`: how often DNS names are resolved again.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// `health_check_interval`: how often each member's `grpc.health.v1` status is checked.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// `health_check_timeout`: a member that does not answer within this is unhealthy.
    #[serde(with = "humantime_serde")]
    pub health_check_timeout: Duration,
    /// `remote_timeout`: deadline of one push to one ingester.
    #[serde(with = "humantime_serde")]
    pub remote_timeout: Duration,

    // Tempo's (dskit's) ring keys, accepted with a warning: membership comes from `addresses`.
    pub kvstore: Option<serde_yaml::Value>,
    pub heartbeat_period: Option<serde_yaml::Value>,
    pub heartbeat_timeout: Option<serde_yaml::Value>,
    pub instance_id: Option<serde_yaml::Value>,
    pub instance_interface_names: Option<serde_yaml::Value>,
    pub instance_addr: Option<serde_yaml::Value>,
    pub instance_port: Option<serde_yaml::Value>,
    pub instance_availability_zone: Option<serde_yaml::Value>,
    pub instance_enable_ipv6: Option<serde_yaml::Value>,
    pub zone_awareness_enabled: Option<serde_yaml::Value>,
    pub excluded_zones: Option<serde_yaml::Value>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            addresses: Vec::new(),
            replication_factor: 1,
            refresh_interval: Duration::from_secs(10),
            health_check_interval: Duration::from_secs(2),
            health_check_timeout: Duration::from_secs(1),
            remote_timeout: Duration::from_secs(5),
            kvstore: None,
            heartbeat_period: None,
            heartbeat_timeout: None,
            instance_id: None,
            instance_interface_names: None,
            instance_addr: None,
            instance_port: None,
            instance_availability_zone: None,
            instance_enable_ipv6: None,
            zone_awareness_enabled: None,
            excluded_zones: None,
        }
    }
}

impl RingConfig {
    /// Checks values; `prefix` is the section's full path (`distributor.ring`).
    pub fn validate(&self, prefix: &str) -> Result<Vec<ConfigWarning>> {
        let invalid = |key: &str, message: &str| Error::InvalidConfig {
            key: format!("{prefix}.{key}"),
            message: message.to_owned(),
        };
        if self.replication_factor == 0 {
            return Err(invalid("replication_factor", "must be at least 1"));
        }
        for (name, value) in [
            ("refresh_interval", self.refresh_interval),
            ("health_check_interval", self.health_check_interval),
            ("health_check_timeout", self.health_check_timeout),
            ("remote_timeout", self.remote_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(name, "must be greater than 0"));
            }
        }
        for (index, address) in self.addresses.iter().enumerate() {
            MemberAddress::parse(address).map_err(|message| Error::InvalidConfig {
                key: format!("{prefix}.addresses[{index}]"),
                message,
            })?;
        }
        let mut warnings: Vec<ConfigWarning> = [
            ("kvstore", self.kvstore.is_some()),
            ("heartbeat_period", self.heartbeat_period.is_some()),
            ("heartbeat_timeout", self.heartbeat_timeout.is_some()),
            ("instance_id", self.instance_id.is_some()),
            ("instance_interface_names", self.instance_interface_names.is_some()),
            ("instance_addr", self.instance_addr.is_some()),
            ("instance_port", self.instance_port.is_some()),
            ("instance_availability_zone", self.instance_availability_zone.is_some()),
            ("instance_enable_ipv6", self.instance_enable_ipv6.is_some()),
            ("zone_awareness_enabled", self.zone_awareness_enabled.is_some()),
            ("excluded_zones", self.excluded_zones.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| {
            ConfigWarning::new(
                format!("{prefix}.{key}"),
                "tempo ring setting ignored: contrail finds members from `addresses` (static or DNS) and their grpc health",
            )
        })
        .collect();
        if !self.addresses.is_empty() && self.replication_factor.is_multiple_of(2) {
            warnings.push(ConfigWarning::new(
                format!("{prefix}.replication_factor"),
                "an even replication factor tolerates no more failures than the odd one below it",
            ));
        }
        Ok(warnings)
    }

    /// The write quorum: `replication_factor / 2 + 1`.
    pub fn quorum(&self) -> usize {
        self.replication_factor / 2 + 1
    }
}
