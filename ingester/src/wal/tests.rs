//! WAL tests on real files: group commit, rotation, replay of 100k records, torn tails,
//! corrupt records in the middle (error naming file and offset, or skipped and counted), and a
//! device that refuses writes.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use contrail_proto::TenantId;
use contrail_proto::internal::v1::TraceSegment;
use contrail_storage::config::FsyncPolicy;

use super::record::{self, SEGMENT_HEADER, WalEntry};
use super::replay::ReplaySink;
use super::segment::{SegmentTracker, list_segments, segment_path};
use super::{Wal, WalOptions, replay};
use crate::error::Error;
use crate::metrics::IngesterMetrics;

#[derive(Default)]
struct Collect {
    entries: Vec<(u64, WalEntry)>,
}

impl ReplaySink for Collect {
    fn replay(
        &mut self,
        seq: u64,
        entry: WalEntry,
        _compressed: &[u8],
        _raw: bytes::Bytes,
    ) -> crate::Result<()> {
        self.entries.push((seq, entry));
        Ok(())
    }
}

fn options(dir: &Path) -> WalOptions {
    WalOptions {
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Always,
        fsync_interval: std::time::Duration::from_millis(50),
        segment_bytes: 64 * 1024 * 1024,
        skip_corrupt: false,
        opener: Arc::new(super::writer::open_segment_file),
    }
}

fn metrics() -> IngesterMetrics {
    IngesterMetrics::new(&prometheus::Registry::new()).expect("metrics")
}

fn segment(index: u32, body_len: usize) -> TraceSegment {
    let mut trace_id = [0u8; 16];
    trace_id[..4].copy_from_slice(&index.to_be_bytes());
    TraceSegment {
        trace_id: Bytes::copy_from_slice(&trace_id),
        trace: Bytes::from(vec![(index % 251) as u8; body_len]),
        start_time_unix_nano: u64::from(index),
        end_time_unix_nano: u64::from(index) + 10,
        span_count: 1,
    }
}

/// Incompressible bytes (xorshift), so records keep their size after zstd.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn framed(index: u32, body_len: usize) -> Vec<u8> {
    let tenant = TenantId::new("acme").expect("tenant");
    record::encode_record(&tenant, std::iter::once(&segment(index, body_len)))
        .expect("record")
        .framed
}

fn replay_collect(
    options: &WalOptions,
) -> (crate::Result<super::ReplayStats>, Collect, IngesterMetrics) {
    let metrics = metrics();
    let tracker = SegmentTracker::new(options.dir.clone());
    let mut sink = Collect::default();
    let result = replay(options, &tracker, &metrics, &mut sink);
    (result, sink, metrics)
}

/// Writes a segment file holding `records` records directly (no writer).
fn write_segment(
    dir: &Path,
    seq: u64,
    records: impl Iterator<Item = Vec<u8>>,
) -> std::path::PathBuf {
    let mut data = SEGMENT_HEADER.to_vec();
    for record in records {
        data.extend_from_slice(&record);
    }
    let path = segment_path(dir, seq);
    std::fs::write(&path, data).expect("write segment");
    path
}

#[tokio::test]
async fn concurrent_appends_share_group_commits_and_replay_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let options = options(dir.path());
    let metrics = metrics();
    let tracker = Arc::new(SegmentTracker::new(options.dir.clone()));
    let wal = Arc::new(
        Wal::start(&options, 1, tracker.clone(), metrics.clone())
            .await
            .expect("start"),
    );
    let mut appends = Vec::new();
    for index in 0..200u32 {
        let wal = wal.clone();
        appends.push(tokio::spawn(async move {
            wal.append(framed(index, 2000), 1).await
        }));
    }
    for append in appends {
        assert_eq!(append.await.expect("join").expect("append"), 1);
    }
    wal.close().await;
    assert_eq!(metrics.wal_records.get(), 200);
    let commits = metrics.wal_group_commits.get();
    assert!(
        commits < 200,
        "200 concurrent appends took {commits} group commits"
    );
    assert_eq!(tracker.outstanding(), vec![(1, 200)]);

    let (stats, sink, _) = replay_collect(&options);
    let stats = stats.expect("replay");
    assert_eq!(stats.records, 200);
    assert_eq!(stats.next_seq, 2);
    let mut seen: Vec<u32> = sink
        .entries
        .iter()
        .map(|(_, entry)| u32::from_be_bytes(entry.traces[0].trace_id[..4].try_into().expect("4")))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn segments_rotate_and_unreferenced_ones_are_deleted() {
    let dir = tempfile::tempdir().expect("dir");
    let mut options = options(dir.path());
    options.segment_bytes = 64 * 1024;
    let metrics = metrics();
    let tracker = Arc::new(SegmentTracker::new(options.dir.clone()));
    let wal = Wal::start(&options, 1, tracker.clone(), metrics.clone())
        .await
        .expect("start");
    let mut seqs = Vec::new();
    for index in 0..40u32 {
        // Random-looking bodies so zstd cannot shrink them below the segment size.
        let tenant = TenantId::new("acme").expect("tenant");
        let mut one = segment(index, 0);
        one.trace = noise(8000, u64::from(index) + 1);
        let framed = record::encode_record(&tenant, std::iter::once(&one))
            .expect("record")
            .framed;
        seqs.push(wal.append(framed, 1).await.expect("append"));
    }
    let last = *seqs.last().expect("last");
    assert!(
        last > 2,
        "40 records of 8KB in 64KiB segments rotated to {last}"
    );
    assert_eq!(list_segments(dir.path()).expect("list").len() as u64, last);
    let first_refs: Vec<(u64, u32)> =
        vec![(1, seqs.iter().filter(|seq| **seq == 1).count() as u32)];
    wal.release(&first_refs);
    let left: Vec<u64> = list_segments(dir.path())
        .expect("list")
        .iter()
        .map(|(seq, _)| *seq)
        .collect();
    assert!(
        !left.contains(&1),
        "segment 1 released and inactive: {left:?}"
    );
    assert!(left.contains(&2), "segment 2 still referenced: {left:?}");
    assert_eq!(metrics.wal_segments_deleted.get(), 1);
    wal.close().await;
}

#[test]
fn replay_of_100k_records() {
    let dir = tempfile::tempdir().expect("dir");
    let per_segment = 25_000u32;
    for seq in 1..=4u64 {
        let first = (seq as u32 - 1) * per_segment;
        write_segment(
            dir.path(),
            seq,
            (first..first + per_segment).map(|index| framed(index, 64)),
        );
    }
    let (stats, sink, metrics) = replay_collect(&options(dir.path()));
    let stats = stats.expect("replay");
    assert_eq!(stats.records, 100_000);
    assert_eq!(stats.segments, 4);
    assert_eq!(stats.next_seq, 5);
    assert_eq!(metrics.wal_records_replayed.get(), 100_000);
    assert_eq!(sink.entries.len(), 100_000);
    assert_eq!(sink.entries[99_999].0, 4);
    assert_eq!(
        sink.entries[99_999].1.traces[0].start_time_unix_nano,
        99_999
    );
}

#[test]
fn a_torn_last_record_is_truncated_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_segment(dir.path(), 1, (0..3).map(|index| framed(index, 500)));
    let good_len = std::fs::metadata(&path).expect("meta").len();
    let torn = framed(3, 500);
    let mut data = std::fs::read(&path).expect("read");
    data.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&path, &data).expect("write");

    let (stats, sink, metrics) = replay_collect(&options(dir.path()));
    let stats = stats.expect("a torn tail is not an error");
    assert_eq!((stats.records, stats.torn_tails), (3, 1));
    assert_eq!(sink.entries.len(), 3);
    assert_eq!(metrics.wal_torn_records_truncated.get(), 1);
    assert_eq!(
        std::fs::metadata(&path).expect("meta").len(),
        good_len,
        "truncated at the torn record"
    );

    // A zero-filled tail (size extended, data never written) is torn too.
    let mut data = std::fs::read(&path).expect("read");
    data.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &data).expect("write");
    let (stats, _, _) = replay_collect(&options(dir.path()));
    assert_eq!(stats.expect("replay").torn_tails, 1);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), good_len);
}

#[test]
fn a_corrupt_middle_record_names_the_file_and_offset_or_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let records: Vec<Vec<u8>> = (0..3).map(|index| framed(index, 500)).collect();
    let second_offset = SEGMENT_HEADER.len() + records[0].len();
    let path = write_segment(dir.path(), 7, records.clone().into_iter());
    let mut data = std::fs::read(&path).expect("read");
    data[second_offset + 20] ^= 0xff;
    std::fs::write(&path, &data).expect("write");

    let (result, _, _) = replay_collect(&options(dir.path()));
    let error = result.expect_err("corrupt middle record");
    match &error {
        Error::WalCorrupt {
            path: at, offset, ..
        } => {
            assert_eq!(at, &path);
            assert_eq!(*offset, second_offset as u64);
        }
        other => panic!("unexpected error {other}"),
    }
    let message = error.to_string();
    assert!(message.contains("00000000000000000007.wal"), "{message}");
    assert!(
        message.contains(&format!("offset {second_offset}")),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        data,
        "nothing truncated"
    );

    let mut skipping = options(dir.path());
    skipping.skip_corrupt = true;
    let (result, sink, metrics) = replay_collect(&skipping);
    let stats = result.expect("skipped");
    assert_eq!((stats.records, stats.skipped, stats.torn_tails), (2, 1, 0));
    assert_eq!(metrics.wal_corrupt_records_skipped.get(), 1);
    let kept: Vec<u64> = sink
        .entries
        .iter()
        .map(|(_, e)| e.traces[0].start_time_unix_nano)
        .collect();
    assert_eq!(kept, vec![0, 2]);
}

#[test]
fn a_file_that_is_not_a_segment_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(segment_path(dir.path(), 1), b"something else entirely").expect("write");
    let (result, _, _) = replay_collect(&options(dir.path()));
    assert!(matches!(result, Err(Error::WalCorrupt { offset: 0, .. })));
}

#[tokio::test]
async fn a_device_that_refuses_writes_fails_the_append_without_an_ack() {
    let dir = tempfile::tempdir().expect("dir");
    let mut options = options(dir.path());
    // The first segment opens normally; every later one is /dev/full (ENOSPC on write).
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = opened.clone();
    options.opener = Arc::new(move |path: &Path| {
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            super::writer::open_segment_file(path)
        } else {
            std::fs::OpenOptions::new().write(true).open("/dev/full")
        }
    });
    options.segment_bytes = 64 * 1024;
    let metrics = metrics();
    let tracker = Arc::new(SegmentTracker::new(options.dir.clone()));
    let wal = Wal::start(&options, 1, tracker, metrics.clone())
        .await
        .expect("start");
    let tenant = TenantId::new("acme").expect("tenant");
    let mut big = segment(1, 0);
    big.trace = noise(70_000, 9);
    let record = record::encode_record(&tenant, std::iter::once(&big))
        .expect("record")
        .framed;
    assert_eq!(
        wal.append(record, 1).await.expect("first segment has room"),
        1
    );
    let error = wal.append(framed(2, 100), 1).await.expect_err("disk full");
    assert_eq!(error.code(), contrail_proto::ErrorCode::Unavailable);
    assert!(error.to_string().contains("wal"), "{error}");
    assert_eq!(metrics.wal_append_failures.get(), 1);
    assert_eq!(
        metrics.wal_records.get(),
        1,
        "the failed record is not counted as written"
    );
    wal.close().await;
}
