//! A token bucket shared by all streams: at most `spans_per_second` on average, with a burst of
//! about a tenth of a second (and at least one batch).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    spans_per_second: f64,
    burst: Duration,
    /// The earliest time the next request may start (the bucket's virtual clock).
    next_start: Mutex<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(spans_per_second: f64) -> Self {
        Self {
            spans_per_second,
            burst: Duration::from_millis(100),
            next_start: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `spans` more spans may be sent.
    pub(crate) async fn acquire(&self, spans: usize) {
        let cost = Duration::from_secs_f64(spans as f64 / self.spans_per_second);
        let start_at = {
            let mut next_start = self
                .next_start
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let now = Instant::now();
            // unused capacity is kept for at most one burst
            let earliest = now.checked_sub(self.burst).unwrap_or(now);
            let start_at = (*next_start).max(earliest);
            *next_start = start_at + cost;
            start_at
        };
        tokio::time::sleep_until(start_at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_the_average_rate() {
        let limiter = RateLimiter::new(5_000.0);
        let started = Instant::now();
        for _ in 0..20 {
            limiter.acquire(100).await;
        }
        // 2,000 spans at 5,000/s: the last request may start after 0.38 s (minus the burst)
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(370), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(1_500), "{elapsed:?}");
    }
}
