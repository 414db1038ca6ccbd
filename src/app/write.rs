//! The write path of a target: the ingester (WAL, blocks to the object store) and the
//! distributor (OTLP in, pushes to the ingesters of the ring).

use std::sync::Arc;

use anyhow::{Context, bail};
use contrail_distributor::{Distributor, DistributorArgs};
use contrail_ingester::{Ingester, IngesterArgs};
use contrail_overrides::Overrides;
use contrail_proto::Clock;
use contrail_ring::{
    DiscoveredMembers, DiscoveredMembersArgs, Discovery, INGESTER_HEALTH_SERVICE, Member,
    MemberSource, Ring, RingMetrics, StaticMembers,
};
use object_store::ObjectStore;
use prometheus::Registry;

use crate::app::limits::TenantOverrides;
use crate::config::Config;

/// Builds the ingester (nothing is replayed until it runs).
pub(super) fn ingester(
    config: &Config,
    store: Arc<dyn ObjectStore>,
    overrides: &Arc<Overrides>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
) -> anyhow::Result<Ingester> {
    Ingester::new(IngesterArgs {
        config: config.components.ingester.clone(),
        wal: config.storage.trace.wal.clone(),
        block: config.storage.trace.block_settings(),
        store,
        limits: Arc::new(TenantOverrides(Arc::clone(overrides))),
        registry: registry.clone(),
        clock,
    })
    .context("cannot build the ingester")
}

/// The ingesters named by `distributor.ring.addresses` (DNS or static), health-checked.
pub(super) async fn discovered_ingesters(
    config: &Config,
    registry: &Registry,
    why: &str,
) -> anyhow::Result<Arc<DiscoveredMembers>> {
    let ring_config = &config.distributor.ring;
    if ring_config.addresses.is_empty() {
        bail!("distributor.ring.addresses: required with {why} (where the ingesters are)");
    }
    Ok(DiscoveredMembers::start(DiscoveredMembersArgs {
        discovery: Discovery::new(&ring_config.addresses)?,
        health_service: INGESTER_HEALTH_SERVICE.to_owned(),
        refresh_interval: ring_config.refresh_interval,
        health_check_interval: ring_config.health_check_interval,
        health_check_timeout: ring_config.health_check_timeout,
        remote_timeout: ring_config.remote_timeout,
        metrics: RingMetrics::new(registry, "ingester")?,
    })
    .await)
}

/// The ring of the single binary: its in-process ingester, replication factor 1.
pub(super) fn local_ring(ingester: &Ingester) -> Ring {
    let members: Arc<dyn MemberSource> = Arc::new(StaticMembers::new(vec![Member::new(
        "local",
        Arc::new(ingester.clone()),
    )]));
    Ring::new(members, 1)
}

/// Builds the distributor over `ring`.
pub(super) fn distributor(
    config: &Config,
    ring: Ring,
    overrides: Arc<Overrides>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
) -> anyhow::Result<Arc<Distributor>> {
    Ok(Distributor::new(DistributorArgs {
        config: config.distributor.clone(),
        multitenancy_enabled: config.multitenancy_enabled,
        overrides,
        ring,
        clock,
        registry,
    })?)
}
