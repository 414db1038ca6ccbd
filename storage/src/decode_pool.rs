//! The bounded CPU pool for storage's decode work (Parquet pages → Arrow, condition evaluation
//! over decoded columns, rows → OTLP).
//!
//! IO never runs here: callers fetch the bytes asynchronously first and hand the pool only the
//! CPU part, so a slow object store cannot hold a CPU slot, and a CPU-heavy scan cannot hold a
//! runtime thread. Jobs wait for a slot on a fair (FIFO) semaphore, so under a fan-out of
//! hundreds of row-group jobs every job gets its turn in arrival order. The work itself runs on
//! the pool's own `threads` threads, not on tokio's blocking pool: tokio starts a new blocking
//! thread whenever none is idle (up to 512), and every thread that ever decoded keeps its own
//! allocator heap, so a query spread over 20 threads held 3-4x the memory of the same query on
//! two (ADR 017). A panic inside a job becomes a corrupt-block error naming the object: decoders
//! must never take the process down on bad data.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Semaphore, oneshot};

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
    jobs: SyncSender<Job>,
}

/// A job handed to the pool's threads.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// One of the pool's threads: runs jobs until every handle to the pool is gone.
fn work(queue: Arc<Mutex<Receiver<Job>>>) {
    loop {
        // The lock is held only while waiting for the next job, never while one runs.
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
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
    ///
    /// The threads are started here and end once every clone of the pool is dropped. A thread
    /// that cannot be started leaves the pool with fewer threads (never none: the first failure
    /// to start any is a panic, as for `std::thread::spawn`).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        // Jobs enter only with a permit, so at most `threads` ever wait in the queue.
        let (jobs, receiver) = sync_channel::<Job>(threads);
        let queue = Arc::new(Mutex::new(receiver));
        let mut started = 0;
        for index in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("contrail-decode-{index}"))
                .spawn(move || work(queue));
            match spawned {
                Ok(_) => started += 1,
                Err(error) if started == 0 && index + 1 == threads => {
                    panic!("cannot start any decode thread: {error}")
                }
                Err(error) => tracing::warn!(%error, "a decode thread could not be started"),
            }
        }
        DecodePool {
            permits: Arc::new(Semaphore::new(started)),
            threads: started,
            counters: Arc::new(Counters::default()),
            jobs,
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
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let running = counters.running.fetch_add(1, Ordering::Relaxed) + 1;
            counters.max_running.fetch_max(running, Ordering::Relaxed);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            counters.running.fetch_sub(1, Ordering::Relaxed);
            counters.completed.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            // The caller may have gone (its query was cancelled): nothing to hand back then.
            let _ = done_tx.send(result);
        });
        let closed = || Error::BlockTask {
            message: "decode pool closed".to_owned(),
        };
        // Never blocks: a permit guarantees room in the queue.
        self.jobs.send(job).map_err(|_| closed())?;
        unwound_result(object, "decoder", done_rx.await.map_err(|_| closed())?)
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

/// The result of a job run under `catch_unwind`: a panic of `who` becomes a corrupt-block error
/// for `object` (decoders and encoders must never take the process down on bad data).
pub(crate) fn unwound_result<T>(
    object: &str,
    who: &str,
    result: std::thread::Result<Result<T>>,
) -> Result<T> {
    match result {
        Ok(result) => result,
        Err(payload) => Err(corrupt_object(
            object,
            format!("{who} panicked: {}", panic_message(payload)),
        )),
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_on_the_pools_own_threads_only() {
        let pool = DecodePool::new(3);
        let jobs = (0..60).map(|_| {
            let pool = pool.clone();
            async move {
                pool.run("t/b/data.parquet", || {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    Ok(std::thread::current().name().map(str::to_owned))
                })
                .await
            }
        });
        let names: std::collections::BTreeSet<Option<String>> = futures::future::join_all(jobs)
            .await
            .into_iter()
            .map(|name| name.unwrap())
            .collect();
        assert!(
            !names.is_empty() && names.len() <= 3,
            "jobs ran on {names:?}"
        );
        assert!(
            names.iter().all(|name| name
                .as_deref()
                .is_some_and(|n| n.starts_with("contrail-decode-"))),
            "{names:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_caller_does_not_stop_the_pool() {
        let pool = DecodePool::new(1);
        let slow = pool.run("t/b/data.parquet", || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(1)
        });
        // The caller gives up; the job still ends and frees its slot.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(5), slow).await;
        let next = pool.run("t/b/data.parquet", || Ok(2)).await.unwrap();
        assert_eq!(next, 2);
        assert_eq!(pool.stats().running, 0);
    }
}
