//! One backend suite, written once over `Arc<dyn ObjectStore>` as `build_object_store` returns
//! it, run against the local filesystem, the in-process S3 server, that server behind a fault
//! injector (retries must hide the faults), and memory.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use contrail_proto::ErrorCode;
use contrail_storage::config::{Backend, TraceStorageConfig};
use contrail_storage::{Error, build_object_store};
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use prometheus::Registry;
use tokio::io::AsyncWriteExt;

use support::{FaultPlan, TestS3};

/// Bigger than 20 MiB and not a multiple of the part size.
const LARGE_OBJECT_BYTES: usize = 20 * 1024 * 1024 + 12_345;
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Where the suite can see objects outside the store, to check that the prefix is applied.
struct OnDisk {
    /// Directory that must hold `<key>` for every object the suite writes.
    root: PathBuf,
}

/// Deterministic, incompressible bytes.
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn metric_value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let families = registry.gather();
    let Some(family) = families.iter().find(|family| family.name() == name) else {
        return 0.0;
    };
    let is_counter = family.get_field_type() == prometheus::proto::MetricType::COUNTER;
    family
        .get_metric()
        .iter()
        .filter(|metric| {
            labels.iter().all(|(key, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == *key && label.value() == *value)
            })
        })
        .map(|metric| {
            if is_counter {
                metric.get_counter().get_value()
            } else {
                metric.get_histogram().get_sample_count() as f64
            }
        })
        .sum()
}

async fn get_bytes(store: &Arc<dyn ObjectStore>, path: &Path) -> Bytes {
    store
        .get(path)
        .await
        .unwrap_or_else(|err| panic!("get {path}: {err}"))
        .bytes()
        .await
        .unwrap_or_else(|err| panic!("read body of {path}: {err}"))
}

/// The suite. `registry` is the fresh registry the store was built with.
async fn backend_suite(store: Arc<dyn ObjectStore>, registry: &Registry, on_disk: Option<OnDisk>) {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("  {name} done at {:?}", started.elapsed());
    let data = Path::from("suite/t1/b1/data.parquet");
    let body = Bytes::from_static(b"0123456789abcdefghij");

    // put / get / ranges / head
    store.put(&data, body.clone().into()).await.expect("put");
    assert_eq!(get_bytes(&store, &data).await, body);
    let range = store.get_range(&data, 5..12).await.expect("get_range");
    assert_eq!(range.as_ref(), b"56789ab");
    let ranges = store
        .get_ranges(&data, &[0..2, 18..20])
        .await
        .expect("get_ranges");
    assert_eq!(
        ranges,
        [Bytes::from_static(b"01"), Bytes::from_static(b"ij")]
    );
    let meta = store.head(&data).await.expect("head");
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.location, data);
    if let Some(disk) = &on_disk {
        let file = disk.root.join("suite/t1/b1/data.parquet");
        assert_eq!(
            std::fs::read(&file).expect("object on disk under the prefix"),
            body
        );
    }

    phase("put/get/range/head");

    // list with a prefix, recursive and by directory
    for key in [
        "suite/t1/b1/meta.json",
        "suite/t1/b2/meta.json",
        "suite/t2/b1/meta.json",
    ] {
        store
            .put(&Path::from(key), "{}".into())
            .await
            .expect("put meta");
    }
    let mut listed: Vec<String> = store
        .list(Some(&Path::from("suite/t1")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list");
    listed.sort();
    assert_eq!(
        listed,
        [
            "suite/t1/b1/data.parquet",
            "suite/t1/b1/meta.json",
            "suite/t1/b2/meta.json"
        ]
    );
    let by_block = store
        .list_with_delimiter(Some(&Path::from("suite/t1")))
        .await
        .expect("list_with_delimiter");
    let mut blocks: Vec<String> = by_block
        .common_prefixes
        .iter()
        .map(ToString::to_string)
        .collect();
    blocks.sort();
    assert_eq!(blocks, ["suite/t1/b1", "suite/t1/b2"]);
    let tenants = store
        .list_with_delimiter(Some(&Path::from("suite")))
        .await
        .expect("list tenants");
    assert_eq!(tenants.common_prefixes.len(), 2);

    phase("list");

    // conditional create
    let marker = Path::from("suite/t1/b3/meta.json");
    let create = || PutOptions::from(PutMode::Create);
    store
        .put_opts(&marker, "first".into(), create())
        .await
        .expect("first conditional create");
    let second = store
        .put_opts(&marker, "second".into(), create())
        .await
        .expect_err("second conditional create must fail");
    let second = Error::from_store("put", &marker, second);
    assert!(matches!(second, Error::AlreadyExists { .. }), "{second}");
    assert_eq!(get_bytes(&store, &marker).await.as_ref(), b"first");

    phase("conditional create");

    // delete, then not-found everywhere, mapped to Error::NotFound
    store.delete(&marker).await.expect("delete");
    for result in [
        store.head(&marker).await.map(|_| ()),
        store.get(&marker).await.map(|_| ()),
        store.get_range(&marker, 0..1).await.map(|_| ()),
    ] {
        let error = Error::from_store("get", &marker, result.expect_err("deleted object"));
        assert!(matches!(error, Error::NotFound { .. }), "{error}");
        assert_eq!(error.code(), ErrorCode::NotFound);
        assert!(
            error.to_string().contains("suite/t1/b3/meta.json"),
            "{error}"
        );
    }
    if let Some(disk) = &on_disk {
        assert!(!disk.root.join("suite/t1/b3/meta.json").exists());
    }

    phase("delete/not found");

    // multipart upload through BufWriter, > 20 MiB, byte-exact round trip
    let large = Path::from("suite/t1/b4/data.parquet");
    let expected = pseudo_random_bytes(LARGE_OBJECT_BYTES, 42);
    let mut writer = BufWriter::with_capacity(Arc::clone(&store), large.clone(), PART_BYTES);
    for chunk in expected.chunks(1024 * 1024 + 7) {
        writer.write_all(chunk).await.expect("buffered write");
    }
    writer
        .shutdown()
        .await
        .expect("complete the multipart upload");
    assert_eq!(
        store.head(&large).await.expect("head large").size,
        expected.len() as u64
    );
    let round_trip = get_bytes(&store, &large).await;
    assert!(
        round_trip.as_ref() == expected.as_slice(),
        "large object bytes differ"
    );
    let tail = store
        .get_range(
            &large,
            (LARGE_OBJECT_BYTES as u64 - 8)..LARGE_OBJECT_BYTES as u64,
        )
        .await
        .expect("footer read");
    assert_eq!(tail.as_ref(), &expected[LARGE_OBJECT_BYTES - 8..]);

    phase("multipart");

    // metrics, from the store's own fresh registry
    let requests = "contrail_storage_requests_total";
    assert!(
        metric_value(
            registry,
            requests,
            &[("operation", "put"), ("status", "ok")]
        ) >= 5.0
    );
    assert!(
        metric_value(
            registry,
            requests,
            &[("operation", "head"), ("status", "not_found")]
        ) >= 1.0
    );
    assert!(
        metric_value(
            registry,
            requests,
            &[("operation", "put"), ("status", "already_exists")]
        ) >= 1.0
    );
    assert!(
        metric_value(
            registry,
            requests,
            &[("operation", "list"), ("status", "ok")]
        ) >= 1.0
    );
    let part_puts = metric_value(
        registry,
        requests,
        &[("operation", "put_part"), ("status", "ok")],
    );
    assert!(part_puts >= 5.0, "20 MiB in 5 MiB parts: {part_puts} parts");
    let durations = "contrail_storage_request_duration_seconds";
    assert!(metric_value(registry, durations, &[("operation", "get")]) >= 1.0);
    let written = metric_value(
        registry,
        "contrail_storage_bytes_total",
        &[("operation", "put_multipart"), ("direction", "write")],
    );
    assert_eq!(written, LARGE_OBJECT_BYTES as f64);
    let read = metric_value(
        registry,
        "contrail_storage_bytes_total",
        &[("direction", "read")],
    );
    assert!(read >= LARGE_OBJECT_BYTES as f64, "read {read} bytes");

    // clean up with a listing-driven bulk delete
    let everything = store
        .list(Some(&Path::from("suite")))
        .map_ok(|meta| meta.location)
        .boxed();
    let deleted: Vec<Path> = store
        .delete_stream(everything)
        .try_collect()
        .await
        .expect("delete all");
    assert_eq!(deleted.len(), 5);
    let left: Vec<_> = store
        .list(Some(&Path::from("suite")))
        .try_collect()
        .await
        .expect("list");
    assert!(left.is_empty(), "{left:?}");
    phase("bulk delete");
}

fn build(config: &TraceStorageConfig) -> (Arc<dyn ObjectStore>, Registry) {
    let registry = Registry::new();
    let store = build_object_store(config, &registry).expect("build the object store");
    (store, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_local_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TraceStorageConfig::default();
    config.local.path = dir.path().join("blocks");
    let (store, registry) = build(&config);
    let root = config.local.path.clone();
    backend_suite(store, &registry, Some(OnDisk { root })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_memory() {
    let config = TraceStorageConfig {
        backend: Backend::Memory,
        ..TraceStorageConfig::default()
    };
    let (store, registry) = build(&config);
    backend_suite(store, &registry, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_s3() {
    let s3 = TestS3::start().await;
    let mut config = s3.config();
    config.s3.prefix = "/cluster-a/traces/".to_string();
    let (store, registry) = build(&config);
    let root = s3.bucket_dir().join("cluster-a/traces");
    backend_suite(store, &registry, Some(OnDisk { root })).await;
    assert_eq!(s3.faults().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_s3_behind_faults_passes_thanks_to_retries() {
    let plan = FaultPlan {
        error_fraction: 0.15,
        delay_fraction: 0.03,
        delay: Duration::from_secs(5),
    };
    let s3 = TestS3::start_faulty(plan).await;
    let config = s3.config();
    assert!(
        plan.delay > config.requests.timeout,
        "delays must outlast the client timeout"
    );
    let (store, registry) = build(&config);
    let started = Instant::now();
    backend_suite(
        store,
        &registry,
        Some(OnDisk {
            root: s3.bucket_dir(),
        }),
    )
    .await;
    let faults = s3.faults();
    eprintln!(
        "faulty s3: {} requests, {faults:?}, suite took {:?}",
        s3.requests(),
        started.elapsed()
    );
    assert!(faults.errors >= 3, "{faults:?}");
    assert!(faults.delays >= 1, "{faults:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_with_wrong_credentials_is_denied_not_retried_forever() {
    let s3 = TestS3::start().await;
    let mut config = s3.config();
    config.s3.secret_key = contrail_storage::config::Secret::new("not-the-secret");
    let (store, _registry) = build(&config);
    let started = Instant::now();
    let error = store
        .put(&Path::from("x"), "y".into())
        .await
        .expect_err("bad signature");
    let error = Error::from_store("put", "x", error);
    assert_ne!(error.code(), ErrorCode::NotFound, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "4xx must not be retried"
    );
    assert!(!s3.bucket_dir().join("x").exists());
}

#[tokio::test]
async fn building_twice_in_one_registry_fails_cleanly() {
    let config = TraceStorageConfig {
        backend: Backend::Memory,
        ..TraceStorageConfig::default()
    };
    let registry = Registry::new();
    build_object_store(&config, &registry).expect("first build");
    let error = build_object_store(&config, &registry).expect_err("second build");
    assert_eq!(error.code(), ErrorCode::Internal);
}
