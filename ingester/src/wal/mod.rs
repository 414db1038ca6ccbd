//! The write-ahead log (docs/adr/004-wal.md): segment files of framed, checksummed, zstd
//! records; one group-commit writer; replay at start; segments deleted once every trace in them
//! is in a block whose `meta.json` is in the object store.
//!
//! - `record`: framing and payload of one record.
//! - `segment`: file names and the reference counts that gate deletion.
//! - `writer`: the group-commit task.
//! - `replay`: reading segments back at start.

pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod segment;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contrail_storage::config::{FsyncPolicy, WalConfig};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::metrics::IngesterMetrics;
use replay::ReplaySink;
pub use replay::ReplayStats;
use segment::SegmentTracker;
use writer::{AppendRequest, SegmentOpener, WriterOptions, WriterState, run_writer};

/// Pushes waiting for the writer at most; more wait in `append` (back-pressure).
const APPEND_QUEUE: usize = 1024;

/// How the WAL is laid out and written (from `storage.trace.wal`).
#[derive(Clone)]
pub(crate) struct WalOptions {
    pub(crate) dir: PathBuf,
    pub(crate) fsync: FsyncPolicy,
    pub(crate) fsync_interval: Duration,
    pub(crate) segment_bytes: u64,
    pub(crate) skip_corrupt: bool,
    pub(crate) opener: SegmentOpener,
}

impl std::fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalOptions")
            .field("dir", &self.dir)
            .field("fsync", &self.fsync)
            .field("segment_bytes", &self.segment_bytes)
            .field("skip_corrupt", &self.skip_corrupt)
            .finish()
    }
}

impl WalOptions {
    pub(crate) fn from_config(config: &WalConfig) -> Self {
        WalOptions {
            dir: config.path.clone(),
            fsync: config.fsync,
            fsync_interval: config.fsync_interval,
            segment_bytes: config.segment_size.as_u64(),
            skip_corrupt: config.skip_corrupt_records,
            opener: Arc::new(writer::open_segment_file),
        }
    }
}

/// Replays the WAL directory (blocking IO and CPU: call it on the blocking pool).
pub(crate) fn replay(
    options: &WalOptions,
    tracker: &SegmentTracker,
    metrics: &IngesterMetrics,
    sink: &mut dyn ReplaySink,
) -> Result<ReplayStats> {
    std::fs::create_dir_all(&options.dir)
        .map_err(|source| Error::wal_io("create", &options.dir, source))?;
    replay::replay_dir(&options.dir, options.skip_corrupt, tracker, metrics, sink)
}

/// A running WAL: appends go to the writer task.
#[derive(Debug)]
pub(crate) struct Wal {
    tx: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    tracker: Arc<SegmentTracker>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    metrics: IngesterMetrics,
}

impl Wal {
    /// Opens segment `first_seq` (blocking IO) and starts the writer task.
    pub(crate) async fn start(
        options: &WalOptions,
        first_seq: u64,
        tracker: Arc<SegmentTracker>,
        metrics: IngesterMetrics,
    ) -> Result<Wal> {
        let writer_options = WriterOptions {
            dir: options.dir.clone(),
            first_seq,
            segment_bytes: options.segment_bytes,
            fsync: options.fsync,
            fsync_interval: options.fsync_interval,
            opener: options.opener.clone(),
        };
        let mut state = WriterState::new(writer_options, tracker.clone(), metrics.clone());
        let state = tokio::task::spawn_blocking(move || state.open_first().map(|()| state))
            .await
            .map_err(|error| Error::Task {
                message: format!("open wal segment: {error}"),
            })??;
        let (tx, rx) = mpsc::channel(APPEND_QUEUE);
        let writer = tokio::spawn(run_writer(state, rx));
        Ok(Wal {
            tx: Mutex::new(Some(tx)),
            tracker,
            writer: tokio::sync::Mutex::new(Some(writer)),
            metrics,
        })
    }

    /// Appends one framed record holding `chunks` trace chunks; returns once it is durable (per
    /// the fsync policy) with the segment it went to. The segment holds a reference per chunk
    /// until [`Wal::release`].
    pub(crate) async fn append(&self, record: Vec<u8>, chunks: u64) -> Result<u64> {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or(Error::NotAccepting {
                state: "shutting down",
            })?;
        let (done, answer) = oneshot::channel();
        tx.send(AppendRequest {
            record,
            chunks,
            done,
        })
        .await
        .map_err(|_| Error::WalAppend {
            message: "wal writer stopped".to_owned(),
        })?;
        answer
            .await
            .map_err(|_| Error::WalAppend {
                message: "wal writer stopped".to_owned(),
            })?
            .map_err(|message| Error::WalAppend { message })
    }

    /// Drops chunk references whose traces are in an uploaded block and deletes the segments no
    /// longer needed (blocking IO: call it on the blocking pool).
    pub(crate) fn release(&self, refs: &[(u64, u32)]) {
        for path in self.tracker.release(refs) {
            writer::remove_segment(&path, &self.metrics);
        }
    }

    /// Stops the writer after the appends already queued (syncing what is pending).
    pub(crate) async fn close(&self) {
        self.tx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().await.take()
            && let Err(error) = writer.await
        {
            tracing::error!(error = %error, "wal writer task failed");
        }
    }
}
