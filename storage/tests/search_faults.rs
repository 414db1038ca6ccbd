//! The span source under bad conditions: corrupt and truncated blocks give DataCorrupt errors
//! (never a panic); hundreds of concurrent row-group scans on a two-slot decode pool over a slow
//! store all finish, with the IO of waiting jobs in flight while the pool is busy and never
//! more decodes at once than the pool allows; the same search over the in-process S3 server.

mod search_common;
mod support;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use contrail_proto::ErrorCode;
use contrail_storage::block::v1::search::{BlockSpanSource, block_units};
use contrail_storage::block::{BlockMeta, BlockReader, ReaderOptions, object_path};
use contrail_storage::{DecodePool, build_object_store};
use contrail_traceql::fetch::{FetchRequest, MemoryBudget, SpanSource};
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use search_common::write_hand_block;

/// A store whose reads wait `delay` and that counts reads in flight.
#[derive(Debug)]
struct SlowStore {
    inner: InMemory,
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl std::fmt::Display for SlowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlowStore")
    }
}

impl SlowStore {
    async fn wait(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ObjectStore for SlowStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.wait().await;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.wait().await;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

async fn all_spans(source: &BlockSpanSource) -> Result<usize, contrail_traceql::fetch::FetchError> {
    let output = source
        .fetch(
            &FetchRequest::all_spans(0, u64::MAX),
            &MemoryBudget::unlimited(),
        )
        .await?;
    Ok(output.batches.iter().map(|batch| batch.span_rows()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_row_group_scans_on_a_small_pool_over_a_slow_store_all_finish() {
    let slow = Arc::new(SlowStore {
        inner: InMemory::new(),
        delay: Duration::from_millis(20),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let store: Arc<dyn ObjectStore> = slow.clone();
    let meta = write_hand_block(store.clone(), true).await;
    let pool = DecodePool::new(2);
    let options = ReaderOptions {
        pool: pool.clone(),
        ..ReaderOptions::default()
    };
    let reader = Arc::new(BlockReader::open_with(store, meta, options).unwrap());
    let row_groups = reader.meta().row_groups.len();
    // 300 units of one row group each (the same row groups many times over)
    let units: Vec<BlockSpanSource> = (0..300)
        .map(|index| {
            BlockSpanSource::new(reader.clone(), index % row_groups..index % row_groups + 1)
        })
        .collect();
    let scans = futures::future::join_all(units.iter().map(all_spans));
    let results = tokio::time::timeout(Duration::from_secs(120), scans)
        .await
        .expect("every scan finishes");
    let spans: usize = results.into_iter().map(|r| r.unwrap()).sum();
    // 6 spans in 3 row groups: 100 scans of each
    assert_eq!(spans, 600);
    let stats = pool.stats();
    assert!(stats.max_running <= 2, "{stats:?}");
    assert!(stats.completed >= 300, "{stats:?}");
    // while the two slots decoded, many other scans had their reads in flight
    let in_flight = slow.max_in_flight.load(Ordering::SeqCst);
    assert!(
        in_flight > 2 * pool.threads(),
        "at most {in_flight} reads in flight"
    );
}

async fn hand_block() -> (Arc<dyn ObjectStore>, BlockMeta) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let meta = write_hand_block(store.clone(), false).await;
    (store, meta)
}

fn data_path(meta: &BlockMeta) -> Path {
    object_path(&meta.tenant_id, &meta.block_id, "data.parquet")
}

#[tokio::test]
async fn corrupt_pages_are_data_corrupt_errors() {
    let (store, meta) = hand_block().await;
    let path = data_path(&meta);
    let mut bytes = store
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    // garble everything between the magic and the footer: every column chunk
    let footer_start = bytes.len() - meta.footer_size as usize;
    for byte in &mut bytes[4..footer_start] {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    store.put(&path, PutPayload::from(bytes)).await.unwrap();
    let reader = Arc::new(BlockReader::open(store, meta).unwrap());
    let error = all_spans(&block_units(&reader, 10)[0]).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::DataCorrupt, "{error}");
    assert!(error.to_string().contains("data.parquet"), "{error}");
}

#[tokio::test]
async fn truncated_and_missing_blocks_are_errors_not_panics() {
    let (store, meta) = hand_block().await;
    let path = data_path(&meta);
    let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
    store
        .put(&path, PutPayload::from(bytes.slice(..bytes.len() / 2)))
        .await
        .unwrap();
    let reader = Arc::new(BlockReader::open(store.clone(), meta.clone()).unwrap());
    let error = all_spans(&block_units(&reader, 10)[0]).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::DataCorrupt, "{error}");

    store.delete(&path).await.unwrap();
    let reader = Arc::new(BlockReader::open(store, meta).unwrap());
    let error = all_spans(&block_units(&reader, 10)[0]).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_the_s3_protocol() {
    let s3 = support::TestS3::start().await;
    let store = build_object_store(&s3.config(), &prometheus::Registry::new()).unwrap();
    let meta = write_hand_block(store.clone(), true).await;
    let reader = Arc::new(BlockReader::open(store, meta).unwrap());
    let mut spans = 0;
    for unit in block_units(&reader, 1) {
        spans += all_spans(&unit).await.unwrap();
    }
    assert_eq!(spans, 6);
    assert!(s3.requests() > 3);
}
