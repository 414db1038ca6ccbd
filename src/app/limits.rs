//! The per-tenant overrides as each component reads them: one [`Overrides`] (Tempo's
//! `overrides:` section and its per-tenant file) adapted to the ingester's, querier's and
//! compactor's limit traits.

use std::sync::Arc;
use std::time::Duration;

use contrail_overrides::Overrides;
use contrail_proto::TenantId;

/// The overrides, shared by every adapter.
#[derive(Debug, Clone)]
pub(super) struct TenantOverrides(pub Arc<Overrides>);

impl contrail_ingester::TenantLimits for TenantOverrides {
    fn max_live_traces(&self, tenant: &TenantId) -> usize {
        let limits = self.0.limits_for(tenant);
        match limits.ingestion.max_traces_per_user {
            0 => usize::MAX,
            limit => usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }

    fn max_bytes_per_trace(&self, tenant: &TenantId) -> usize {
        let limits = self.0.limits_for(tenant);
        match limits.global.max_bytes_per_trace.as_u64() {
            0 => usize::MAX,
            limit => usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }
}

impl contrail_querier::trace_by_id::TenantLimits for TenantOverrides {
    fn max_bytes_per_trace(&self, tenant: &TenantId) -> u64 {
        self.0
            .limits_for(tenant)
            .global
            .max_bytes_per_trace
            .as_u64()
    }
}

fn non_zero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

impl contrail_compactor::CompactionOverrides for TenantOverrides {
    fn block_retention(&self, tenant: &TenantId) -> Option<Duration> {
        non_zero(self.0.limits_for(tenant).compaction.block_retention)
    }

    fn compaction_window(&self, tenant: &TenantId) -> Option<Duration> {
        non_zero(self.0.limits_for(tenant).compaction.compaction_window)
    }

    fn compaction_disabled(&self, tenant: &TenantId) -> bool {
        self.0.limits_for(tenant).compaction.compaction_disabled
    }
}
