//! Reading a block from the local filesystem with `FetchOptions::single_request` (each fetch's
//! ranges in one `get_ranges` call: one open file, one blocking hop) gives the same rows as the
//! concurrent `get_range` path, takes the one-call path, and fails the same way, with a clear
//! error and never a panic, when the data file is truncated or gone after the footer was read.

mod block_common;

use std::sync::Arc;

use arrow::array::RecordBatch;
use block_common::{corpus_traces, small_config, tenant, write_block};
use contrail_proto::ErrorCode;
use contrail_storage::backend::MeteredStore;
use contrail_storage::block::{self, BlockMeta, BlockReader, Projection, ReaderOptions};
use contrail_storage::parquet_query::FetchOptions;
use contrail_storage::{DecodePool, StorageMetrics};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prometheus::Registry;

struct Fixture {
    dir: tempfile::TempDir,
    meta: BlockMeta,
    traces: Vec<contrail_storage::convert::Trace>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let traces = corpus_traces(33, 120);
    let written = write_block(store, small_config(), traces.clone()).await;
    assert!(written.meta.row_groups.len() > 1, "{:?}", written.meta);
    Fixture {
        dir,
        meta: written.meta,
        traces,
    }
}

impl Fixture {
    /// A reader over a metered local store; `single_request` chooses the fetch path. A
    /// coalescing gap of 0 keeps the column chunks separate ranges, so a fetch has several.
    fn reader(&self, single_request: bool, registry: &Registry) -> BlockReader {
        let local = LocalFileSystem::new_with_prefix(self.dir.path()).unwrap();
        let metrics = StorageMetrics::new(registry).unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(MeteredStore::new(local, metrics));
        let options = ReaderOptions {
            pool: DecodePool::new(2),
            fetch: FetchOptions {
                coalesce_gap_bytes: 0,
                single_request,
                ..FetchOptions::default()
            },
        };
        BlockReader::open_with(store, self.meta.clone(), options).unwrap()
    }

    fn data_file(&self) -> std::path::PathBuf {
        self.dir
            .path()
            .join(block::object_path(&tenant(), &self.meta.block_id, block::DATA_OBJECT).as_ref())
    }
}

/// `contrail_storage_requests_total` of `operation`, summed over statuses.
fn requests(registry: &Registry, operation: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "contrail_storage_requests_total")
        .flat_map(|family| family.get_metric().iter())
        .filter(|metric| {
            metric
                .get_label()
                .iter()
                .any(|label| label.name() == "operation" && label.value() == operation)
        })
        .map(|metric| metric.get_counter().get_value())
        .sum()
}

/// Every row group read with `projection`.
async fn all_row_groups(
    reader: &BlockReader,
    row_groups: usize,
    projection: &Projection,
) -> Vec<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for row_group in 0..row_groups {
        out.push(reader.read_row_group(row_group, projection).await.unwrap());
    }
    out
}

/// Columns far apart in the file: each row group's fetch is several ranges.
fn scattered() -> Projection {
    Projection::Columns(vec![
        "trace_id".to_owned(),
        "duration_nano".to_owned(),
        "status_code".to_owned(),
    ])
}

#[tokio::test]
async fn one_call_per_fetch_reads_the_same_rows() {
    let fixture = fixture().await;
    let row_groups = fixture.meta.row_groups.len();
    let (one_registry, many_registry) = (Registry::new(), Registry::new());
    let one = fixture.reader(true, &one_registry);
    let many = fixture.reader(false, &many_registry);

    let from_one = all_row_groups(&one, row_groups, &scattered()).await;
    let from_many = all_row_groups(&many, row_groups, &scattered()).await;
    assert_eq!(from_one, from_many);
    assert_eq!(
        from_one
            .iter()
            .flatten()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        fixture
            .meta
            .row_groups
            .iter()
            .map(|group| group.spans as usize)
            .sum::<usize>()
    );
    // one get_ranges per row group, and one get (the footer's); the other path a get per
    // range (each `get_range` is a ranged `get`)
    assert_eq!(requests(&one_registry, "get_ranges"), row_groups as f64);
    assert_eq!(requests(&one_registry, "get"), 1.0);
    assert_eq!(requests(&many_registry, "get_ranges"), 0.0);
    assert!(requests(&many_registry, "get") > 1.0 + 2.0 * row_groups as f64);

    assert_eq!(
        all_row_groups(&one, row_groups, &Projection::All).await,
        all_row_groups(&many, row_groups, &Projection::All).await
    );

    for trace in fixture.traces.iter().step_by(17) {
        let found = one.find_trace(&trace.trace_id).await.unwrap();
        assert_eq!(found, many.find_trace(&trace.trace_id).await.unwrap());
        assert_eq!(found.map(|found| found.trace_id), Some(trace.trace_id));
    }
}

/// The error of reading row group 0 after the data file was changed by `damage` (the footer
/// is read first, so the damage hits the ranged reads).
async fn error_after(
    fixture: &Fixture,
    single_request: bool,
    damage: impl Fn(&std::path::Path),
) -> contrail_storage::Error {
    let original = std::fs::read(fixture.data_file()).unwrap();
    let reader = fixture.reader(single_request, &Registry::new());
    reader.footer().await.unwrap();
    damage(&fixture.data_file());
    let error = reader
        .read_row_group(0, &Projection::All)
        .await
        .unwrap_err();
    std::fs::write(fixture.data_file(), original).unwrap();
    error
}

#[tokio::test]
async fn truncated_or_missing_data_file_fails_alike_on_both_paths() {
    let fixture = fixture().await;
    let truncate = |path: &std::path::Path| {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(16).unwrap();
    };
    let remove = |path: &std::path::Path| std::fs::remove_file(path).unwrap();

    let one = error_after(&fixture, true, truncate).await;
    let many = error_after(&fixture, false, truncate).await;
    // the short read leaves the ranges unfilled: the block is corrupt, named
    assert_eq!(one.code(), ErrorCode::DataCorrupt, "{one}");
    assert_eq!(many.code(), ErrorCode::DataCorrupt, "{many}");
    assert_eq!(one.to_string(), many.to_string());
    let object = block::object_path(&tenant(), &fixture.meta.block_id, block::DATA_OBJECT);
    assert!(one.to_string().contains(object.as_ref()), "{one}");

    let one = error_after(&fixture, true, remove).await;
    let many = error_after(&fixture, false, remove).await;
    assert_eq!(one.code(), ErrorCode::NotFound, "{one}");
    assert_eq!(many.code(), ErrorCode::NotFound, "{many}");
    assert!(one.to_string().contains(block::DATA_OBJECT), "{one}");
}
