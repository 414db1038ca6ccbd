//! The vc1 block format end to end against an in-memory object store: write, trace by ID,
//! row groups and projection, listing, compaction marking, the tenant index.

mod block_common;

use contrail_proto::TenantId;
use std::sync::Arc;

use block_common::{corpus_traces, normalise, small_config, tenant, write_block};
use chrono::Utc;
use contrail_proto::TraceId;
use contrail_storage::block::{
    self, BlockReader, BlockWriter, Projection, TenantIndex, list_blocks, mark_compacted,
    read_tenant_index, write_tenant_index,
};
use contrail_storage::convert::Trace;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

#[tokio::test]
async fn every_trace_is_found_by_id_and_absent_ones_are_not() {
    let store = memory();
    let traces = corpus_traces(11, 300);
    let written = write_block(store.clone(), small_config(), traces.clone()).await;
    let meta = &written.meta;
    assert_eq!(meta.format, "vc1");
    assert_eq!(meta.total_objects, 300);
    assert_eq!(
        meta.total_spans as usize,
        traces.iter().map(Trace::span_count).sum::<usize>()
    );
    assert!(
        meta.total_records > 1,
        "expected several row groups, got {}",
        meta.total_records
    );
    assert!(meta.bloom_shards > 1, "expected several bloom shards");
    assert_eq!(meta.row_groups.iter().map(|rg| rg.traces).sum::<u64>(), 300);

    let reader = BlockReader::open(store.clone(), meta.clone()).unwrap();
    for trace in &traces {
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
    let mut absent = traces[0].trace_id.to_array();
    absent[15] ^= 0x55;
    assert!(
        reader
            .find_trace(&TraceId::from_array(absent))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reader
            .find_trace(&TraceId::from_array([0; 16]))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reader
            .find_trace(&TraceId::from_array([0xff; 16]))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn row_groups_read_as_record_batches_with_projection() {
    let store = memory();
    let written = write_block(store.clone(), small_config(), corpus_traces(12, 120)).await;
    let reader = BlockReader::open(store, written.meta.clone()).unwrap();
    let mut rows = 0;
    for (index, row_group) in written.meta.row_groups.iter().enumerate() {
        let batches = reader
            .read_row_group(
                index,
                &Projection::Columns(vec!["duration_nano".into(), "http_status_code".into()]),
            )
            .await
            .unwrap();
        let group_rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
        assert_eq!(group_rows as u64, row_group.spans);
        for batch in &batches {
            assert_eq!(batch.num_columns(), 2);
            assert_eq!(batch.schema().field(0).name(), "duration_nano");
        }
        rows += group_rows;
    }
    assert_eq!(rows as u64, written.meta.total_spans);
    assert!(
        reader
            .read_row_group(written.meta.row_groups.len(), &Projection::All)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_footer_comes_in_one_ranged_get_of_footer_size() {
    let store = memory();
    let written = write_block(store.clone(), small_config(), corpus_traces(13, 50)).await;
    let path = block::object_path(
        &TenantId::new("single-tenant").unwrap(),
        &written.meta.block_id,
        block::DATA_OBJECT,
    );
    let fetched = contrail_storage::parquet_query::fetch_metadata(
        store.as_ref(),
        &path,
        u64::from(written.meta.footer_size),
    )
    .await
    .unwrap();
    assert_eq!(fetched.requests, 1);
    assert!(
        fetched.metadata.page_index().is_some(),
        "page index must be in the one GET"
    );
    assert_eq!(fetched.object_size, written.meta.size);
}

#[tokio::test]
async fn traces_out_of_order_are_rejected() {
    let store = memory();
    let traces = corpus_traces(14, 3);
    let mut writer = BlockWriter::new(store, small_config()).unwrap();
    writer.push_trace(traces[1].clone()).await.unwrap();
    let error = writer.push_trace(traces[0].clone()).await.unwrap_err();
    assert_eq!(error.code(), contrail_proto::ErrorCode::BadRequest);
    let duplicate = writer.push_trace(traces[1].clone()).await.unwrap_err();
    assert!(
        duplicate.to_string().contains("pushed after"),
        "{duplicate}"
    );
}

#[tokio::test]
async fn only_blocks_with_a_meta_are_listed_and_compaction_moves_them() {
    let store = memory();
    let first = write_block(store.clone(), small_config(), corpus_traces(15, 20)).await;
    let second = write_block(store.clone(), small_config(), corpus_traces(16, 20)).await;
    // A writer that died before meta.json: data and blooms only.
    let dead = write_block(store.clone(), small_config(), corpus_traces(17, 20)).await;
    store
        .delete(&block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &dead.meta.block_id,
            block::META_OBJECT,
        ))
        .await
        .unwrap();
    // A writer dropped before finish leaves nothing visible either.
    let mut unfinished = BlockWriter::new(store.clone(), small_config()).unwrap();
    for trace in corpus_traces(18, 5) {
        unfinished.push_trace(trace).await.unwrap();
    }
    drop(unfinished);

    let list = list_blocks(store.clone(), &TenantId::new("single-tenant").unwrap())
        .await
        .unwrap();
    let mut expected = vec![first.meta.block_id, second.meta.block_id];
    expected.sort();
    assert_eq!(
        list.live
            .iter()
            .map(|meta| meta.block_id)
            .collect::<Vec<_>>(),
        expected
    );
    assert!(list.compacted.is_empty());

    let now = Utc::now();
    mark_compacted(store.as_ref(), &first.meta, now)
        .await
        .unwrap();
    let list = list_blocks(store.clone(), &TenantId::new("single-tenant").unwrap())
        .await
        .unwrap();
    assert_eq!(list.live.len(), 1);
    assert_eq!(list.live[0].block_id, second.meta.block_id);
    assert_eq!(list.compacted.len(), 1);
    assert_eq!(list.compacted[0].meta, first.meta);
    assert_eq!(list.compacted[0].compacted_time, now);
    assert!(
        list_blocks(store.clone(), &TenantId::new("other-tenant").unwrap())
            .await
            .unwrap()
            .live
            .is_empty()
    );
    assert_eq!(
        block::list_tenants(store.as_ref()).await.unwrap(),
        vec![TenantId::single_tenant()]
    );
}

#[tokio::test]
async fn tenant_index_round_trips() {
    let store = memory();
    assert!(
        read_tenant_index(store.as_ref(), &TenantId::new("single-tenant").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let written = write_block(store.clone(), small_config(), corpus_traces(19, 10)).await;
    let index = TenantIndex {
        created_at: Utc::now(),
        meta: vec![written.meta.clone()],
        compacted: Vec::new(),
    };
    write_tenant_index(
        store.as_ref(),
        &TenantId::new("single-tenant").unwrap(),
        &index,
    )
    .await
    .unwrap();
    let read = read_tenant_index(store.as_ref(), &TenantId::new("single-tenant").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, index);
    // the object is zstd, not plain JSON
    let raw = store
        .get(&Path::from("single-tenant/index.json.zst"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&raw[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
}

#[tokio::test]
async fn meta_json_uses_tempo_key_names() {
    let store = memory();
    let written = write_block(store.clone(), small_config(), corpus_traces(20, 10)).await;
    let raw = store
        .get(&block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &written.meta.block_id,
            block::META_OBJECT,
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    for key in [
        "format",
        "blockID",
        "tenantID",
        "startTime",
        "endTime",
        "minID",
        "maxID",
        "totalObjects",
        "size",
        "footerSize",
        "bloomShards",
        "totalRecords",
        "compactionLevel",
        "replicationFactor",
        "dedicatedColumns",
        "rowGroups",
        "totalSpans",
    ] {
        assert!(json.get(key).is_some(), "meta.json lacks {key}: {json}");
    }
    assert_eq!(json["tenantID"], tenant().as_str());
    assert_eq!(
        json["dedicatedColumns"][0],
        serde_json::json!({"s": "resource", "n": "service.name"})
    );
    let row_group = &json["rowGroups"][0];
    for key in [
        "minID",
        "maxID",
        "spans",
        "traces",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "size",
    ] {
        assert!(row_group.get(key).is_some(), "row group lacks {key}");
    }
}

#[test]
fn encode_traces_shares_resource_tables_across_batches() {
    use arrow::array::{Array, AsArray};
    let traces = corpus_traces(22, 60);
    let mut tables = contrail_storage::convert::RefTables::default();
    for chunk in traces.chunks(7) {
        let batch = contrail_storage::convert::encode_traces(chunk, &mut tables).unwrap();
        assert_eq!(
            batch.num_rows(),
            chunk.iter().map(Trace::span_count).sum::<usize>()
        );
        let services = batch
            .column_by_name("service_name")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(
            services.null_count(),
            0,
            "every corpus resource has service.name"
        );
    }
    assert!(tables.resource_count() > 1);
}
