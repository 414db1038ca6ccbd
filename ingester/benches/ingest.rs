//! Ingest benchmark of the ingester alone (no OTLP decode, no network): the loadgen corpus,
//! pre-encoded as the distributor would (one `TraceSegment` per trace, batches of about 1,000
//! spans), pushed through `Ingester::push` by 8 concurrent streams with `fsync: always`, WAL on
//! local disk, then every block cut and written to a local-disk object store. Prints acked
//! spans/s, CPU-seconds per 1M spans (whole process, /proc/self/stat) for the push phase and
//! for push + block writing, peak RSS (VmHWM) and, separately, the block encoder alone.
//!
//! `cargo bench -p contrail-ingester --bench ingest` (`INGEST_SPANS=3000000` for a longer run;
//! `-- encoder-wire` for the flush path alone at zstd 1, the one to profile; `INGEST_SCAN=checked`
//! indexes the segments with `EncodedTrace::scan_checked` instead of `scan`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use contrail_ingester::{Ingester, IngesterArgs, IngesterConfig, StaticLimits};
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::{PushBatch, SystemClock, TenantId, TraceId, tempopb};
use contrail_storage::block::{BlockWriter, BlockWriterConfig};
use contrail_storage::config::{BlockConfig, WalConfig};
use contrail_storage::convert::{EncodedTrace, Scanned, Trace};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use prost::Message;
use tokio_util::sync::CancellationToken;

/// The binaries' allocator (`src/main.rs`), so the figures are the ones the server gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STREAMS: usize = 8;
const SPANS_PER_BATCH: usize = 1000;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rfind(')').map(|at| &stat[at + 1..]).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(key))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Corpus {
    batches: Vec<PushBatch>,
    spans: u64,
    bytes: u64,
}

fn corpus(target_spans: u64) -> Corpus {
    let mut generator = Generator::new(CorpusConfig::default());
    let mut batches = Vec::new();
    let mut current = PushBatch::default();
    let mut current_spans = 0usize;
    let mut spans = 0u64;
    let mut bytes = 0u64;
    while spans < target_spans {
        let resource_spans = generator.next_trace();
        let Some(trace_id) = resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .next()
            .and_then(|span| TraceId::from_ingest_bytes(&span.trace_id).ok())
        else {
            continue;
        };
        let segment = TraceSegment::from_trace(trace_id, &tempopb::Trace { resource_spans });
        spans += u64::from(segment.span_count);
        bytes += segment.trace.len() as u64;
        current_spans += segment.span_count as usize;
        current.segments.push(segment);
        if current_spans >= SPANS_PER_BATCH {
            batches.push(std::mem::take(&mut current));
            current_spans = 0;
        }
    }
    if !current.segments.is_empty() {
        batches.push(current);
    }
    Corpus {
        batches,
        spans,
        bytes,
    }
}

async fn ingest(corpus: Corpus) {
    let wal_dir = tempfile::tempdir_in(std::env::temp_dir()).expect("wal dir");
    let store_dir = tempfile::tempdir_in(std::env::temp_dir()).expect("store dir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(store_dir.path()).expect("store"));
    let ingester = Ingester::new(IngesterArgs {
        config: IngesterConfig::default(),
        wal: WalConfig {
            path: wal_dir.path().to_path_buf(),
            ..WalConfig::default()
        },
        block: BlockConfig::default(),
        store,
        limits: Arc::new(StaticLimits::default()),
        registry: prometheus::Registry::new(),
        clock: SystemClock::shared(),
    })
    .expect("ingester");
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(ingester.clone().run(shutdown.clone()));
    assert!(ingester.wait_ready().await);
    let tenant = TenantId::single_tenant();
    let Corpus {
        batches,
        spans,
        bytes,
    } = corpus;
    let mut per_stream: Vec<Vec<PushBatch>> = (0..STREAMS).map(|_| Vec::new()).collect();
    for (index, batch) in batches.into_iter().enumerate() {
        per_stream[index % STREAMS].push(batch);
    }
    let rss_before = status_kib("VmRSS:");
    reset_peak_rss();
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut streams = Vec::new();
    for stream in per_stream {
        let ingester = ingester.clone();
        let tenant = tenant.clone();
        streams.push(tokio::spawn(async move {
            for batch in stream {
                loop {
                    match ingester.push(&tenant, batch.clone()).await {
                        Ok(outcome) => {
                            assert!(outcome.is_all_accepted());
                            break;
                        }
                        // Back-pressure: wait as a client would on 429.
                        Err(error) if error.code().is_retryable() => {
                            tokio::time::sleep(Duration::from_millis(20)).await
                        }
                        Err(error) => panic!("push failed: {error}"),
                    }
                }
            }
        }));
    }
    for stream in streams {
        stream.await.expect("stream");
    }
    let push_seconds = started.elapsed().as_secs_f64();
    let push_cpu = cpu_seconds() - cpu_start;
    ingester.request_flush();
    while ingester.bytes_in_memory() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total_seconds = started.elapsed().as_secs_f64();
    let total_cpu = cpu_seconds() - cpu_start;
    let peak = status_kib("VmHWM:");
    let metrics = ingester.metrics();
    println!(
        "ingest: {spans} spans, {:.1} MiB of segments, {STREAMS} streams, fsync always",
        bytes as f64 / 1048576.0
    );
    println!(
        "  push phase: {:.2} s, {:.0} acked spans/s, {:.2} CPU-s per 1M spans",
        push_seconds,
        spans as f64 / push_seconds,
        push_cpu * 1e6 / spans as f64
    );
    println!(
        "  push + blocks written: {:.2} s, {:.2} CPU-s per 1M spans ({} blocks, {} group commits for {} records)",
        total_seconds,
        total_cpu * 1e6 / spans as f64,
        metrics
            .blocks_flushed
            .with_label_values(&[tenant.as_str()])
            .get(),
        metrics.wal_group_commits.get(),
        metrics.wal_records.get(),
    );
    println!(
        "  RSS: {:.0} MiB before (the bench's pre-encoded corpus), peak {:.0} MiB",
        mib(rss_before),
        mib(peak)
    );
    shutdown.cancel();
    run.await.expect("join").expect("run");
}

fn sorted_corpus(target_spans: u64) -> (Vec<(TraceId, bytes::Bytes)>, u64) {
    let mut generator = Generator::new(CorpusConfig::default());
    let mut spans = 0u64;
    let mut encoded: Vec<(TraceId, bytes::Bytes)> = Vec::new();
    while spans < target_spans {
        let resource_spans = generator.next_trace();
        let Some(trace_id) = resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .next()
            .and_then(|span| TraceId::from_ingest_bytes(&span.trace_id).ok())
        else {
            continue;
        };
        let trace = tempopb::Trace { resource_spans };
        spans += contrail_storage::convert::span_count(&trace.resource_spans) as u64;
        encoded.push((trace_id, trace.encode_to_vec().into()));
    }
    encoded.sort_by_key(|(trace_id, _)| *trace_id);
    (encoded, spans)
}

/// The block encoder alone, CPU per phase, both ways: the `prost` path (segment decode into
/// OTLP structs, then `BlockWriter::push_trace`) and the wire path the ingester's flush takes
/// (`EncodedTrace::scan` of the segment bytes, then `BlockWriter::push_encoded`).
async fn encoder_alone(target_spans: u64, zstd_level: i32, wire_only: bool) {
    let (encoded, spans) = sorted_corpus(target_spans);
    let per_span = |seconds: f64| seconds * 1e6 / spans as f64;
    let mut config = BlockWriterConfig::new(TenantId::single_tenant());
    config.parquet.zstd_level = zstd_level;
    if wire_only {
        let (scan_cpu, write_cpu, _) = encode_wire(&encoded, config).await;
        println!(
            "block encoder alone, wire path only (zstd {zstd_level}): {spans} spans; segment scan {:.2} µs/span CPU; rows + parquet + bloom {:.2} µs/span CPU",
            per_span(scan_cpu),
            per_span(write_cpu)
        );
        return;
    }

    let cpu_start = cpu_seconds();
    let mut traces: Vec<Trace> = Vec::with_capacity(encoded.len());
    for (trace_id, bytes) in &encoded {
        let decoded = tempopb::Trace::decode(bytes.clone()).expect("decode");
        traces.push(Trace {
            trace_id: *trace_id,
            resource_spans: decoded.resource_spans,
        });
    }
    let decode_cpu = cpu_seconds() - cpu_start;
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut writer = BlockWriter::new(store, config.clone()).expect("writer");
    let write_cpu_start = cpu_seconds();
    for trace in traces {
        writer.push_trace(trace).await.expect("push");
    }
    let written = writer.finish().await.expect("finish");
    let write_cpu = cpu_seconds() - write_cpu_start;
    println!(
        "block encoder alone (zstd {zstd_level}): {spans} spans, {:.1} B/span",
        written.total_bytes() as f64 / spans as f64
    );
    println!(
        "  prost path: segment decode {:.2} µs/span CPU; rows + parquet + bloom {:.2} µs/span CPU; total {:.2} µs/span = {:.0} spans/s per core",
        per_span(decode_cpu),
        per_span(write_cpu),
        per_span(decode_cpu + write_cpu),
        spans as f64 / (decode_cpu + write_cpu).max(1e-9)
    );

    let (scan_cpu, write_cpu, wire_written) = encode_wire(&encoded, config).await;
    assert_eq!(
        wire_written.meta.size, written.meta.size,
        "both paths write the same data"
    );
    println!(
        "  wire path:  segment scan {:.2} µs/span CPU; rows + parquet + bloom {:.2} µs/span CPU; total {:.2} µs/span = {:.0} spans/s per core",
        per_span(scan_cpu),
        per_span(write_cpu),
        per_span(scan_cpu + write_cpu),
        spans as f64 / (scan_cpu + write_cpu).max(1e-9)
    );
}

/// The wire path of the ingester's flush over `encoded`: scan CPU, encode CPU, the block.
async fn encode_wire(
    encoded: &[(TraceId, bytes::Bytes)],
    config: BlockWriterConfig,
) -> (f64, f64, contrail_storage::block::WrittenBlock) {
    // `INGEST_SCAN=checked`: the light index of segments checked before (ADR 007).
    let checked = std::env::var("INGEST_SCAN").is_ok_and(|value| value == "checked");
    let cpu_start = cpu_seconds();
    let mut scanned: Vec<EncodedTrace> = Vec::with_capacity(encoded.len());
    for (trace_id, bytes) in encoded {
        match EncodedTrace::scan_with(*trace_id, vec![bytes.clone()], checked) {
            Scanned::Ready {
                trace: Some(trace), ..
            } => scanned.push(trace),
            other => panic!("trace {trace_id} not taken by the wire path: {other:?}"),
        }
    }
    let scan_cpu = cpu_seconds() - cpu_start;
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut writer = BlockWriter::new(store, config).expect("writer");
    let write_cpu_start = cpu_seconds();
    for trace in scanned {
        writer.push_encoded(trace).await.expect("push");
    }
    let written = writer.finish().await.expect("finish");
    (scan_cpu, cpu_seconds() - write_cpu_start, written)
}

/// zstd levels for WAL payloads: compression speed and ratio on pushes of the corpus.
fn wal_levels(corpus: &Corpus) {
    let sample: Vec<Vec<u8>> = corpus
        .batches
        .iter()
        .take(200)
        .map(|batch| {
            let mut raw = Vec::new();
            for segment in &batch.segments {
                raw.extend_from_slice(&segment.trace);
            }
            raw
        })
        .collect();
    let input: usize = sample.iter().map(Vec::len).sum();
    for level in [-5, -3, -1, 1, 3] {
        let mut compressor = zstd::bulk::Compressor::new(level).expect("compressor");
        let started = Instant::now();
        let mut output = 0usize;
        for raw in &sample {
            output += compressor.compress(raw).expect("compress").len();
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "wal zstd level {level:>2}: {:.0} MB/s, ratio {:.2}x ({:.0} pushes of ~{SPANS_PER_BATCH} spans)",
            input as f64 / seconds / 1e6,
            input as f64 / output as f64,
            sample.len()
        );
    }
}

fn main() {
    let spans: u64 = std::env::var("INGEST_SPANS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` passes `--bench`; a plain word selects one part (`ingest` or `encoder`).
    let only = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    if only == "encoder-wire" {
        // The ingester's flush alone at its zstd level (for profiles).
        runtime.block_on(encoder_alone(spans, 1, true));
        return;
    }
    if only != "ingest" {
        for level in [3, 1] {
            runtime.block_on(encoder_alone(spans.min(500_000), level, false));
        }
    }
    if only != "encoder" {
        let corpus = corpus(spans);
        wal_levels(&corpus);
        if only != "wal" {
            runtime.block_on(ingest(corpus));
        }
    }
}
