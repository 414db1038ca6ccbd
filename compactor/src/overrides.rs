//! Per-tenant settings that override `compactor.compaction` (Tempo's
//! `overrides.*.compaction.*`): a small trait the binary adapts its overrides loader to.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use contrail_proto::TenantId;

/// Per-tenant compaction settings; `None` means "use the global value".
pub trait CompactionOverrides: Send + Sync + fmt::Debug + 'static {
    /// `overrides.<tenant>.compaction.block_retention`.
    fn block_retention(&self, tenant: &TenantId) -> Option<Duration>;

    /// `overrides.<tenant>.compaction.compaction_window`.
    fn compaction_window(&self, _tenant: &TenantId) -> Option<Duration> {
        None
    }

    /// `overrides.<tenant>.compaction.compaction_disabled`: no jobs for the tenant (retention
    /// and the tenant index still run).
    fn compaction_disabled(&self, _tenant: &TenantId) -> bool {
        false
    }
}

/// No overrides: every tenant uses the global settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOverrides;

impl CompactionOverrides for NoOverrides {
    fn block_retention(&self, _tenant: &TenantId) -> Option<Duration> {
        None
    }
}

/// Fixed per-tenant values (tests, and binaries without an overrides file).
#[derive(Debug, Clone, Default)]
pub struct StaticOverrides {
    /// Retention per tenant.
    pub block_retention: HashMap<TenantId, Duration>,
    /// Window per tenant.
    pub compaction_window: HashMap<TenantId, Duration>,
    /// Tenants whose compaction is off.
    pub compaction_disabled: Vec<TenantId>,
}

impl CompactionOverrides for StaticOverrides {
    fn block_retention(&self, tenant: &TenantId) -> Option<Duration> {
        self.block_retention.get(tenant).copied()
    }

    fn compaction_window(&self, tenant: &TenantId) -> Option<Duration> {
        self.compaction_window.get(tenant).copied()
    }

    fn compaction_disabled(&self, tenant: &TenantId) -> bool {
        self.compaction_disabled.contains(tenant)
    }
}
