//! [`CpuPool`]: CPU-heavy work (WAL record compression, trace decoding) runs on the blocking
//! pool, at most one task per core at a time, never on the async runtime.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// A bounded gate in front of `spawn_blocking`.
#[derive(Debug, Clone)]
pub(crate) struct CpuPool {
    permits: Arc<Semaphore>,
}

impl CpuPool {
    /// A pool running at most `threads` tasks at once.
    pub(crate) fn new(threads: usize) -> Self {
        CpuPool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// One task per available core.
    pub(crate) fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |cores| cores.get()))
    }

    /// Runs `work` on the blocking pool once a slot is free.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Task {
                message: "cpu pool closed".to_owned(),
            })?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|error| Error::Task {
            message: error.to_string(),
        })
    }
}
