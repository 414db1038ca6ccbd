//! The group-commit writer: one task owns the active segment file. Pushes send framed records
//! over a bounded channel; the task takes every record waiting, writes them with one `write`
//! and makes them durable with one `fdatasync` (per `storage.trace.wal.fsync`), then answers each
//! push. A push is answered `Ok` only after the sync that covers its record. The file IO runs on
//! the blocking pool, never on the async runtime.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contrail_storage::config::FsyncPolicy;
use tokio::sync::{mpsc, oneshot};

use super::record::SEGMENT_HEADER;
use super::segment::{SegmentTracker, segment_path};
use crate::error::{Error, Result};
use crate::metrics::IngesterMetrics;

/// Most bytes written by one group commit; the rest waits for the next one.
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// Opens a segment file for appending (a seam so tests can open a device that fails writes).
pub(crate) type SegmentOpener = Arc<dyn Fn(&Path) -> std::io::Result<File> + Send + Sync>;

/// The default opener: create the file, append to it.
pub(crate) fn open_segment_file(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// One push waiting for its record to be durable.
pub(crate) struct AppendRequest {
    /// The framed record.
    pub(crate) record: Vec<u8>,
    /// Trace chunks in the record: references added to the segment before the ack.
    pub(crate) chunks: u64,
    /// Answered with the segment the record went to.
    pub(crate) done: oneshot::Sender<Result<u64, String>>,
}

/// How the writer behaves.
pub(crate) struct WriterOptions {
    pub(crate) dir: PathBuf,
    pub(crate) first_seq: u64,
    pub(crate) segment_bytes: u64,
    pub(crate) fsync: FsyncPolicy,
    pub(crate) fsync_interval: Duration,
    pub(crate) opener: SegmentOpener,
}

/// The state the writer task moves in and out of the blocking pool.
pub(crate) struct WriterState {
    options: WriterOptions,
    tracker: Arc<SegmentTracker>,
    metrics: IngesterMetrics,
    file: Option<File>,
    seq: u64,
    /// Bytes of the active file known to be good (the file is truncated back to it on error).
    len: u64,
    needs_sync: bool,
    last_sync: Instant,
    buffer: Vec<u8>,
}

impl WriterState {
    pub(crate) fn new(
        options: WriterOptions,
        tracker: Arc<SegmentTracker>,
        metrics: IngesterMetrics,
    ) -> Self {
        let seq = options.first_seq;
        WriterState {
            options,
            tracker,
            metrics,
            file: None,
            seq,
            len: 0,
            needs_sync: false,
            last_sync: Instant::now(),
            buffer: Vec::new(),
        }
    }

    /// Opens the first segment (at start, so a WAL directory that cannot be written fails the
    /// start rather than the first push).
    pub(crate) fn open_first(&mut self) -> Result<()> {
        self.open_segment(self.seq)
    }

    fn open_segment(&mut self, seq: u64) -> Result<()> {
        let path = segment_path(&self.options.dir, seq);
        let mut file =
            (self.options.opener)(&path).map_err(|source| Error::wal_io("open", &path, source))?;
        let written = file
            .write_all(SEGMENT_HEADER)
            .and_then(|()| match self.options.fsync {
                FsyncPolicy::Never => Ok(()),
                _ => file.sync_data(),
            });
        if let Err(source) = written {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(Error::wal_io("write", &path, source));
        }
        if self.options.fsync != FsyncPolicy::Never {
            sync_dir(&self.options.dir)?;
        }
        self.file = Some(file);
        self.seq = seq;
        self.len = SEGMENT_HEADER.len() as u64;
        for path in self.tracker.set_active(seq) {
            remove_segment(&path, &self.metrics);
        }
        Ok(())
    }

    /// Writes and syncs a group of records; on success returns the segment they went to.
    fn write_group(&mut self, records: &[Vec<u8>]) -> Result<u64, String> {
        if (self.file.is_none() || self.len >= self.options.segment_bytes)
            && let Err(error) = self.rotate()
        {
            tracing::error!(error = %error, "wal segment rotation failed");
            self.metrics.wal_append_failures.inc();
            return Err(error.to_string());
        }
        self.buffer.clear();
        for record in records {
            self.buffer.extend_from_slice(record);
        }
        let path = segment_path(&self.options.dir, self.seq);
        let sync_now = match self.options.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => self.last_sync.elapsed() >= self.options.fsync_interval,
            FsyncPolicy::Never => false,
        };
        let Some(file) = self.file.as_mut() else {
            return Err(format!("no open wal segment {}", path.display()));
        };
        let result = file
            .write_all(&self.buffer)
            .and_then(|()| if sync_now { file.sync_data() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.len += self.buffer.len() as u64;
                if sync_now {
                    self.last_sync = Instant::now();
                    self.needs_sync = false;
                } else {
                    self.needs_sync = true;
                }
                self.metrics.wal_group_commits.inc();
                self.metrics.wal_records.inc_by(records.len() as u64);
                self.metrics.wal_bytes.inc_by(self.buffer.len() as u64);
                Ok(self.seq)
            }
            Err(error) => {
                // Nothing of this group is acknowledged. Cut the partial write off and start a
                // fresh segment for the next group, so a later replay never sees it.
                let truncated = file.set_len(self.len).and_then(|()| file.sync_data());
                tracing::error!(
                    path = %path.display(),
                    error = %error,
                    truncated_to = self.len,
                    truncate_ok = truncated.is_ok(),
                    "wal append failed"
                );
                self.file = None;
                self.metrics.wal_append_failures.inc();
                Err(format!("write {}: {error}", path.display()))
            }
        }
    }

    fn rotate(&mut self) -> Result<()> {
        if let Some(file) = self.file.take()
            && self.needs_sync
        {
            let path = segment_path(&self.options.dir, self.seq);
            file.sync_data()
                .map_err(|source| Error::wal_io("sync", &path, source))?;
            self.needs_sync = false;
        }
        self.open_segment(self.seq + 1)
    }

    /// Syncs pending writes (interval policy, and at close).
    fn sync_pending(&mut self) {
        if !self.needs_sync {
            return;
        }
        if let Some(file) = self.file.as_ref() {
            match file.sync_data() {
                Ok(()) => {
                    self.needs_sync = false;
                    self.last_sync = Instant::now();
                }
                Err(error) => tracing::error!(error = %error, "wal sync failed"),
            }
        }
    }
}

/// The writer task: runs until every sender is dropped.
pub(crate) async fn run_writer(mut state: WriterState, mut rx: mpsc::Receiver<AppendRequest>) {
    loop {
        let first = if state.needs_sync {
            match tokio::time::timeout(state.options.fsync_interval, rx.recv()).await {
                Ok(request) => request,
                Err(_) => {
                    state = match tokio::task::spawn_blocking(move || {
                        state.sync_pending();
                        state
                    })
                    .await
                    {
                        Ok(state) => state,
                        Err(error) => {
                            tracing::error!(error = %error, "wal writer task failed");
                            return;
                        }
                    };
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(first) = first else {
            break;
        };
        let mut bytes = first.record.len();
        let mut group = vec![first];
        while bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += next.record.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (records, waiters): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|request| (request.record, (request.chunks, request.done)))
            .unzip();
        let joined = tokio::task::spawn_blocking(move || {
            let result = state.write_group(&records);
            if let Ok(seq) = &result {
                let chunks: u64 = waiters.iter().map(|(chunks, _)| chunks).sum();
                state.tracker.add(*seq, chunks);
            }
            (state, result, waiters)
        })
        .await;
        let (next_state, result, waiters) = match joined {
            Ok(parts) => parts,
            Err(error) => {
                tracing::error!(error = %error, "wal writer task failed");
                return;
            }
        };
        state = next_state;
        for (_, done) in waiters {
            let _ = done.send(result.clone());
        }
    }
    let _ = tokio::task::spawn_blocking(move || state.sync_pending()).await;
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| Error::wal_io("sync", dir, source))
}

/// Deletes a segment file whose traces are all in the object store.
pub(crate) fn remove_segment(path: &Path, metrics: &IngesterMetrics) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            metrics.wal_segments_deleted.inc();
            tracing::debug!(path = %path.display(), "wal segment deleted");
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "cannot delete wal segment")
        }
    }
}
