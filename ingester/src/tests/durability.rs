//! Nothing acknowledged is lost: crash and replay, torn and corrupt WAL records, a full disk.

use std::path::Path;
use std::sync::Arc;

use contrail_proto::ErrorCode;

use super::support::{
    Fixture, assert_every_span_found, batch, block_count, corpus, eventually, tenant,
};
use crate::{Error, Ingester};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Pushes `traces` in batches of 40 on a runtime of its own, then kills that runtime without
/// any flush or shutdown (the WAL writer and every task die mid-flight).
fn push_then_crash(fixture: &Fixture, traces: &[super::support::TestTrace]) {
    let runtime = runtime();
    let running = runtime.block_on(async {
        let running = fixture.start().await;
        for chunk in traces.chunks(40) {
            let outcome = running
                .ingester
                .push(&tenant(), batch(chunk))
                .await
                .expect("acked");
            assert!(outcome.is_all_accepted());
        }
        running
    });
    runtime.shutdown_background();
    drop(running);
}

#[test]
fn every_acked_span_survives_a_crash_and_reaches_the_object_store_after_replay() {
    let fixture = Fixture::new();
    let traces = corpus(1, 240);
    push_then_crash(&fixture, &traces);
    let first_run_segments = fixture.wal_segments();
    assert!(!first_run_segments.is_empty());

    runtime().block_on(async {
        assert_eq!(
            block_count(&fixture.store, &tenant()).await,
            0,
            "nothing was flushed before the crash"
        );
        let running = fixture.start().await;
        assert_eq!(running.ingester.metrics().wal_records_replayed.get(), 6);
        assert_every_span_found(&running.ingester, &traces).await;
        // Replayed data is flushed at once; then the old segments go.
        eventually("replayed data in a block", || async {
            block_count(&fixture.store, &tenant()).await == 1
        })
        .await;
        eventually("old wal segments deleted", || async {
            let left = fixture.wal_segments();
            first_run_segments
                .iter()
                .all(|segment| !left.contains(segment))
        })
        .await;
        for trace in &traces {
            let mut stored = fixture.stored_span_ids(&tenant(), &trace.trace_id).await;
            stored.sort_unstable();
            assert_eq!(stored, trace.span_ids.iter().copied().collect::<Vec<_>>());
        }
        running.stop().await.expect("stop");
    });
}

#[test]
fn a_torn_last_record_is_truncated_and_the_acked_spans_replay() {
    let fixture = Fixture::new();
    let traces = corpus(2, 80);
    push_then_crash(&fixture, &traces);
    let last = fixture.wal_segments().pop().expect("a segment");
    let path = fixture.wal_dir.path().join(&last);
    let mut data = std::fs::read(&path).expect("read");
    let good_len = data.len();
    // Half a record, as a crash in the middle of a write leaves it.
    data.extend_from_slice(b"CWR1\x00\x10\x00\x00\x12\x34\x56\x78partial");
    std::fs::write(&path, &data).expect("write");

    runtime().block_on(async {
        let running = fixture.start().await;
        assert_eq!(
            running.ingester.metrics().wal_torn_records_truncated.get(),
            1
        );
        assert_every_span_found(&running.ingester, &traces).await;
        running.stop().await.expect("stop");
    });
    assert!(
        std::fs::metadata(&path)
            .map(|meta| meta.len() as usize)
            .unwrap_or(good_len)
            <= good_len,
        "torn record truncated"
    );
}

fn corrupt_first_record(fixture: &Fixture) -> (std::path::PathBuf, u64) {
    let first = fixture
        .wal_segments()
        .into_iter()
        .next()
        .expect("a segment");
    let path = fixture.wal_dir.path().join(first);
    let mut data = std::fs::read(&path).expect("read");
    let offset = 8u64;
    data[offset as usize + 40] ^= 0x5a;
    std::fs::write(&path, &data).expect("write");
    (path, offset)
}

#[test]
fn a_corrupt_middle_record_stops_the_start_naming_file_and_offset_unless_skipping() {
    let mut fixture = Fixture::new();
    let traces = corpus(3, 120);
    push_then_crash(&fixture, &traces);
    let (path, offset) = corrupt_first_record(&fixture);

    runtime().block_on(async {
        let ingester = Ingester::new(fixture.args()).expect("ingester");
        let run = tokio::spawn(
            ingester
                .clone()
                .run(tokio_util::sync::CancellationToken::new()),
        );
        assert!(
            !ingester.wait_ready().await,
            "never ready with a corrupt wal"
        );
        let error = run.await.expect("join").expect_err("corrupt record");
        assert!(matches!(error, Error::WalCorrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("byte offset {offset}")),
            "{message}"
        );
        let push = ingester
            .push(&tenant(), batch(&traces[..1]))
            .await
            .expect_err("not ready");
        assert_eq!(push.code(), ErrorCode::Unavailable);
    });

    fixture.wal.skip_corrupt_records = true;
    runtime().block_on(async {
        let running = fixture.start().await;
        assert_eq!(
            running.ingester.metrics().wal_corrupt_records_skipped.get(),
            1
        );
        assert_eq!(running.ingester.metrics().wal_records_replayed.get(), 2);
        // The first batch of 40 traces was in the skipped record; the others are all there.
        assert_every_span_found(&running.ingester, &traces[40..]).await;
        running.stop().await.expect("stop");
    });
}

/// Mounts a 256 KiB tmpfs at `dir` (needs root); `false` if this machine does not allow it.
fn mount_tiny_tmpfs(dir: &Path) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(dir)
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_push_with_unavailable_and_acks_nothing_of_it() {
    let mut fixture = Fixture::new();
    let wal_mount = tempfile::tempdir().expect("mount point");
    let mounted = mount_tiny_tmpfs(wal_mount.path());
    let _unmount = mounted.then(|| Unmount(wal_mount.path()));
    fixture.wal.path = wal_mount.path().to_path_buf();
    let traces = corpus(4, 400);
    runtime().block_on(async {
        let ingester = if mounted {
            Ingester::new(fixture.args()).expect("ingester")
        } else {
            // No tmpfs here: every segment after the first is /dev/full (ENOSPC on write).
            println!("tmpfs not mountable here: full disk simulated with /dev/full");
            fixture.wal.segment_size = bytesize::ByteSize::kib(64);
            let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            Ingester::with_segment_opener(
                fixture.args(),
                Arc::new(move |path: &Path| {
                    if opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        crate::wal::writer::open_segment_file(path)
                    } else {
                        std::fs::OpenOptions::new().write(true).open("/dev/full")
                    }
                }),
            )
            .expect("ingester")
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let run = tokio::spawn(ingester.clone().run(shutdown.clone()));
        assert!(ingester.wait_ready().await);
        let mut acked = Vec::new();
        let mut refused = None;
        for chunk in traces.chunks(20) {
            match ingester.push(&tenant(), batch(chunk)).await {
                Ok(outcome) => {
                    assert!(outcome.is_all_accepted());
                    acked.extend_from_slice(chunk);
                }
                Err(error) => {
                    refused = Some((error, chunk.to_vec()));
                    break;
                }
            }
        }
        let (error, lost) = refused.expect("the disk filled up");
        assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
        assert_eq!(
            error.code().http_status(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(!acked.is_empty());
        assert!(ingester.metrics().wal_append_failures.get() >= 1);
        for trace in &lost {
            assert!(
                ingester
                    .find_trace_by_id(&tenant(), &trace.trace_id)
                    .await
                    .expect("find")
                    .is_none(),
                "a refused push must not be held"
            );
        }
        for trace in &acked {
            assert!(
                ingester
                    .find_trace_by_id(&tenant(), &trace.trace_id)
                    .await
                    .expect("find")
                    .is_some()
            );
        }
        shutdown.cancel();
        let _ = run.await.expect("join");
    });
}
