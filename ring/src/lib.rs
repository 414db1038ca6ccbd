//! Ring: discovers the live ingesters (a static list or Kubernetes DNS, SRV or A records,
//! re-resolved at an interval), checks their health over `grpc.health.v1`, and places each
//! (tenant, trace ID) on a replica set of RF healthy members by rendezvous hashing, so a
//! membership change moves only the traces of the member that came or went.
//!
//! The distributor reads members through [`MemberSource`] (the single binary and tests use
//! [`StaticMembers`]; distributed mode [`DiscoveredMembers`]); the compactor reuses
//! [`Discovery`]. No gossip: Kubernetes is the membership system.
//! May depend on `proto` only; never on `storage`, `traceql` or a service crate.

mod config;
mod discovered;
mod discovery;
mod error;
mod health;
mod members;
mod metrics;
mod placement;

pub use config::{RingConfig, SECTION_SUFFIX};
pub use discovered::{DiscoveredMembers, DiscoveredMembersArgs};
pub use discovery::{Discovery, MemberAddress};
pub use error::{Error, Result};
pub use health::{INGESTER_HEALTH_SERVICE, check_health, health_service};
pub use members::{Member, MemberSource, StaticMembers};
pub use metrics::RingMetrics;
pub use placement::{Ring, RingSnapshot, placement_key};
