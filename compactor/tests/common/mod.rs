//! Helpers shared by the compactor's tests: corpus blocks near the test clock, compactors with
//! a manual clock, what a reader sees, and a store that "dies" after a number of writes.
#![allow(dead_code, unreachable_pub)]

mod crash;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contrail_compactor::{
    CompactionOverrides, Compactor, CompactorArgs, CompactorConfig, NoOverrides, StaticMembers,
};
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::{Clock, ManualClock, TenantId};
use contrail_storage::block::{
    BlockList, BlockMeta, BlockReader, BlockWriter, BlockWriterConfig, list_blocks,
};
use contrail_storage::config::BlockConfig;
use contrail_storage::convert::{Trace, split_by_trace};
use object_store::ObjectStore;
use object_store::memory::InMemory;

#[allow(unused_imports)]
pub use crash::CrashStore;

pub fn tenant() -> TenantId {
    TenantId::new("tenant-a").expect("valid tenant")
}

pub fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

/// The real time now, whole seconds (stores stamp objects with real time).
pub fn real_now_unix_nanos() -> u64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    seconds * 1_000_000_000
}

/// `count` corpus traces of `seed`, starting at `start_unix_nano`, sorted by trace ID.
pub fn traces_at(seed: u64, count: usize, start_unix_nano: u64) -> Vec<Trace> {
    let mut generator = Generator::new(CorpusConfig {
        seed,
        start_time_unix_nano: start_unix_nano,
        traces_per_second: 100.0,
    });
    let mut all = Vec::new();
    for _ in 0..count {
        all.extend(generator.next_trace());
    }
    split_by_trace(all)
        .expect("corpus trace IDs are 16 bytes")
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect()
}

/// Small row groups and pages, so blocks have several of each.
pub fn small_writer(tenant: &TenantId) -> BlockWriterConfig {
    let mut config = BlockWriterConfig::new(tenant.clone());
    config.row_group_target_bytes = 64 * 1024;
    config.batch_spans = 500;
    config.parquet.data_page_size_bytes = 8 * 1024;
    config
}

/// Writes `traces` (sorted) as one level-0 block of `tenant`.
pub async fn write_block(
    store: &Arc<dyn ObjectStore>,
    tenant: &TenantId,
    traces: Vec<Trace>,
) -> BlockMeta {
    let mut writer = BlockWriter::new(store.clone(), small_writer(tenant)).expect("writer");
    for trace in traces {
        writer.push_trace(trace).await.expect("push");
    }
    writer.finish().await.expect("finish").meta
}

/// A compactor config for tests: small row groups, short leases, 1 h windows.
pub fn test_config(instance: &str) -> CompactorConfig {
    let mut config = CompactorConfig::default();
    config.sharding.instance_id = Some(instance.to_owned());
    config.compaction.lease_duration = Duration::from_secs(60);
    config
}

/// The output block settings used by the tests (small row groups).
pub fn test_block_config() -> BlockConfig {
    BlockConfig {
        parquet_row_group_size_bytes: bytesize::ByteSize::kib(64),
        ..BlockConfig::default()
    }
}

/// What a compactor is built from in tests.
pub struct TestCompactor {
    pub config: CompactorConfig,
    pub members: Vec<String>,
    pub overrides: Arc<dyn CompactionOverrides>,
    pub registry: prometheus::Registry,
}

impl TestCompactor {
    pub fn new(instance: &str) -> Self {
        TestCompactor {
            config: test_config(instance),
            members: Vec::new(),
            overrides: Arc::new(NoOverrides),
            registry: prometheus::Registry::new(),
        }
    }

    pub fn build(&self, store: Arc<dyn ObjectStore>, clock: &ManualClock) -> Compactor {
        self.build_with(store, Arc::new(clock.clone()))
    }

    pub fn build_with(&self, store: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>) -> Compactor {
        let instance = self.config.sharding.instance_id();
        Compactor::new(CompactorArgs {
            config: self.config.clone(),
            block: test_block_config(),
            store,
            members: Arc::new(StaticMembers::new(&instance, self.members.clone())),
            overrides: self.overrides.clone(),
            clock,
            registry: &self.registry,
        })
        .expect("compactor")
    }
}

/// A span as a reader identifies it: trace ID, span ID and kind.
pub type SpanKey = (Vec<u8>, Vec<u8>, i32);

/// Every span of a block, read row group by row group (fails on any unreadable part).
pub async fn block_spans(store: &Arc<dyn ObjectStore>, meta: &BlockMeta) -> Vec<SpanKey> {
    let reader = BlockReader::open(store.clone(), meta.clone()).expect("open");
    let mut spans = Vec::new();
    for row_group in 0..meta.total_records as usize {
        let traces = reader
            .read_row_group_traces(row_group)
            .await
            .expect("row group reads");
        for trace in traces {
            for resource_spans in &trace.resource_spans {
                for scope_spans in &resource_spans.scope_spans {
                    for span in &scope_spans.spans {
                        spans.push((span.trace_id.clone(), span.span_id.clone(), span.kind));
                    }
                }
            }
        }
    }
    assert_eq!(
        spans.len() as u64,
        meta.total_spans,
        "block {}",
        meta.block_id
    );
    spans
}

/// Every span of `traces`.
pub fn trace_spans(traces: &[Trace]) -> HashSet<SpanKey> {
    traces
        .iter()
        .flat_map(|trace| &trace.resource_spans)
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .flat_map(|scope_spans| &scope_spans.spans)
        .map(|span| (span.trace_id.clone(), span.span_id.clone(), span.kind))
        .collect()
}

/// How often each span is stored in the given live blocks.
pub async fn span_counts(
    store: &Arc<dyn ObjectStore>,
    blocks: &[BlockMeta],
) -> BTreeMap<SpanKey, usize> {
    let mut counts = BTreeMap::new();
    for meta in blocks {
        for span in block_spans(store, meta).await {
            *counts.entry(span).or_insert(0) += 1;
        }
    }
    counts
}

/// The live blocks a reader searches: every live block that no listed block replaces.
pub fn reader_view(list: &BlockList) -> Vec<BlockMeta> {
    let replaced = contrail_compactor::superseded(list);
    list.live
        .iter()
        .filter(|meta| !replaced.contains(&meta.block_id))
        .cloned()
        .collect()
}

/// Asserts that every span of `expected` is stored exactly once in `blocks`, and nothing else.
pub async fn assert_exactly_once(
    store: &Arc<dyn ObjectStore>,
    blocks: &[BlockMeta],
    expected: &HashSet<SpanKey>,
    context: &str,
) {
    let counts = span_counts(store, blocks).await;
    let twice: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "{context}: {} spans stored more than once",
        twice.len()
    );
    let stored: HashSet<SpanKey> = counts.into_keys().collect();
    let missing = expected.difference(&stored).count();
    let extra = stored.difference(expected).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "{context}: spans missing / unexpected"
    );
}

/// The tenant's listing.
pub async fn list(store: &Arc<dyn ObjectStore>, tenant: &TenantId) -> BlockList {
    list_blocks(store.clone(), tenant).await.expect("list")
}

/// Asserts that what a reader sees (the live blocks no listed block replaces) is either the
/// state before the job (`before`: every span as often as the inputs held it, RF copies
/// included) or the state after it (every span of `unique` once): never inputs and output at
/// once, never a span lost.
pub async fn assert_before_or_after(
    store: &Arc<dyn ObjectStore>,
    listed: &BlockList,
    before: &BTreeMap<SpanKey, usize>,
    unique: &HashSet<SpanKey>,
    context: &str,
) {
    let visible = span_counts(store, &reader_view(listed)).await;
    let after: BTreeMap<SpanKey, usize> = unique.iter().map(|span| (span.clone(), 1)).collect();
    assert!(
        visible == *before || visible == after,
        "{context}: a reader sees {} span rows ({} distinct), neither the {} before nor the {} after",
        visible.values().sum::<usize>(),
        visible.len(),
        before.values().sum::<usize>(),
        after.len()
    );
}
