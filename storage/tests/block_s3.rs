//! vc1 blocks against a real S3 protocol server (in-process s3s): a multipart data.parquet of
//! more than 20 MiB, a flaky server whose 500s and hangs the retry layer hides, and a writer
//! that died before meta.json.

mod block_common;
mod support;

use contrail_proto::TenantId;
use std::sync::Arc;
use std::time::Duration;

use block_common::{corpus_traces, normalise, small_config, tenant, write_block};
use contrail_proto::TraceId;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_storage::block::{self, BlockReader, BlockWriter, BlockWriterConfig, list_blocks};
use contrail_storage::build_object_store;
use contrail_storage::convert::Trace;
use object_store::{ObjectStore, ObjectStoreExt};
use rand::{RngCore, SeedableRng};
use support::{FaultPlan, TestS3};

fn store_for(s3: &TestS3) -> Arc<dyn ObjectStore> {
    build_object_store(&s3.config(), &prometheus::Registry::new()).expect("s3 store")
}

/// Traces whose spans carry 4 KiB of random bytes each, so the block does not compress.
fn incompressible_traces(count: usize, spans_per_trace: usize) -> Vec<Trace> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut traces = Vec::new();
    for index in 0..count {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&(index as u64 + 1).to_be_bytes());
        rng.fill_bytes(&mut trace_id[8..]);
        let spans = (0..spans_per_trace)
            .map(|span_index| {
                let mut payload = vec![0u8; 4096];
                rng.fill_bytes(&mut payload);
                Span {
                    trace_id: trace_id.to_vec(),
                    span_id: ((index * 1000 + span_index) as u64 + 1)
                        .to_be_bytes()
                        .to_vec(),
                    name: format!("span-{span_index}"),
                    start_time_unix_nano: 1_700_000_000_000_000_000 + span_index as u64,
                    end_time_unix_nano: 1_700_000_000_000_100_000 + span_index as u64,
                    attributes: vec![KeyValue {
                        key: "payload".into(),
                        value: Some(AnyValue {
                            value: Some(Value::BytesValue(payload)),
                        }),
                        key_strindex: 0,
                    }],
                    ..Span::default()
                }
            })
            .collect();
        traces.push(Trace {
            trace_id: TraceId::from_array(trace_id),
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        });
    }
    traces.sort_by_key(|trace| trace.trace_id);
    traces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_over_20_mib_goes_up_in_parts_and_a_trace_comes_back() {
    let s3 = TestS3::start().await;
    let store = store_for(&s3);
    let traces = incompressible_traces(560, 10);
    let mut config = BlockWriterConfig::new(tenant());
    config.parquet.zstd_level = 1;
    config.row_group_target_bytes = 8 * 1024 * 1024;
    config.batch_spans = 500;
    let written = write_block(store.clone(), config, traces.clone()).await;
    // BufWriter switches to a multipart upload past its 10 MiB buffer.
    assert!(
        written.meta.size > 20 * 1024 * 1024,
        "data.parquet is only {} bytes",
        written.meta.size
    );
    assert!(written.meta.total_records > 1);
    let on_disk = s3
        .bucket_dir()
        .join("single-tenant")
        .join(written.meta.block_id.to_string())
        .join(block::DATA_OBJECT);
    assert_eq!(std::fs::metadata(on_disk).unwrap().len(), written.meta.size);

    let reader = BlockReader::open(store.clone(), written.meta.clone()).unwrap();
    for trace in [&traces[0], &traces[280], &traces[559]] {
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .unwrap()
            .expect("trace found");
        assert_eq!(
            normalise(&found.resource_spans),
            normalise(&trace.resource_spans)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_hide_a_flaky_server() {
    let plan = FaultPlan {
        error_fraction: 0.15,
        delay_fraction: 0.02,
        delay: Duration::from_secs(5),
    };
    let s3 = TestS3::start_faulty(plan).await;
    let store = store_for(&s3);
    let traces = corpus_traces(31, 150);
    let written = write_block(store.clone(), small_config(), traces.clone()).await;
    let list = list_blocks(store.clone(), &TenantId::new("single-tenant").unwrap())
        .await
        .unwrap();
    assert_eq!(list.live.len(), 1);
    let reader = BlockReader::open(store.clone(), list.live[0].clone()).unwrap();
    assert_eq!(reader.meta(), &written.meta);
    for trace in traces.iter().step_by(10) {
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .unwrap()
            .expect("trace found");
        assert_eq!(
            normalise(&found.resource_spans),
            normalise(&trace.resource_spans)
        );
    }
    assert!(s3.faults().errors > 0, "the fault injector never fired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_whose_meta_was_never_written_is_never_listed() {
    let s3 = TestS3::start().await;
    let store = store_for(&s3);
    let complete = write_block(store.clone(), small_config(), corpus_traces(32, 30)).await;

    // A writer that uploaded data.parquet and the bloom shards, then died before meta.json.
    let died = write_block(store.clone(), small_config(), corpus_traces(33, 30)).await;
    store
        .delete(&block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &died.meta.block_id,
            block::META_OBJECT,
        ))
        .await
        .unwrap();
    assert!(
        store
            .head(&block::object_path(
                &TenantId::new("single-tenant").unwrap(),
                &died.meta.block_id,
                block::DATA_OBJECT
            ))
            .await
            .is_ok()
    );
    // A writer dropped in the middle of its data upload.
    let mut unfinished = BlockWriter::new(store.clone(), small_config()).unwrap();
    for trace in corpus_traces(34, 40) {
        unfinished.push_trace(trace).await.unwrap();
    }
    drop(unfinished);

    let list = list_blocks(store.clone(), &TenantId::new("single-tenant").unwrap())
        .await
        .unwrap();
    assert_eq!(
        list.live
            .iter()
            .map(|meta| meta.block_id)
            .collect::<Vec<_>>(),
        vec![complete.meta.block_id]
    );
    assert!(list.compacted.is_empty());
}
