//! Writes the committed golden `vc1` block (`storage/tests/fixtures/golden/<block>/`) and the
//! OTLP it was written from (`storage/tests/golden/traces.pb.zst`), which
//! `storage/tests/block_golden.rs` reads back.
//!
//! The golden block exists so that a change of the writer, of `parquet` or of `bloomfilter` that
//! changes layout or hashing cannot silently break blocks already in a bucket: the test must keep
//! passing on the committed bytes. Run this only to (re)create the fixture on purpose, for a new
//! format version:
//!
//! `cargo run -p contrail-storage --example golden_block -- storage/tests`

use std::path::PathBuf;
use std::sync::Arc;

use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::TenantId;
use contrail_proto::otlp::trace::v1::TracesData;
use contrail_storage::block::{BlockWriter, BlockWriterConfig, Uuid};
use contrail_storage::convert::{Trace, split_by_trace};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prost::Message;

type BoxError = Box<dyn std::error::Error>;

/// The golden block's tenant, block ID and corpus seed (fixed, so a rewrite is reproducible).
const TENANT: &str = "golden";
const BLOCK_ID: &str = "0b5e1d1c-9a57-4c1e-8e8a-601dc0ffee01";
const SEED: u64 = 7;
const TRACES: usize = 30;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "storage/tests".into()),
    );
    let fixtures = root.join("fixtures");
    let expected = root.join("golden");
    std::fs::create_dir_all(&fixtures)?;
    std::fs::create_dir_all(&expected)?;

    let mut generator = Generator::new(CorpusConfig {
        seed: SEED,
        ..CorpusConfig::default()
    });
    let mut resource_spans = Vec::new();
    for _ in 0..TRACES {
        resource_spans.extend(generator.next_trace());
    }
    let otlp = TracesData {
        resource_spans: resource_spans.clone(),
    }
    .encode_to_vec();
    std::fs::write(
        expected.join("traces.pb.zst"),
        zstd::bulk::compress(&otlp, 19)?,
    )?;

    let traces: Vec<Trace> = split_by_trace(resource_spans)?
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&fixtures)?);
    let mut config = BlockWriterConfig::new(TenantId::new(TENANT)?);
    config.block_id = Uuid::parse_str(BLOCK_ID)?;
    // Several row groups, pages and bloom shards, so the test sees each mechanism.
    config.row_group_target_bytes = 16 * 1024;
    config.batch_spans = 64;
    config.parquet.data_page_size_bytes = 2 * 1024;
    config.bloom_shard_max_bytes = 64;
    config.bloom_false_positive = 0.0001;
    let mut writer = BlockWriter::new(store, config)?;
    for trace in traces {
        writer.push_trace(trace).await?;
    }
    let written = writer.finish().await?;
    println!(
        "wrote block {} of tenant {TENANT}: {} traces, {} spans, {} row groups, {} bloom shards, {} bytes",
        written.meta.block_id,
        written.meta.total_objects,
        written.meta.total_spans,
        written.meta.total_records,
        written.meta.bloom_shards,
        written.total_bytes()
    );
    Ok(())
}
