//! A dedicated thread for one long piece of CPU work (a block writer's encoding, a merge): jobs
//! run one after another on the same thread, never on tokio's blocking pool.
//!
//! Why not `spawn_blocking`: tokio hands each blocking job to whichever of its (up to 512)
//! threads is idle, so the encode steps of one block land on a different thread each time, and
//! every thread that ever held a row group's buffers keeps its own allocator heap. A merge of
//! two 1M-span blocks on tokio's pool touched 31 threads and peaked at 1.5 GiB of RSS for
//! 0.37 GiB of live memory; with its work kept on two threads, 0.6 GiB (ADR 018). A panic inside
//! a job becomes a corrupt-block error naming the object, as on the decode pool.

use std::sync::mpsc::{Sender, channel};

use tokio::sync::oneshot;

use crate::decode_pool::unwound_result;
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// One thread running jobs in the order they are given; it ends when this handle is dropped
/// (after the job it is running, if any).
#[derive(Debug)]
pub(crate) struct WorkerThread {
    jobs: Sender<Job>,
    name: String,
}

impl WorkerThread {
    /// Starts the thread, named `name`.
    pub(crate) fn start(name: &str) -> Result<Self> {
        let (jobs, receiver) = channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(job) = receiver.recv() {
                    job();
                }
            })
            .map_err(|error| Error::BlockTask {
                message: format!("cannot start thread {name}: {error}"),
            })?;
        Ok(WorkerThread {
            jobs,
            name: name.to_owned(),
        })
    }

    /// Runs `work` on the thread and waits for it; a panic becomes a corrupt-block error for
    /// `object`.
    pub(crate) async fn run<T, F>(&self, object: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            // The caller may have gone (its task was cancelled): nothing to hand back then.
            let _ = done_tx.send(result);
        });
        let stopped = || Error::BlockTask {
            message: format!("thread {} stopped", self.name),
        };
        self.jobs.send(job).map_err(|_| stopped())?;
        unwound_result(object, "worker", done_rx.await.map_err(|_| stopped())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_named_thread() {
        let worker = WorkerThread::start("contrail-test-worker").expect("start");
        let mut names = Vec::new();
        for index in 0..3 {
            let (name, got) = worker
                .run("object", move || {
                    Ok((std::thread::current().name().map(str::to_owned), index))
                })
                .await
                .expect("job");
            assert_eq!(got, index);
            names.push(name);
        }
        let first = names[0].clone();
        assert_eq!(first.as_deref(), Some("contrail-test-worker"));
        let ids: Vec<_> = {
            let mut ids = Vec::new();
            for _ in 0..3 {
                ids.push(
                    worker
                        .run("object", || Ok(std::thread::current().id()))
                        .await
                        .expect("id"),
                );
            }
            ids
        };
        assert!(ids.windows(2).all(|pair| pair[0] == pair[1]), "{ids:?}");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_naming_the_object_and_the_thread_goes_on() {
        let worker = WorkerThread::start("contrail-test-worker").expect("start");
        let failed = worker
            .run::<(), _>("tenant/block/data.parquet", || panic!("bad page"))
            .await
            .expect_err("a panic is an error");
        let message = failed.to_string();
        assert!(message.contains("tenant/block/data.parquet"), "{message}");
        assert!(message.contains("bad page"), "{message}");
        let after = worker.run("object", || Ok(7)).await.expect("still runs");
        assert_eq!(after, 7);
    }
}
