//! Criterion benchmarks of the vc1 block format on the realistic corpus
//! (`contrail_loadgen::corpus`):
//! - `block_write`: spans/s and OTLP MB/s of `BlockWriter` into an in-memory store;
//! - `trace_by_id_1m`: trace by ID in a block of about 1M spans (bloom + row group + pages),
//!   with the footer cached (one reader);
//! - `scan_one_column`: decode `duration_nano` / `http_response_status_code` of every row group;
//! - bytes per span of the block against the OTLP protobuf size, printed once.
//!
//! `cargo bench -p contrail-storage --bench block`

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{self, BlockReader, BlockWriter, BlockWriterConfig, WrittenBlock};
use contrail_storage::convert::Trace;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use prost::Message;
use tokio::runtime::Runtime;

/// OTLP protobuf bytes of the first `traces` traces of the corpus with `seed`, packed as the
/// load generator sends them (requests of about 1,000 spans, spans grouped by resource).
fn otlp_bytes(seed: u64, traces: usize) -> usize {
    let mut generator = Generator::new(CorpusConfig {
        seed,
        ..CorpusConfig::default()
    });
    generator
        .batches(traces, 1000)
        .map(|request| request.encoded_len())
        .sum()
}

/// Traces of the corpus with trace IDs rewritten to increase (high 8 bytes = index), so a
/// block of any size streams without sorting in memory.
fn sorted_trace(generator: &mut Generator, index: u64) -> Trace {
    let mut resource_spans = generator.next_trace();
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&index.to_be_bytes());
    if let Some(span) = resource_spans
        .first()
        .and_then(|rs| rs.scope_spans.first())
        .and_then(|ss| ss.spans.first())
    {
        trace_id[8..].copy_from_slice(&span.trace_id[8..16]);
    }
    for rs in &mut resource_spans {
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                span.trace_id = trace_id.to_vec();
            }
        }
    }
    Trace {
        trace_id: TraceId::from_array(trace_id),
        resource_spans,
    }
}

fn config() -> BlockWriterConfig {
    BlockWriterConfig::new(TenantId::new("single-tenant").expect("tenant"))
}

async fn write_block(
    store: Arc<dyn ObjectStore>,
    traces: impl Iterator<Item = Trace>,
) -> WrittenBlock {
    let mut writer = BlockWriter::new(store, config()).expect("writer");
    for trace in traces {
        writer.push_trace(trace).await.expect("push");
    }
    writer.finish().await.expect("finish")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_write(c: &mut Criterion) {
    let runtime = runtime();
    let mut generator = Generator::new(CorpusConfig::default());
    let traces: Vec<Trace> = (0..5_000)
        .map(|index| sorted_trace(&mut generator, index))
        .collect();
    let otlp_bytes = otlp_bytes(CorpusConfig::default().seed, traces.len());
    let spans: usize = traces.iter().map(Trace::span_count).sum();
    let mut group = c.benchmark_group("block_write");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(spans as u64));
    group.bench_function(BenchmarkId::new("spans", spans), |b| {
        b.iter(|| {
            runtime.block_on(write_block(
                Arc::new(InMemory::new()),
                traces.iter().cloned(),
            ))
        })
    });
    group.throughput(Throughput::Bytes(otlp_bytes as u64));
    group.bench_function(BenchmarkId::new("otlp_bytes", otlp_bytes), |b| {
        b.iter(|| {
            runtime.block_on(write_block(
                Arc::new(InMemory::new()),
                traces.iter().cloned(),
            ))
        })
    });
    group.finish();
}

struct BigBlock {
    store: Arc<dyn ObjectStore>,
    written: WrittenBlock,
    trace_ids: Vec<TraceId>,
    otlp_bytes: usize,
}

fn big_block(runtime: &Runtime, target_spans: u64) -> BigBlock {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut generator = Generator::new(CorpusConfig {
        seed: 9,
        ..CorpusConfig::default()
    });
    let mut trace_ids = Vec::new();
    let written = runtime.block_on(async {
        let mut writer = BlockWriter::new(store.clone(), config()).expect("writer");
        let mut index = 0;
        while writer.spans() < target_spans {
            let trace = sorted_trace(&mut generator, index);
            index += 1;
            trace_ids.push(trace.trace_id);
            writer.push_trace(trace).await.expect("push");
        }
        writer.finish().await.expect("finish")
    });
    let otlp_bytes = otlp_bytes(9, trace_ids.len());
    BigBlock {
        store,
        written,
        trace_ids,
        otlp_bytes,
    }
}

fn bench_read(c: &mut Criterion) {
    let runtime = runtime();
    let block = big_block(&runtime, 1_000_000);
    let meta = &block.written.meta;
    println!(
        "block of {} spans, {} traces, {} row groups: {} bytes (data {} + bloom {} + meta {}) = {:.1} B/span; OTLP {:.1} B/span; ratio {:.3}",
        meta.total_spans,
        meta.total_objects,
        meta.total_records,
        block.written.total_bytes(),
        meta.size,
        meta.bloom_size,
        block.written.meta_bytes,
        block.written.total_bytes() as f64 / meta.total_spans as f64,
        block.otlp_bytes as f64 / meta.total_spans as f64,
        block.written.total_bytes() as f64 / block.otlp_bytes as f64
    );

    let reader = BlockReader::open(block.store.clone(), meta.clone()).expect("reader");
    let mut group = c.benchmark_group("trace_by_id_1m");
    group.sample_size(50);
    let mut next = 0usize;
    group.bench_function("present_warm_footer", |b| {
        b.iter(|| {
            next = (next + 7919) % block.trace_ids.len();
            let trace_id = block.trace_ids[next];
            runtime
                .block_on(reader.find_trace(&trace_id))
                .expect("read")
                .expect("found")
        })
    });
    group.bench_function("absent", |b| {
        b.iter(|| {
            next = (next + 7919) % block.trace_ids.len();
            let mut absent = block.trace_ids[next].to_array();
            absent[15] ^= 0x5a;
            runtime
                .block_on(reader.find_trace(&TraceId::from_array(absent)))
                .expect("read")
        })
    });
    group.finish();

    let data: Bytes = runtime.block_on(async {
        let path = block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &meta.block_id,
            block::DATA_OBJECT,
        );
        block
            .store
            .get(&path)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
    });
    let mut group = c.benchmark_group("scan_one_column");
    group.sample_size(10);
    for column in ["duration_nano", "http_response_status_code"] {
        let probe = ParquetRecordBatchReaderBuilder::try_new(data.clone()).expect("parquet");
        let leaf = probe
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|leaf| leaf.path().string() == column)
            .expect("column");
        let compressed: i64 = probe
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.column(leaf).compressed_size())
            .sum();
        for (label, throughput) in [
            ("spans", Throughput::Elements(meta.total_spans)),
            ("compressed_bytes", Throughput::Bytes(compressed as u64)),
        ] {
            group.throughput(throughput);
            group.bench_function(BenchmarkId::new(column, label), |b| {
                b.iter(|| {
                    let builder =
                        ParquetRecordBatchReaderBuilder::try_new(data.clone()).expect("parquet");
                    let mask = ProjectionMask::leaves(
                        builder.metadata().file_metadata().schema_descr(),
                        [leaf],
                    );
                    let reader = builder
                        .with_projection(mask)
                        .with_batch_size(8192)
                        .build()
                        .expect("reader");
                    reader
                        .map(|batch| batch.expect("batch").num_rows())
                        .sum::<usize>()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_write, bench_read);
criterion_main!(benches);
