//! [`Clock`]: the time seam. Everything that decides by wall-clock time (block cut-over, trace
//! idle periods, retention, blocklist polling) reads it through a `Clock`, so tests can move time
//! by hand ([`ManualClock`]) instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, as nanoseconds since the Unix epoch.
    fn now_unix_nanos(&self) -> u64;

    /// Now, as a `SystemTime`.
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.now_unix_nanos())
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The real clock behind an `Arc`, as components take it.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests). Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    unix_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `unix_nanos`.
    pub fn new(unix_nanos: u64) -> Self {
        ManualClock {
            unix_nanos: Arc::new(AtomicU64::new(unix_nanos)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.unix_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Sets the clock to `unix_nanos`.
    pub fn set(&self, unix_nanos: u64) {
        self.unix_nanos.store(unix_nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> u64 {
        self.unix_nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::new(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now_unix_nanos(), 1_000);
        clock.advance(Duration::from_nanos(500));
        assert_eq!(shared.now_unix_nanos(), 1_500);
        shared.set(7);
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_nanos(7));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix_nanos() > 1_577_836_800_000_000_000);
    }
}
