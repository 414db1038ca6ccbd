//! The committed golden vc1 block (`tests/fixtures/golden/<block>/`, written by
//! `examples/golden_block.rs` from the OTLP in `tests/golden/traces.pb.zst`) must stay readable:
//! its meta parses, both bloom shards answer for every trace (so the shard hash and the bloom
//! hashing are unchanged), and every trace is found by ID with exactly the content it was
//! written from. A writer change or a `parquet`/`bloomfilter` upgrade that breaks blocks already
//! in a bucket fails here.

mod block_common;

use std::path::PathBuf;
use std::sync::Arc;

use block_common::normalise_traces;
use contrail_proto::otlp::trace::v1::TracesData;
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{BlockReader, Uuid, list_blocks, list_tenants};
use contrail_storage::convert::{Trace, split_by_trace};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prost::Message;

const BLOCK_ID: &str = "0b5e1d1c-9a57-4c1e-8e8a-601dc0ffee01";

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn fixture_store() -> Arc<dyn ObjectStore> {
    Arc::new(LocalFileSystem::new_with_prefix(tests_dir().join("fixtures")).expect("fixtures dir"))
}

fn expected_traces() -> Vec<Trace> {
    let compressed = std::fs::read(tests_dir().join("golden/traces.pb.zst")).expect("traces");
    let raw = zstd::bulk::decompress(&compressed, 64 * 1024 * 1024).expect("zstd");
    let data = TracesData::decode(raw.as_slice()).expect("protobuf");
    split_by_trace(data.resource_spans)
        .expect("16-byte trace IDs")
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect()
}

#[tokio::test]
async fn the_golden_block_is_listed_with_the_meta_it_was_written_with() {
    let store = fixture_store();
    let tenant = TenantId::new("golden").unwrap();
    assert_eq!(
        list_tenants(store.as_ref()).await.unwrap(),
        vec![tenant.clone()]
    );
    let listing = list_blocks(store.clone(), &tenant).await.unwrap();
    assert_eq!(listing.live.len(), 1, "{listing:?}");
    let meta = &listing.live[0];
    assert_eq!(meta.block_id, Uuid::parse_str(BLOCK_ID).unwrap());
    assert_eq!(meta.format, "vc1");
    assert_eq!(meta.total_objects, 30);
    assert_eq!(meta.total_spans, 545);
    assert_eq!(meta.total_records, 4);
    assert_eq!(meta.row_groups.len(), 4);
    assert_eq!(meta.bloom_shards, 2);
    assert_eq!(meta.size, 121_861);
    let expected = expected_traces();
    assert_eq!(meta.min_id, expected.first().unwrap().trace_id);
    assert_eq!(meta.max_id, expected.last().unwrap().trace_id);
}

#[tokio::test]
async fn every_golden_trace_is_found_by_id_with_its_exact_content() {
    let store = fixture_store();
    let tenant = TenantId::new("golden").unwrap();
    let reader = BlockReader::open_by_id(store, &tenant, &Uuid::parse_str(BLOCK_ID).unwrap())
        .await
        .unwrap();
    let expected = expected_traces();
    assert_eq!(expected.len(), 30);
    let want = normalise_traces(&expected);
    let mut shards_used = std::collections::BTreeSet::new();
    for trace in &expected {
        assert!(
            reader.may_contain(&trace.trace_id).await.unwrap(),
            "bloom says no for {}",
            trace.trace_id
        );
        shards_used.insert(contrail_storage::block::bloom::shard_for(
            &trace.trace_id,
            2,
        ));
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("trace {} not found", trace.trace_id));
        assert_eq!(found.trace_id, trace.trace_id);
        assert_eq!(
            normalise_traces(std::slice::from_ref(&found))[&trace.trace_id],
            want[&trace.trace_id],
            "content of trace {}",
            trace.trace_id
        );
    }
    assert_eq!(shards_used.len(), 2, "both shards hold traces");

    // Absent IDs inside the block's ID range are not found.
    for byte in [0x11u8, 0x77, 0xcc] {
        let mut bytes = expected[10].trace_id.to_array();
        bytes[15] ^= byte;
        let absent = TraceId::from_array(bytes);
        if want.contains_key(&absent) {
            continue;
        }
        assert_eq!(reader.find_trace(&absent).await.unwrap(), None);
    }
}

#[tokio::test]
async fn every_golden_row_group_decodes_to_its_traces() {
    let store = fixture_store();
    let tenant = TenantId::new("golden").unwrap();
    let reader = BlockReader::open_by_id(store, &tenant, &Uuid::parse_str(BLOCK_ID).unwrap())
        .await
        .unwrap();
    let mut all = Vec::new();
    for row_group in 0..reader.meta().row_groups.len() {
        all.extend(reader.read_row_group_traces(row_group).await.unwrap());
    }
    assert_eq!(normalise_traces(&all), normalise_traces(&expected_traces()));
}
