//! Measures the `vc1` block format on the realistic corpus (`contrail_loadgen::corpus`), for
//! `docs/adr/001-block-schema.md`:
//! - bytes per span in the object store (data + bloom shards + meta) against the encoded
//!   `ExportTraceServiceRequest` bytes of the same spans (batches of about 1,000 spans);
//! - the same for zstd levels, encodings and page sizes;
//! - bytes per column;
//! - one-column scans (decode one column of every row group) in spans/s and GB/s;
//! - the nested alternative (one row per trace), size and scan.
//!
//! `cargo run --release -p contrail-storage --example block_size -- [TRACES] [--quick]`

mod nested;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::TenantId;
use contrail_storage::block::{
    BlockReader, BlockWriter, BlockWriterConfig, ParquetOptions, WrittenBlock,
};
use contrail_storage::convert::{RefTables, Trace, split_by_trace};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use prost::Message;

type BoxError = Box<dyn std::error::Error>;

struct Corpus {
    traces: Vec<Trace>,
    spans: u64,
    otlp_bytes: u64,
}

fn corpus(trace_count: usize) -> Result<Corpus, BoxError> {
    let mut generator = Generator::new(CorpusConfig::default());
    let mut otlp_bytes = 0u64;
    let mut all = Vec::new();
    for request in generator.batches(trace_count, 1000) {
        otlp_bytes += request.encoded_len() as u64;
        all.extend(request.resource_spans);
    }
    let traces: Vec<Trace> = split_by_trace(all)?
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect();
    let spans = traces.iter().map(|trace| trace.span_count() as u64).sum();
    Ok(Corpus {
        traces,
        spans,
        otlp_bytes,
    })
}

async fn total_object_bytes(store: &dyn ObjectStore) -> Result<u64, BoxError> {
    let objects: Vec<_> = store.list(None).try_collect().await?;
    Ok(objects.iter().map(|object| object.size).sum())
}

async fn write(
    corpus: &Corpus,
    parquet: ParquetOptions,
) -> Result<(Arc<dyn ObjectStore>, WrittenBlock, f64), BoxError> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut config = BlockWriterConfig::new(TenantId::new("single-tenant")?);
    config.parquet = parquet;
    let started = Instant::now();
    let mut writer = BlockWriter::new(store.clone(), config)?;
    for trace in &corpus.traces {
        writer.push_trace(trace.clone()).await?;
    }
    let written = writer.finish().await?;
    Ok((store, written, started.elapsed().as_secs_f64()))
}

fn scan(data: &Bytes, column: &str, rows: u64) -> Result<(f64, u64), BoxError> {
    let mut best = f64::MAX;
    let mut column_bytes = 0u64;
    for _ in 0..3 {
        let builder = ParquetRecordBatchReaderBuilder::try_new(data.clone())?;
        let schema = builder.metadata().file_metadata().schema_descr_ptr();
        let leaves: Vec<usize> = schema
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, leaf)| leaf.path().string() == column)
            .map(|(index, _)| index)
            .collect();
        column_bytes = builder
            .metadata()
            .row_groups()
            .iter()
            .flat_map(|row_group| {
                leaves
                    .iter()
                    .map(move |leaf| row_group.column(*leaf).compressed_size() as u64)
            })
            .sum();
        let reader = builder
            .with_projection(ProjectionMask::leaves(&schema, leaves.clone()))
            .with_batch_size(8192)
            .build()?;
        let started = Instant::now();
        let mut seen = 0usize;
        for batch in reader {
            seen += batch?.num_rows();
        }
        best = best.min(started.elapsed().as_secs_f64());
        if seen as u64 != rows && !column.contains('.') {
            return Err(format!("scan of {column} saw {seen} rows, expected {rows}").into());
        }
    }
    Ok((best, column_bytes))
}

fn print_scan(label: &str, column: &str, spans: u64, seconds: f64, column_bytes: u64) {
    println!(
        "  scan {label:<7} {column:<28} {:>8.1} M spans/s  {:>6.2} GB/s compressed  ({:.1} ms)",
        spans as f64 / seconds / 1e6,
        column_bytes as f64 / seconds / 1e9,
        seconds * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trace_count: usize = args
        .iter()
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20_000);
    let quick = args.iter().any(|arg| arg == "--quick");
    let corpus = corpus(trace_count)?;
    println!(
        "corpus: {} traces, {} spans, OTLP protobuf {} bytes = {:.1} B/span",
        corpus.traces.len(),
        corpus.spans,
        corpus.otlp_bytes,
        corpus.otlp_bytes as f64 / corpus.spans as f64
    );

    let mut variants: Vec<(String, ParquetOptions)> =
        vec![("vc1 default (zstd 3)".into(), ParquetOptions::default())];
    if !quick {
        for level in [1, 2, 4, 6, 9] {
            variants.push((
                format!("zstd {level}"),
                ParquetOptions {
                    zstd_level: level,
                    ..ParquetOptions::default()
                },
            ));
        }
        variants.push((
            "trace_id dictionary".into(),
            ParquetOptions {
                trace_id_dictionary: true,
                ..ParquetOptions::default()
            },
        ));
        variants.push((
            "ints dictionary, no delta".into(),
            ParquetOptions {
                delta_integers: false,
                ..ParquetOptions::default()
            },
        ));
        for page in [64 * 1024, 1024 * 1024] {
            variants.push((
                format!("page {} KiB", page / 1024),
                ParquetOptions {
                    data_page_size_bytes: page,
                    ..ParquetOptions::default()
                },
            ));
        }
    }
    println!("\nflat span rows (vc1), total object bytes (data + bloom + meta) per span:");
    let mut default_block = None;
    for (label, options) in variants {
        let (store, written, seconds) = write(&corpus, options).await?;
        let total = total_object_bytes(store.as_ref()).await?;
        assert_eq!(total, written.total_bytes());
        println!(
            "  {label:<28} {:>6.1} B/span  ratio {:.3}  (data {} B, bloom {} B, {} row groups)  write {:.0} k spans/s {:.1} MB/s OTLP",
            total as f64 / corpus.spans as f64,
            total as f64 / corpus.otlp_bytes as f64,
            written.meta.size,
            written.meta.bloom_size,
            written.meta.total_records,
            corpus.spans as f64 / seconds / 1e3,
            corpus.otlp_bytes as f64 / seconds / 1e6,
        );
        if default_block.is_none() {
            default_block = Some((store, written));
        }
    }
    let (store, written) = default_block.ok_or("no block")?;

    let reader = BlockReader::open(store.clone(), written.meta.clone())?;
    let metadata = reader.parquet_metadata().await?;
    let mut per_column: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row_group in metadata.row_groups() {
        for column in row_group.columns() {
            let name = column.column_path().parts()[0].clone();
            let entry = per_column.entry(name).or_default();
            entry.0 += column.compressed_size() as u64;
            entry.1 += column.uncompressed_size() as u64;
        }
    }
    let mut columns: Vec<_> = per_column.into_iter().collect();
    columns.sort_by_key(|(_, (compressed, _))| std::cmp::Reverse(*compressed));
    println!("\nbytes per span by top-level column (compressed / uncompressed):");
    for (name, (compressed, uncompressed)) in &columns {
        println!(
            "  {name:<28} {:>6.2} / {:>7.2}",
            *compressed as f64 / corpus.spans as f64,
            *uncompressed as f64 / corpus.spans as f64
        );
    }

    let data = store
        .get(&contrail_storage::block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &written.meta.block_id,
            contrail_storage::block::DATA_OBJECT,
        ))
        .await?
        .bytes()
        .await?;
    println!("\none-column scans, in memory, one thread, best of 3:");
    for column in ["duration_nano", "http_response_status_code", "name"] {
        let (seconds, column_bytes) = scan(&data, column, corpus.spans)?;
        print_scan("flat", column, corpus.spans, seconds, column_bytes);
    }

    // The nested candidate, with the same zstd level and page size, dictionaries on (no
    // per-column delta tuning; compare with the flat "ints dictionary, no delta" line).
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_size_limit(256 * 1024)
        .set_dictionary_page_size_limit(2 * 1024 * 1024)
        .set_max_row_group_bytes(Some(32 * 1024 * 1024))
        .build();
    let mut tables = RefTables::default();
    let mut nested_writer: Option<ArrowWriter<Vec<u8>>> = None;
    for chunk in corpus.traces.chunks(500) {
        let batch = nested::nested_batch(chunk, &mut tables)?;
        if nested_writer.is_none() {
            nested_writer = Some(ArrowWriter::try_new(
                Vec::new(),
                batch.schema(),
                Some(properties.clone()),
            )?);
        }
        if let Some(writer) = nested_writer.as_mut() {
            writer.write(&batch)?;
        }
    }
    let nested_writer = nested_writer.ok_or("no nested batches")?;
    let buffer = nested_writer.into_inner()?;
    // Nested blocks need the same bloom shards and a meta of similar size.
    let nested_total = buffer.len() as u64 + written.meta.bloom_size + written.meta_bytes;
    println!(
        "\nnested trace rows (vParquet-like): {:.1} B/span  ratio {:.3}  (data {} B)",
        nested_total as f64 / corpus.spans as f64,
        nested_total as f64 / corpus.otlp_bytes as f64,
        buffer.len()
    );
    let nested_data = Bytes::from(buffer);
    for column in ["duration_nano", "http_response_status_code", "name"] {
        let path = format!("rs.list.item.ss.list.item.spans.list.item.{column}");
        let (seconds, column_bytes) = scan(&nested_data, &path, corpus.spans)?;
        print_scan("nested", column, corpus.spans, seconds, column_bytes);
    }
    Ok(())
}
