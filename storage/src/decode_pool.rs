//! The bounded CPU pool for storage's decode work (Parquet pages → Arrow, condition evaluation
//! over decoded columns, rows → OTLP).
//!
//! IO never runs here: callers fetch the bytes asynchronously first and hand the pool only the
//! CPU part, so a slow object store cannot hold a CPU slot, and a CPU-heavy scan cannot hold a
//! runtime thread. Jobs wait for a slot on a fair (FIFO) semaphore, so under a fan-out of
//! hundreds of row-group jobs every job gets its turn in arrival order. The work itself runs on
//! tokio's blocking threads (at most `threads` at once from this pool). A panic inside a job
//! becomes a corrupt-block error naming the object: decoders must never take the process down
//! on bad data.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::error::{Error, Result, corrupt_object};

#[derive(Debug, Default)]
struct Counters {
    running: AtomicUsize,
    max_running: AtomicUsize,
    completed: AtomicU64,
}

/// A handle to a decode pool (cheap to clone; clones share the pool).
#[derive(Debug, Clone)]
pub struct DecodePool {
    permits: Arc<Semaphore>,
    threads: usize,
    counters: Arc<Counters>,
}

/// What a pool has done (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodePoolStats {
    /// Jobs running now.
    pub running: usize,
    /// The most jobs that ever ran at once (never more than the pool's threads).
    pub max_running: usize,
    /// Jobs finished.
    pub completed: u64,
}

impl DecodePool {
    /// A pool running at most `threads` jobs at once (at least 1).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        DecodePool {
            permits: Arc::new(Semaphore::new(threads)),
            threads,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The process's default pool: one slot per available core. Readers that are not given a
    /// pool share this one, so all of storage's decoding in a process is bounded together.
    pub fn shared() -> Self {
        static SHARED: OnceLock<DecodePool> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                DecodePool::new(
                    std::thread::available_parallelism()
                        .map(usize::from)
                        .unwrap_or(2),
                )
            })
            .clone()
    }

    /// How many jobs may run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Counters of the pool.
    pub fn stats(&self) -> DecodePoolStats {
        DecodePoolStats {
            running: self.counters.running.load(Ordering::Relaxed),
            max_running: self.counters.max_running.load(Ordering::Relaxed),
            completed: self.counters.completed.load(Ordering::Relaxed),
        }
    }

    /// Runs CPU-heavy `work` when a slot is free; a panic becomes a corrupt-block error for
    /// `object`.
    pub async fn run<T, F>(&self, object: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::BlockTask {
                message: "decode pool closed".to_owned(),
            })?;
        let counters = self.counters.clone();
        let job = move || {
            let running = counters.running.fetch_add(1, Ordering::Relaxed) + 1;
            counters.max_running.fetch_max(running, Ordering::Relaxed);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            counters.running.fetch_sub(1, Ordering::Relaxed);
            counters.completed.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            result
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(result)) => result,
            Ok(Err(payload)) => Err(corrupt_object(
                object,
                format!("decoder panicked: {}", panic_message(payload)),
            )),
            Err(join_error) => Err(Error::BlockTask {
                message: join_error.to_string(),
            }),
        }
    }
}

/// The engine's evaluation runs on the same pool as decoding, so all of a query's CPU work in a
/// process is bounded together.
#[async_trait::async_trait]
impl contrail_traceql::CpuRunner for DecodePool {
    async fn run(
        &self,
        job: Box<dyn FnOnce() + Send + 'static>,
    ) -> std::result::Result<(), contrail_traceql::CpuRunError> {
        DecodePool::run(self, "traceql evaluation", move || {
            job();
            Ok(())
        })
        .await
        .map_err(|error| contrail_traceql::CpuRunError {
            message: error.to_string(),
        })
    }
}

/// Runs CPU-heavy `work` on tokio's blocking threads outside any pool; a panic inside becomes
/// an error naming `object`. (The block writer's encode path; reads use [`DecodePool`].)
pub(crate) async fn run_blocking<T, F>(object: &object_store::path::Path, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join_error) if join_error.is_panic() => Err(corrupt_object(
            object.as_ref(),
            format!(
                "decoder panicked: {}",
                panic_message(join_error.into_panic())
            ),
        )),
        Err(join_error) => Err(Error::BlockTask {
            message: join_error.to_string(),
        }),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_jobs_than_slots_and_turns_panics_into_corrupt_errors() {
        let pool = DecodePool::new(2);
        let jobs = (0..40).map(|index| {
            let pool = pool.clone();
            async move {
                pool.run("t/b/data.parquet", move || {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Ok(index)
                })
                .await
            }
        });
        let results = futures::future::join_all(jobs).await;
        assert_eq!(results.len(), 40);
        assert!(results.iter().all(Result::is_ok));
        let stats = pool.stats();
        assert!(stats.max_running <= 2, "{stats:?}");
        assert_eq!(stats.completed, 40);

        let error = pool
            .run("t/b/data.parquet", || -> Result<()> { panic!("bad page") })
            .await
            .unwrap_err();
        assert_eq!(error.code(), contrail_proto::ErrorCode::DataCorrupt);
        assert!(error.to_string().contains("bad page"), "{error}");
        assert_eq!(pool.stats().running, 0);
    }
}
