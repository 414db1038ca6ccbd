//! scratch: re-encode a level-0 block's data.parquet with variant writer properties
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatchReader;
use bytes::Bytes;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::TenantId;
use contrail_storage::block::{BlockWriter, BlockWriterConfig, DATA_OBJECT, object_path};
use contrail_storage::convert::{Trace, split_by_trace};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

type BoxError = Box<dyn std::error::Error>;
type Encoded = (usize, f64, Vec<(String, u64)>);

fn base(level: i32, page: usize) -> WriterPropertiesBuilder {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level).unwrap()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_data_page_size_limit(page)
        .set_dictionary_page_size_limit(2 * 1024 * 1024)
        .set_column_dictionary_enabled(ColumnPath::from("span_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("parent_span_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("trace_id"), false);
    for column in [
        "parent_index",
        "nested_set_left",
        "nested_set_right",
        "start_offset_nano",
        "duration_nano",
    ] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    builder
}

fn reencode(
    data: &Bytes,
    props: WriterProperties,
    rows_per_group: usize,
) -> Result<Encoded, BoxError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data.clone())?
        .with_batch_size(8192)
        .build()?;
    let schema = reader.schema();
    let mut out = Vec::new();
    let started = Instant::now();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    let mut in_group = 0;
    for batch in reader {
        let batch = batch?;
        in_group += batch.num_rows();
        writer.write(&batch)?;
        if in_group >= rows_per_group {
            writer.flush()?;
            in_group = 0;
        }
    }
    let meta = writer.close()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut cols: std::collections::BTreeMap<String, u64> = Default::default();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let top = c.column_path().parts()[0].clone();
            *cols.entry(top).or_default() += c.compressed_size() as u64;
        }
    }
    Ok((out.len(), seconds, cols.into_iter().collect()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let traces_n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let mut generator = Generator::new(CorpusConfig::default());
    let mut all = Vec::new();
    for _ in 0..traces_n {
        all.extend(generator.next_trace());
    }
    let traces: Vec<Trace> = split_by_trace(all)?
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let tenant = TenantId::new("single-tenant")?;
    let config = BlockWriterConfig::new(tenant.clone());
    let block_id = config.block_id;
    let mut writer = BlockWriter::new(store.clone(), config)?;
    for t in traces {
        writer.push_trace(t).await?;
    }
    let written = writer.finish().await?;
    let spans = written.meta.total_spans as f64;
    println!(
        "level0: {} spans, data {} B = {:.2} B/span, total {:.2} B/span, {} row groups",
        spans,
        written.meta.size,
        written.meta.size as f64 / spans,
        written.total_bytes() as f64 / spans,
        written.meta.total_records
    );
    let data = store
        .get(&object_path(&tenant, &block_id, DATA_OBJECT))
        .await?
        .bytes()
        .await?;
    let rows_default = (spans as usize / written.meta.total_records as usize).max(1);
    let mut baseline: Vec<(String, u64)> = Vec::new();
    let args: Vec<String> = std::env::args().skip(2).collect();
    for variant in args {
        let parts: Vec<&str> = variant.split(',').collect();
        let level: i32 = parts[0].parse()?;
        let page: usize = parts[1].parse::<usize>()? * 1024;
        let rg_factor: usize = parts.get(2).map(|p| p.parse().unwrap()).unwrap_or(1);
        let mut b = base(level, page);
        for extra in parts.iter().skip(3) {
            match *extra {
                "bss" => {
                    for column in ["start_offset_nano", "duration_nano"] {
                        b = b.set_column_encoding(
                            ColumnPath::from(column),
                            Encoding::BYTE_STREAM_SPLIT,
                        );
                    }
                }
                "dict8" => {
                    b = b.set_dictionary_page_size_limit(8 * 1024 * 1024);
                }
                "nodict_str" => {
                    b = b.set_column_dictionary_enabled(
                        ColumnPath::new(vec![
                            "attrs".into(),
                            "list".into(),
                            "item".into(),
                            "str".into(),
                        ]),
                        false,
                    );
                }
                "dlba" => {
                    b = b
                        .set_column_dictionary_enabled(
                            ColumnPath::new(vec![
                                "attrs".into(),
                                "list".into(),
                                "item".into(),
                                "str".into(),
                            ]),
                            false,
                        )
                        .set_column_encoding(
                            ColumnPath::new(vec![
                                "attrs".into(),
                                "list".into(),
                                "item".into(),
                                "str".into(),
                            ]),
                            Encoding::DELTA_BYTE_ARRAY,
                        );
                }
                other => panic!("unknown {other}"),
            }
        }
        let (size, seconds, cols) = reencode(&data, b.build(), rows_default * rg_factor)?;
        println!(
            "{variant:<24} {:>7.2} B/span  {:>6.1}% vs level0 data  encode {:.2}s = {:.1} MB/s of output",
            size as f64 / spans,
            100.0 * (size as f64 / written.meta.size as f64 - 1.0),
            seconds,
            size as f64 / seconds / 1e6
        );
        if baseline.is_empty() {
            baseline = cols.clone();
        }
        let diffs: Vec<String> = cols
            .iter()
            .zip(&baseline)
            .filter(|(a, b)| (a.1 as f64 - b.1 as f64).abs() / spans > 0.2)
            .map(|(a, b)| {
                format!(
                    "{} {:.2}->{:.2}",
                    a.0,
                    b.1 as f64 / spans,
                    a.1 as f64 / spans
                )
            })
            .collect();
        if !diffs.is_empty() {
            println!("     {}", diffs.join("; "));
        }
    }
    Ok(())
}
