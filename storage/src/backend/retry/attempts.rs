//! Retry bookkeeping shared by the retry decorator's operations: settings, the attempt budget
//! of one operation, backoff, and the retry loop.

use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::StorageMetrics;
use crate::transient::{RequestTimeout, Transience, classify};

/// How `RetryStore` retries; built from `storage.trace.requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts per operation, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff cap of the first retry; doubles per retry.
    pub backoff_initial: Duration,
    /// Largest backoff cap.
    pub backoff_max: Duration,
    /// Deadline of one attempt.
    pub attempt_timeout: Duration,
    /// Deadline of the whole operation.
    pub total_timeout: Duration,
}

/// Which failures an operation may be replayed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// Any transient failure: replaying gives the same outcome.
    Idempotent,
    /// Only failures where the request certainly never reached the store.
    NotSentOnly,
}

/// Retry bookkeeping of one operation; owns what it needs so `'static` streams can carry it.
#[derive(Debug, Clone)]
pub(super) struct Attempts {
    pub(super) operation: &'static str,
    pub(super) settings: RetrySettings,
    pub(super) metrics: Option<StorageMetrics>,
    pub(super) started: Instant,
    pub(super) attempt: u32,
}

impl Attempts {
    pub(super) fn new(
        operation: &'static str,
        settings: RetrySettings,
        metrics: Option<StorageMetrics>,
    ) -> Self {
        Attempts {
            operation,
            settings,
            metrics,
            started: Instant::now(),
            attempt: 1,
        }
    }

    /// Starts a fresh budget (after progress in a long listing).
    pub(super) fn reset(&mut self) {
        self.started = Instant::now();
        self.attempt = 1;
    }

    pub(super) fn attempt_budget(&self) -> Duration {
        let remaining = self
            .settings
            .total_timeout
            .saturating_sub(self.started.elapsed());
        remaining.min(self.settings.attempt_timeout)
    }

    /// Runs one attempt under the attempt deadline.
    pub(super) async fn run_once<T>(
        &self,
        attempt: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let budget = self.attempt_budget();
        match tokio::time::timeout(budget, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RequestTimeout::into_store_error(budget)),
        }
    }

    /// Decides whether to retry after `error`, and sleeps the backoff if so.
    pub(super) async fn retry_after(
        &mut self,
        error: &object_store::Error,
        replay: Replay,
    ) -> Option<Transience> {
        let transience = classify(error)?;
        if replay == Replay::NotSentOnly && transience != Transience::NotSent {
            return None;
        }
        if self.attempt >= self.settings.max_attempts {
            return None;
        }
        let delay = full_jitter_backoff(&self.settings, self.attempt);
        if self.started.elapsed() + delay >= self.settings.total_timeout {
            return None;
        }
        tracing::warn!(
            operation = self.operation,
            attempt = self.attempt,
            delay_ms = delay.as_millis() as u64,
            error = %error,
            "object store request failed, retrying"
        );
        if let Some(metrics) = &self.metrics {
            metrics.inc_retry(self.operation);
        }
        tokio::time::sleep(delay).await;
        self.attempt += 1;
        Some(transience)
    }
}

/// A random delay in `[0, min(max, initial * 2^(attempt-1))]` ("full jitter").
pub(crate) fn full_jitter_backoff(settings: &RetrySettings, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let cap = settings
        .backoff_initial
        .saturating_mul(1u32 << exponent)
        .min(settings.backoff_max);
    let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if cap_nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::random_range(0..=cap_nanos))
}

/// Runs `attempt` until it succeeds, fails for good, or the budget is spent.
pub(super) async fn with_retries<T, F, Fut>(
    mut attempts: Attempts,
    replay: Replay,
    mut attempt: F,
) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    loop {
        match attempts.run_once(attempt()).await {
            Ok(value) => return Ok(value),
            Err(error) => {
                if attempts.retry_after(&error, replay).await.is_none() {
                    return Err(error);
                }
            }
        }
    }
}
