//! The bounded CPU pool that decoding and evaluation run on ([`CpuRunner`]), and
//! [`run_cpu`], which runs one closure there and hands back its value.
//!
//! The bottom of the crate's module graph: it imports nothing from the crate, so fetch
//! sources, the search and metrics drivers and the tag matcher can all use it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// A CPU pool failed to run a job (shut down, or the job panicked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cpu pool could not run the job: {message}")]
pub struct CpuRunError {
    pub message: String,
}

/// The bounded pool evaluation runs on; storage, the ingester and the querier plug in theirs.
#[async_trait]
pub trait CpuRunner: Send + Sync {
    /// Runs `job` to completion on the pool.
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), CpuRunError>;
}

/// Runs jobs on the calling thread: for tests, tools and benchmarks that are not on an async
/// runtime's worker threads.
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineRunner;

#[async_trait]
impl CpuRunner for InlineRunner {
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), CpuRunError> {
        job();
        Ok(())
    }
}

/// Runs `work` on `runner` and returns its result.
pub async fn run_cpu<T: Send + 'static>(
    runner: &dyn CpuRunner,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CpuRunError> {
    let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
    let writer = slot.clone();
    runner
        .run(Box::new(move || {
            let value = work();
            if let Ok(mut guard) = writer.lock() {
                *guard = Some(value);
            }
        }))
        .await?;
    let value = slot.lock().ok().and_then(|mut guard| guard.take());
    value.ok_or_else(|| CpuRunError {
        message: "cpu job finished without a result".to_owned(),
    })
}
