//! The compactor of a target: compaction, retention and the tenant index over the object store.

use std::sync::Arc;

use anyhow::Context;
use contrail_compactor::{Compactor, CompactorArgs, StaticMembers};
use contrail_overrides::Overrides;
use contrail_proto::Clock;
use object_store::ObjectStore;
use prometheus::Registry;

use crate::app::limits::TenantOverrides;
use crate::config::Config;

/// Builds the compactor; its members are `compactor.sharding.members` (this one alone when
/// empty), so several compactors share the windows by rendezvous hashing.
pub(super) fn compactor(
    config: &Config,
    store: Arc<dyn ObjectStore>,
    overrides: &Arc<Overrides>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
) -> anyhow::Result<Compactor> {
    let section = &config.components.compactor;
    let instance_id = section.sharding.instance_id();
    let members = Arc::new(StaticMembers::new(
        &instance_id,
        section.sharding.members.clone(),
    ));
    Compactor::new(CompactorArgs {
        config: section.clone(),
        block: config.storage.trace.block_settings(),
        store,
        members,
        overrides: Arc::new(TenantOverrides(Arc::clone(overrides))),
        clock,
        registry,
    })
    .context("cannot build the compactor")
}
