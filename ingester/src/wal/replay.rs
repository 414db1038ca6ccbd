//! Replay at start: every segment, oldest first, record by record.
//!
//! A record that fails (short, bad magic, bad length, checksum) is either a torn tail or
//! corruption: if no valid record follows it in the file, it is the tail of an interrupted
//! write (never acknowledged) and the file is truncated there, with a warning naming the file
//! and offset. If a valid record follows, the data in between is corrupt: replay stops with an
//! error naming the file and byte offset, or, with `skip_corrupt_records`, skips to the next
//! valid record and counts the skip. A record whose checksum holds but whose payload does not
//! decode is corrupt wherever it is.

use std::fs::OpenOptions;
use std::path::Path;

use bytes::Bytes;

use super::record::{SEGMENT_HEADER, WalEntry, decode_payload, next_valid_frame, parse_frame};
use super::segment::{SegmentTracker, list_segments};
use crate::error::{Error, Result};
use crate::metrics::IngesterMetrics;

/// What replay found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segment files read.
    pub segments: u64,
    /// Records replayed.
    pub records: u64,
    /// Torn tails truncated.
    pub torn_tails: u64,
    /// Corrupt records skipped.
    pub skipped: u64,
    /// The sequence number the next segment gets.
    pub next_seq: u64,
}

/// Where replayed entries go, with the segment they came from, the record's zstd payload and
/// its uncompressed payload (the entry's trace bytes are slices of `raw`).
pub(crate) trait ReplaySink {
    fn replay(&mut self, seq: u64, entry: WalEntry, compressed: &[u8], raw: Bytes) -> Result<()>;
}

/// Replays every segment of `dir` into `sink`.
pub(crate) fn replay_dir(
    dir: &Path,
    skip_corrupt: bool,
    tracker: &SegmentTracker,
    metrics: &IngesterMetrics,
    sink: &mut dyn ReplaySink,
) -> Result<ReplayStats> {
    let mut stats = ReplayStats {
        next_seq: 1,
        ..ReplayStats::default()
    };
    for (seq, path) in list_segments(dir)? {
        stats.segments += 1;
        stats.next_seq = stats.next_seq.max(seq + 1);
        tracker.register(seq);
        replay_segment(seq, &path, skip_corrupt, metrics, sink, &mut stats)?;
    }
    Ok(stats)
}

fn replay_segment(
    seq: u64,
    path: &Path,
    skip_corrupt: bool,
    metrics: &IngesterMetrics,
    sink: &mut dyn ReplaySink,
    stats: &mut ReplayStats,
) -> Result<()> {
    let data = std::fs::read(path).map_err(|source| Error::wal_io("read", path, source))?;
    if data.len() < SEGMENT_HEADER.len() {
        if SEGMENT_HEADER.starts_with(&data) {
            // Created, header not fully written: nothing in it was ever acknowledged.
            truncate(path, 0, "segment header incomplete", metrics, stats)?;
            return Ok(());
        }
        return Err(corrupt(path, 0, "not a contrail wal segment"));
    }
    if &data[..SEGMENT_HEADER.len()] != SEGMENT_HEADER {
        return Err(corrupt(path, 0, "not a contrail wal segment (bad header)"));
    }
    let mut offset = SEGMENT_HEADER.len();
    while offset < data.len() {
        match parse_frame(&data, offset) {
            Ok((payload, end)) => {
                match decode_payload(payload) {
                    Ok((entry, raw)) => {
                        sink.replay(seq, entry, payload, raw)?;
                        stats.records += 1;
                        metrics.wal_records_replayed.inc();
                    }
                    Err(reason) => {
                        if !skip_corrupt {
                            return Err(corrupt(path, offset as u64, &reason));
                        }
                        skipped(path, offset, &reason, metrics, stats);
                    }
                }
                offset = end;
            }
            Err(reason) => match next_valid_frame(&data, offset) {
                None => {
                    truncate(path, offset as u64, &reason.to_string(), metrics, stats)?;
                    return Ok(());
                }
                Some(next) => {
                    if !skip_corrupt {
                        return Err(corrupt(path, offset as u64, &reason.to_string()));
                    }
                    skipped(path, offset, &reason.to_string(), metrics, stats);
                    offset = next;
                }
            },
        }
    }
    Ok(())
}

fn corrupt(path: &Path, offset: u64, reason: &str) -> Error {
    Error::WalCorrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.to_owned(),
    }
}

fn skipped(
    path: &Path,
    offset: usize,
    reason: &str,
    metrics: &IngesterMetrics,
    stats: &mut ReplayStats,
) {
    tracing::warn!(
        path = %path.display(),
        offset,
        reason,
        "skipping corrupt wal record (storage.trace.wal.skip_corrupt_records)"
    );
    stats.skipped += 1;
    metrics.wal_corrupt_records_skipped.inc();
}

fn truncate(
    path: &Path,
    offset: u64,
    reason: &str,
    metrics: &IngesterMetrics,
    stats: &mut ReplayStats,
) -> Result<()> {
    tracing::warn!(
        path = %path.display(),
        offset,
        reason,
        "truncating torn record at the end of a wal segment"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|source| Error::wal_io("open", path, source))?;
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::wal_io("truncate", path, source))?;
    stats.torn_tails += 1;
    metrics.wal_torn_records_truncated.inc();
    Ok(())
}
