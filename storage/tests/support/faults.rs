//! The fault injector's plan and its deterministic, counter-based choice of requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which requests fail, and how. Fractions are of all requests, in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FaultPlan {
    /// Fraction answered `500 InternalError` (the request body is read, not applied).
    pub(crate) error_fraction: f64,
    /// Fraction held for `delay`, then answered 503 (never applied).
    pub(crate) delay_fraction: f64,
    /// How long a delayed request is held; make it longer than the client's request timeout.
    pub(crate) delay: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            error_fraction: 0.0,
            delay_fraction: 0.0,
            delay: Duration::from_secs(5),
        }
    }
}

impl FaultPlan {
    /// No faults: every request goes to the server.
    pub(crate) fn none() -> Self {
        FaultPlan::default()
    }
}

/// Faults injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultCounts {
    /// Requests answered 500.
    pub(crate) errors: u64,
    /// Requests held past the timeout.
    pub(crate) delays: u64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Forward,
    Fail,
    Delay(Duration),
}

/// Shared by all connections of one server.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    requests: AtomicU64,
    errors: AtomicU64,
    delays: AtomicU64,
}

/// Whether request `n` (0-based) is one of the `fraction` selected: the selected requests are
/// spread evenly, `floor((n + 1) * f) > floor(n * f)`.
fn selected(n: u64, fraction: f64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    ((n + 1) as f64 * fraction).floor() > (n as f64 * fraction).floor()
}

impl FaultState {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        FaultState {
            plan,
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            delays: AtomicU64::new(0),
        }
    }

    pub(crate) fn decide(&self) -> Decision {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if selected(n, self.plan.error_fraction) {
            self.errors.fetch_add(1, Ordering::SeqCst);
            return Decision::Fail;
        }
        // Offset so that delays do not fall on the same requests as errors.
        if selected(n + 3, self.plan.delay_fraction) {
            self.delays.fetch_add(1, Ordering::SeqCst);
            return Decision::Delay(self.plan.delay);
        }
        Decision::Forward
    }

    pub(crate) fn counts(&self) -> FaultCounts {
        FaultCounts {
            errors: self.errors.load(Ordering::SeqCst),
            delays: self.delays.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}
