//! Shared fixtures: a WAL directory, a local-disk object store, a manual clock, corpus traces
//! as pre-encoded segments, and a running ingester.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::{ManualClock, PushBatch, TenantId, TraceId, tempopb};
use contrail_storage::block::{BlockReader, list_blocks};
use contrail_storage::config::{BlockConfig, WalConfig};
use contrail_storage::convert::Trace;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Ingester, IngesterArgs, IngesterConfig, Result, StaticLimits, TenantLimits};

pub(super) const START_UNIX_NANO: u64 = 1_704_067_200_000_000_000;

pub(super) struct Fixture {
    pub(super) wal_dir: tempfile::TempDir,
    pub(super) _store_dir: tempfile::TempDir,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) clock: ManualClock,
    pub(super) limits: Arc<dyn TenantLimits>,
    pub(super) config: IngesterConfig,
    pub(super) wal: WalConfig,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let wal_dir = tempfile::tempdir().expect("wal dir");
        let store_dir = tempfile::tempdir().expect("store dir");
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(store_dir.path()).expect("store"));
        let wal = WalConfig {
            path: wal_dir.path().to_path_buf(),
            ..WalConfig::default()
        };
        Fixture {
            wal_dir,
            _store_dir: store_dir,
            store,
            clock: ManualClock::new(START_UNIX_NANO),
            limits: Arc::new(StaticLimits::default()),
            config: test_config(),
            wal,
        }
    }

    pub(super) fn args(&self) -> IngesterArgs {
        IngesterArgs {
            config: self.config.clone(),
            wal: self.wal.clone(),
            block: BlockConfig::default(),
            store: self.store.clone(),
            limits: self.limits.clone(),
            registry: prometheus::Registry::new(),
            clock: Arc::new(self.clock.clone()),
        }
    }

    pub(super) async fn start(&self) -> Running {
        let ingester = Ingester::new(self.args()).expect("ingester");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(ingester.clone().run(shutdown.clone()));
        assert!(ingester.wait_ready().await, "ingester did not become ready");
        Running {
            ingester,
            shutdown,
            handle,
        }
    }

    /// WAL segment files present.
    pub(super) fn wal_segments(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.wal_dir.path())
            .expect("wal dir")
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.ends_with(".wal"))
            .collect();
        names.sort();
        names
    }

    /// Every span ID of `trace_id` in the uploaded blocks of `tenant`.
    pub(super) async fn stored_span_ids(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Vec<[u8; 8]> {
        let blocks = list_blocks(self.store.clone(), tenant).await.expect("list");
        let mut ids = Vec::new();
        for meta in blocks.live {
            let reader = BlockReader::open(self.store.clone(), meta).expect("open");
            if let Some(trace) = reader.find_trace(trace_id).await.expect("find") {
                ids.extend(span_ids(&trace));
            }
        }
        ids
    }
}

pub(super) fn test_config() -> IngesterConfig {
    IngesterConfig {
        trace_idle_period: Duration::from_secs(10),
        max_trace_live_period: Duration::from_secs(60),
        max_block_bytes: ByteSize::mib(16),
        max_block_duration: Duration::from_secs(60),
        complete_block_timeout: Duration::from_secs(300),
        flush_check_period: Duration::from_millis(10),
        max_bytes_in_memory: ByteSize::mib(256),
        ..IngesterConfig::default()
    }
}

pub(super) struct Running {
    pub(super) ingester: Ingester,
    pub(super) shutdown: CancellationToken,
    pub(super) handle: JoinHandle<Result<()>>,
}

impl Running {
    /// `/shutdown` as the endpoint does it, then waits for `run` to end.
    pub(super) async fn request_shutdown_and_wait(self) {
        self.ingester.request_shutdown();
        self.handle
            .await
            .expect("run task")
            .expect("clean shutdown");
    }

    pub(super) async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.handle.await.expect("run task")
    }
}

/// One corpus trace as a pre-encoded segment, with its span IDs.
#[derive(Debug, Clone)]
pub(super) struct TestTrace {
    pub(super) trace_id: TraceId,
    pub(super) segment: TraceSegment,
    pub(super) span_ids: BTreeSet<[u8; 8]>,
}

pub(super) fn corpus(seed: u64, traces: usize) -> Vec<TestTrace> {
    let mut generator = Generator::new(CorpusConfig {
        seed,
        ..CorpusConfig::default()
    });
    (0..traces)
        .map(|_| {
            let resource_spans = generator.next_trace();
            let trace_id = resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .next()
                .map(|span| TraceId::from_ingest_bytes(&span.trace_id).expect("trace id"))
                .expect("a span");
            let trace = tempopb::Trace { resource_spans };
            let span_ids = trace
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|span| span.span_id.as_slice().try_into().expect("8 bytes"))
                .collect();
            TestTrace {
                trace_id,
                segment: TraceSegment::from_trace(trace_id, &trace),
                span_ids,
            }
        })
        .collect()
}

pub(super) fn batch(traces: &[TestTrace]) -> PushBatch {
    PushBatch {
        segments: traces.iter().map(|trace| trace.segment.clone()).collect(),
        checked: true,
    }
}

pub(super) fn span_ids(trace: &Trace) -> Vec<[u8; 8]> {
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| span.span_id.as_slice().try_into().expect("8 bytes"))
        .collect()
}

pub(super) fn tenant() -> TenantId {
    TenantId::new("acme").expect("tenant")
}

/// Polls `condition` every 10 ms for up to 20 s.
pub(super) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..2000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Uploaded blocks of `tenant`.
pub(super) async fn block_count(store: &Arc<dyn ObjectStore>, tenant: &TenantId) -> usize {
    list_blocks(store.clone(), tenant)
        .await
        .map(|blocks| blocks.live.len())
        .unwrap_or(0)
}

/// A store that refuses `meta.json` puts while `refuse_meta` is set (an object store outage at
/// the worst moment), delegating everything else.
#[derive(Debug)]
pub(super) struct GatedStore {
    pub(super) inner: Arc<dyn ObjectStore>,
    pub(super) refuse_meta: std::sync::atomic::AtomicBool,
}

impl std::fmt::Display for GatedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatedStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for GatedStore {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if location.as_ref().ends_with("meta.json")
            && self.refuse_meta.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(object_store::Error::Generic {
                store: "gated",
                source: "object store unavailable".into(),
            });
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Every span of `traces` is found by trace ID.
pub(super) async fn assert_every_span_found(ingester: &Ingester, traces: &[TestTrace]) {
    for trace in traces {
        let found = ingester
            .find_trace_by_id(&tenant(), &trace.trace_id)
            .await
            .expect("find")
            .unwrap_or_else(|| panic!("trace {} lost", trace.trace_id));
        let mut ids = span_ids(&found);
        ids.sort_unstable();
        assert_eq!(ids, trace.span_ids.iter().copied().collect::<Vec<_>>());
    }
}

/// Pushes `traces` in batches of `batch_size`, each acknowledged.
pub(super) async fn push_in_batches(ingester: &Ingester, traces: &[TestTrace], batch_size: usize) {
    for chunk in traces.chunks(batch_size) {
        ingester.push(&tenant(), batch(chunk)).await.expect("push");
    }
}
