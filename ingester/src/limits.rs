//! [`TenantLimits`]: the per-tenant limits the ingester enforces on a push. The binary adapts
//! Tempo's `overrides` (defaults plus the per-tenant runtime file) to this trait; tests and
//! simple set-ups use [`StaticLimits`].

use std::fmt;

use contrail_proto::TenantId;

/// Per-tenant limits, read on every push (implementations must be cheap and lock-light).
/// `0` means unlimited, as in Tempo's overrides.
pub trait TenantLimits: Send + Sync + fmt::Debug + 'static {
    /// Tempo's `max_traces_per_user`: live traces one ingester holds for the tenant. A segment
    /// of a new trace past it is refused with `PushErrorReason::MaxLiveTraces`.
    fn max_live_traces(&self, tenant: &TenantId) -> usize;

    /// Tempo's `max_bytes_per_trace`: bytes one trace may hold in this ingester (live plus head
    /// block). A segment that would pass it is refused with `PushErrorReason::TraceTooLarge`.
    fn max_bytes_per_trace(&self, tenant: &TenantId) -> usize;
}

/// The same limits for every tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaticLimits {
    /// See [`TenantLimits::max_live_traces`] (0 = unlimited).
    pub max_live_traces: usize,
    /// See [`TenantLimits::max_bytes_per_trace`] (0 = unlimited).
    pub max_bytes_per_trace: usize,
}

impl TenantLimits for StaticLimits {
    fn max_live_traces(&self, _tenant: &TenantId) -> usize {
        self.max_live_traces
    }

    fn max_bytes_per_trace(&self, _tenant: &TenantId) -> usize {
        self.max_bytes_per_trace
    }
}
