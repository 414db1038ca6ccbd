//! Truncated or corrupt block objects give errors that name the block and the object, with the
//! DataCorrupt code; a missing block is NotFound. Never a panic.

mod block_common;

use contrail_proto::TenantId;
use std::sync::Arc;

use block_common::{corpus_traces, small_config, write_block};
use bytes::Bytes;
use contrail_proto::ErrorCode;
use contrail_storage::block::{
    self, BlockReader, Projection, bloom::shard_for, list_blocks, read_tenant_index,
};
use contrail_storage::convert::Trace;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

struct Fixture {
    store: Arc<dyn ObjectStore>,
    meta: block::BlockMeta,
    traces: Vec<Trace>,
}

async fn fixture() -> Fixture {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let traces = corpus_traces(21, 80);
    let written = write_block(store.clone(), small_config(), traces.clone()).await;
    Fixture {
        store,
        meta: written.meta,
        traces,
    }
}

impl Fixture {
    fn path(&self, object: &str) -> Path {
        block::object_path(
            &TenantId::new("single-tenant").unwrap(),
            &self.meta.block_id,
            object,
        )
    }

    async fn read(&self, object: &str) -> Bytes {
        self.store
            .get(&self.path(object))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }

    async fn replace(&self, object: &str, bytes: Vec<u8>) {
        self.store
            .put(&self.path(object), PutPayload::from(bytes))
            .await
            .unwrap();
    }

    fn reader(&self) -> BlockReader {
        BlockReader::open(self.store.clone(), self.meta.clone()).unwrap()
    }
}

fn assert_corrupt(error: &contrail_storage::Error, object: &str) {
    assert_eq!(error.code(), ErrorCode::DataCorrupt, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("corrupt block single-tenant/"),
        "{message}"
    );
    assert!(message.contains(&format!("/{object}: ")), "{message}");
}

#[tokio::test]
async fn truncated_data_parquet() {
    let fixture = fixture().await;
    let data = fixture.read(block::DATA_OBJECT).await;
    fixture
        .replace(block::DATA_OBJECT, data[..data.len() - 100].to_vec())
        .await;
    let error = fixture
        .reader()
        .find_trace(&fixture.traces[5].trace_id)
        .await
        .unwrap_err();
    assert_corrupt(&error, block::DATA_OBJECT);
    assert!(
        error
            .to_string()
            .contains(&fixture.meta.block_id.to_string())
    );
}

#[tokio::test]
async fn corrupt_parquet_footer() {
    let fixture = fixture().await;
    let mut data = fixture.read(block::DATA_OBJECT).await.to_vec();
    let end = data.len() - 8;
    let footer_start = data.len() - fixture.meta.footer_size as usize;
    for byte in &mut data[footer_start..end] {
        *byte = 0xa5;
    }
    fixture.replace(block::DATA_OBJECT, data).await;
    let error = fixture
        .reader()
        .read_row_group(0, &Projection::All)
        .await
        .unwrap_err();
    assert_corrupt(&error, block::DATA_OBJECT);
}

#[tokio::test]
async fn corrupt_data_pages_never_panic() {
    let fixture = fixture().await;
    let mut data = fixture.read(block::DATA_OBJECT).await.to_vec();
    let pages_end = data.len() - fixture.meta.footer_size as usize;
    let mut state: u32 = 12345;
    for byte in &mut data[4..pages_end] {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        if state.is_multiple_of(7) {
            *byte = (state >> 16) as u8;
        }
    }
    fixture.replace(block::DATA_OBJECT, data).await;
    let reader = fixture.reader();
    let mut errors = 0;
    for row_group in 0..fixture.meta.row_groups.len() {
        if let Err(error) = reader.read_row_group_traces(row_group).await {
            assert_corrupt(&error, block::DATA_OBJECT);
            errors += 1;
        }
    }
    for trace in fixture.traces.iter().step_by(7) {
        if let Err(error) = reader.find_trace(&trace.trace_id).await {
            assert_corrupt(&error, block::DATA_OBJECT);
            errors += 1;
        }
    }
    assert!(
        errors > 0,
        "garbage in every seventh byte decoded without a single error"
    );
}

#[tokio::test]
async fn corrupt_and_truncated_bloom_shards() {
    let fixture = fixture().await;
    let trace_id = fixture.traces[3].trace_id;
    let shard = block::bloom_object(shard_for(&trace_id, fixture.meta.bloom_shards));
    let original = fixture.read(&shard).await;

    fixture
        .replace(&shard, b"definitely not a bloom filter".to_vec())
        .await;
    let error = fixture.reader().find_trace(&trace_id).await.unwrap_err();
    assert_corrupt(&error, &shard);

    fixture
        .replace(&shard, original[..original.len() / 2].to_vec())
        .await;
    let error = fixture.reader().find_trace(&trace_id).await.unwrap_err();
    assert_corrupt(&error, &shard);

    fixture.replace(&shard, original[..6].to_vec()).await;
    let error = fixture.reader().find_trace(&trace_id).await.unwrap_err();
    assert_corrupt(&error, &shard);
}

#[tokio::test]
async fn corrupt_and_missing_meta_json() {
    let fixture = fixture().await;
    let raw = fixture.read(block::META_OBJECT).await;
    fixture
        .replace(block::META_OBJECT, raw[..raw.len() / 2].to_vec())
        .await;
    let error = BlockReader::open_by_id(
        fixture.store.clone(),
        &TenantId::new("single-tenant").unwrap(),
        &fixture.meta.block_id,
    )
    .await
    .unwrap_err();
    assert_corrupt(&error, block::META_OBJECT);
    // The listing goes on without the block and names it with the reason.
    let list = list_blocks(
        fixture.store.clone(),
        &TenantId::new("single-tenant").unwrap(),
    )
    .await
    .unwrap();
    assert!(list.live.is_empty(), "{list:?}");
    assert_eq!(list.corrupt.len(), 1, "{list:?}");
    assert_eq!(list.corrupt[0].block_id, fixture.meta.block_id);
    assert!(
        list.corrupt[0].reason.contains(block::META_OBJECT),
        "{}",
        list.corrupt[0].reason
    );

    let missing = block::Uuid::new_v4();
    let error = BlockReader::open_by_id(
        fixture.store.clone(),
        &TenantId::new("single-tenant").unwrap(),
        &missing,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    assert!(error.to_string().contains(&missing.to_string()));
}

#[tokio::test]
async fn missing_bloom_shard_and_data_are_not_found() {
    let fixture = fixture().await;
    let trace_id = fixture.traces[9].trace_id;
    let shard = block::bloom_object(shard_for(&trace_id, fixture.meta.bloom_shards));
    fixture.store.delete(&fixture.path(&shard)).await.unwrap();
    let error = fixture.reader().find_trace(&trace_id).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    assert!(error.to_string().contains(&shard));

    fixture
        .store
        .delete(&fixture.path(block::DATA_OBJECT))
        .await
        .unwrap();
    let error = fixture
        .reader()
        .read_row_group(0, &Projection::All)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
}

#[tokio::test]
async fn unknown_format_and_corrupt_tenant_index() {
    let fixture = fixture().await;
    let mut meta = fixture.meta.clone();
    meta.format = "vc9".into();
    let error = BlockReader::open(fixture.store.clone(), meta).unwrap_err();
    assert_eq!(error.code(), ErrorCode::DataCorrupt);
    assert!(error.to_string().contains("vc9"), "{error}");

    let index = Path::from("single-tenant/index.json.zst");
    fixture
        .store
        .put(&index, PutPayload::from(b"garbage".to_vec()))
        .await
        .unwrap();
    let error = read_tenant_index(
        fixture.store.as_ref(),
        &TenantId::new("single-tenant").unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::DataCorrupt);
    assert!(
        error.to_string().contains("single-tenant/index.json.zst"),
        "{error}"
    );
}
