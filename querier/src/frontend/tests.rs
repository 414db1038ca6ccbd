use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use contrail_proto::tempopb::{SearchResponse, TraceSearchMetadata};
use contrail_proto::{ManualClock, TenantId, TraceId};
use contrail_storage::block::{BlockMeta, RowGroupMeta, Uuid};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus::Registry;

use super::*;
use crate::blocklist::Blocklist;
use crate::metrics::QuerierMetrics;
use crate::recent::RecentData;
use crate::service::{SearchUpdate, TimeRange};

const SECOND: u64 = 1_000_000_000;

fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

/// A block with one row group per `(start_s, end_s, size)`.
fn meta(block: u128, row_groups: &[(u64, u64, u64)]) -> BlockMeta {
    let start = row_groups.iter().map(|r| r.0).min().unwrap();
    let end = row_groups.iter().map(|r| r.1).max().unwrap();
    BlockMeta {
        format: "vc1".into(),
        block_id: Uuid::from_u128(block),
        tenant_id: tenant(),
        start_time: Utc.timestamp_opt(start as i64, 0).unwrap(),
        end_time: Utc.timestamp_opt(end as i64, 0).unwrap(),
        min_id: TraceId::from_array([0; 16]),
        max_id: TraceId::from_array([0xff; 16]),
        total_objects: row_groups.len() as u64,
        total_spans: row_groups.len() as u64,
        total_records: row_groups.len() as u32,
        size: row_groups.iter().map(|r| r.2).sum(),
        footer_size: 100,
        bloom_shards: 1,
        bloom_size: 10,
        compaction_level: 0,
        replication_factor: 1,
        dedicated_columns: Vec::new(),
        compacted_from: Vec::new(),
        row_groups: row_groups
            .iter()
            .map(|(start, end, size)| RowGroupMeta {
                min_id: TraceId::from_array([0; 16]),
                max_id: TraceId::from_array([0xff; 16]),
                traces: 1,
                spans: 1,
                start_time_unix_nano: start * SECOND,
                end_time_unix_nano: end * SECOND,
                size: *size,
            })
            .collect(),
    }
}

#[test]
fn windows_cover_the_range_without_a_gap() {
    let settings = SplitSettings {
        query_backend_after: Duration::from_secs(15 * 60),
        query_ingesters_until: Duration::from_secs(30 * 60),
        query_end_cutoff: Duration::ZERO,
    };
    let now = 10_000 * SECOND;
    let range = TimeRange {
        start_secs: 5_000,
        end_secs: 10_000,
    };
    let windows = split_windows(range, now, settings);
    let (recent_start, recent_end) = windows.recent.unwrap();
    let (blocks_start, blocks_end) = windows.blocks.unwrap();
    assert_eq!(blocks_start, 5_000 * SECOND);
    assert_eq!(recent_end, 10_000 * SECOND + SECOND - 1);
    assert_eq!(recent_start, now - 1800 * SECOND);
    assert_eq!(blocks_end, now - 900 * SECOND);
    assert!(
        recent_start <= blocks_end,
        "the windows overlap: no instant is left out"
    );

    // Equal settings: one boundary, both sides include it; a trace across it is merged.
    let single = SplitSettings {
        query_backend_after: Duration::from_secs(600),
        query_ingesters_until: Duration::from_secs(600),
        query_end_cutoff: Duration::ZERO,
    };
    let windows = split_windows(range, now, single);
    assert_eq!(windows.recent.unwrap().0, windows.blocks.unwrap().1);

    // Entirely old: blocks only. Entirely recent: ingesters only. No range: recent only.
    let old = TimeRange {
        start_secs: 100,
        end_secs: 200,
    };
    assert_eq!(split_windows(old, now, settings).recent, None);
    let fresh = TimeRange {
        start_secs: 9_990,
        end_secs: 10_000,
    };
    assert_eq!(split_windows(fresh, now, settings).blocks, None);
    let unset = split_windows(TimeRange::default(), now, settings);
    assert_eq!(unset.blocks, None);
    assert!(unset.recent.is_some());

    // The end cutoff trims the end.
    let cut = SplitSettings {
        query_end_cutoff: Duration::from_secs(30),
        ..settings
    };
    let recent_hour = TimeRange {
        start_secs: 6_400,
        end_secs: 10_000,
    };
    assert_eq!(
        split_windows(recent_hour, now, cut).recent.unwrap().1,
        now - 30 * SECOND
    );
    assert_eq!(
        split_windows(fresh, now, cut).recent,
        None,
        "all of it inside the cutoff"
    );
}

#[test]
fn jobs_follow_row_groups_target_bytes_and_newest_first() {
    let older = Arc::new(meta(
        1,
        &[
            (100, 110, 40),
            (110, 120, 40),
            (120, 130, 40),
            (130, 140, 40),
        ],
    ));
    let newer = Arc::new(meta(2, &[(200, 210, 100), (210, 220, 10)]));
    let jobs = block_jobs(
        &tenant(),
        &[older.clone(), newer.clone()],
        (0, u64::MAX),
        80,
    );
    let shape: Vec<(u128, std::ops::Range<usize>, u64)> = jobs
        .iter()
        .map(|job| {
            (
                job.meta.block_id.as_u128(),
                job.row_groups.clone(),
                job.bytes,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![(2, 1..2, 10), (2, 0..1, 100), (1, 2..4, 80), (1, 0..2, 80)],
        "newest first; a job closes once it reaches the target"
    );
    // Row groups outside the window are not read.
    let window = (115 * SECOND, 125 * SECOND);
    let jobs = block_jobs(&tenant(), &[older, newer], window, 1_000);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].row_groups, 1..3);
}

fn trace(id: u64, start_s: u64) -> TraceSearchMetadata {
    TraceSearchMetadata {
        trace_id: format!("{id:x}"),
        root_service_name: "svc".into(),
        start_time_unix_nano: start_s * SECOND,
        duration_ms: 10,
        ..TraceSearchMetadata::default()
    }
}

#[test]
fn the_combiner_keeps_the_newest_within_the_budget() {
    let budget = Arc::new(MemoryBudget::unlimited());
    let mut combiner = SearchCombiner::new(2, 3, budget.clone());
    combiner
        .add(SearchResponse {
            traces: vec![trace(1, 10), trace(2, 30)],
            metrics: None,
        })
        .unwrap();
    assert!(combiner.can_skip(5 * SECOND), "two held: the limit is met");
    assert!(
        !combiner.can_skip(15 * SECOND),
        "a job ending after the 2nd newest start may matter"
    );
    let diff = combiner
        .add(SearchResponse {
            traces: vec![trace(3, 20), trace(2, 25)],
            metrics: None,
        })
        .unwrap();
    assert_eq!(diff.traces.len(), 2);
    assert!(combiner.can_skip(19 * SECOND));
    assert!(!combiner.can_skip(21 * SECOND));
    let answer = combiner.finish();
    let ids: Vec<&str> = answer.traces.iter().map(|t| t.trace_id.as_str()).collect();
    assert_eq!(
        ids,
        ["2", "3"],
        "trace 2 merged to start 25s, then 3 at 20s"
    );
    assert_eq!(budget.used_bytes(), 0, "everything released");

    let tiny = Arc::new(MemoryBudget::new(100));
    let mut combiner = SearchCombiner::new(10, 3, tiny);
    let error = combiner
        .add(SearchResponse {
            traces: vec![trace(1, 1)],
            metrics: None,
        })
        .unwrap_err();
    assert!(error.to_string().contains("memory budget"), "{error}");
    assert_eq!(error.code().http_status(), 400);
}

/// Block search double: traces per (block, row group), calls recorded, some blocks "gone".
#[derive(Default)]
struct FakeBlocks {
    traces: HashMap<(u128, usize), Vec<TraceSearchMetadata>>,
    gone: Mutex<Vec<u128>>,
    calls: Mutex<Vec<(u128, std::ops::Range<usize>)>>,
}

#[async_trait]
impl BlockSearch for FakeBlocks {
    async fn search(
        &self,
        job: &BlockJob,
        _request: &BlockSearchRequest,
        _budget: &MemoryBudget,
    ) -> crate::Result<SearchResponse> {
        let block = job.meta.block_id.as_u128();
        self.calls
            .lock()
            .unwrap()
            .push((block, job.row_groups.clone()));
        if self.gone.lock().unwrap().contains(&block) {
            return Err(crate::Error::Job {
                code: contrail_proto::ErrorCode::NotFound,
                message: "object not found".into(),
            });
        }
        let traces = job
            .row_groups
            .clone()
            .flat_map(|row_group| {
                self.traces
                    .get(&(block, row_group))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        Ok(SearchResponse {
            traces,
            metrics: None,
        })
    }

    async fn tag_names(
        &self,
        job: &BlockJob,
        _request: &crate::service::TagsRequest,
    ) -> crate::Result<contrail_proto::tempopb::SearchTagsV2Response> {
        let block = job.meta.block_id.as_u128();
        let scope = |name: &str, tags: Vec<String>| contrail_proto::tempopb::SearchTagsV2Scope {
            name: name.into(),
            tags,
        };
        Ok(contrail_proto::tempopb::SearchTagsV2Response {
            scopes: vec![
                scope(
                    "span",
                    vec![format!("attr.{block:02}"), "http.method".into()],
                ),
                scope("resource", vec!["service.name".into()]),
            ],
            metrics: None,
        })
    }

    async fn tag_values(
        &self,
        _job: &BlockJob,
        _request: &crate::service::TagValuesRequest,
    ) -> crate::Result<contrail_proto::tempopb::SearchTagValuesV2Response> {
        Ok(Default::default())
    }

    /// These blocks hold search answers, not spans: a metrics job finds nothing.
    async fn metrics(
        &self,
        _job: &BlockJob,
        request: &super::BlockMetricsRequest,
        _budget: &MemoryBudget,
    ) -> crate::Result<contrail_traceql::metrics::QueryPartial> {
        Ok(request
            .compiled
            .plan
            .empty_partial(&request.compiled.request))
    }
}

struct NoRecent;

#[async_trait]
impl RecentData for NoRecent {
    async fn find_trace_by_id(
        &self,
        _tenant: &TenantId,
        _trace_id: &TraceId,
    ) -> crate::Result<Vec<contrail_proto::tempopb::Trace>> {
        Ok(Vec::new())
    }
    async fn search(
        &self,
        _tenant: &TenantId,
        _request: &contrail_proto::tempopb::SearchRequest,
    ) -> crate::Result<Vec<SearchResponse>> {
        Ok(vec![SearchResponse::default()])
    }
    async fn search_tags(
        &self,
        _tenant: &TenantId,
        _request: &contrail_proto::tempopb::SearchTagsRequest,
    ) -> crate::Result<Vec<contrail_proto::tempopb::SearchTagsV2Response>> {
        Ok(Vec::new())
    }
    async fn search_tag_values(
        &self,
        _tenant: &TenantId,
        _request: &contrail_proto::tempopb::SearchTagValuesRequest,
    ) -> crate::Result<Vec<contrail_proto::tempopb::SearchTagValuesV2Response>> {
        Ok(Vec::new())
    }
    async fn query_range(
        &self,
        _tenant: &TenantId,
        _request: &contrail_proto::internal::v1::MetricsJobRequest,
    ) -> crate::Result<Vec<contrail_proto::internal::v1::MetricsPartial>> {
        Ok(Vec::new())
    }
}

async fn put_meta(store: &dyn ObjectStore, meta: &BlockMeta) {
    let path = contrail_storage::block::object_path(&meta.tenant_id, &meta.block_id, "meta.json");
    store
        .put(&path, PutPayload::from(serde_json::to_vec(meta).unwrap()))
        .await
        .unwrap();
}

/// Ten blocks, one per 100 s, each with three row groups holding one trace each.
async fn fixture(fake: &mut FakeBlocks, store: &dyn ObjectStore) {
    let mut id = 0;
    for block in 0..10u128 {
        let base = 1_000 + block as u64 * 100;
        let row_groups: Vec<(u64, u64, u64)> = (0..3)
            .map(|r| (base + r * 30, base + r * 30 + 20, 10))
            .collect();
        put_meta(store, &meta(block + 1, &row_groups)).await;
        for (index, row_group) in row_groups.iter().enumerate() {
            id += 1;
            fake.traces
                .insert((block + 1, index), vec![trace(id, row_group.0 + 1)]);
        }
    }
}

fn driver(
    store: Arc<dyn ObjectStore>,
    fake: Arc<FakeBlocks>,
    concurrent_jobs: usize,
) -> Arc<SearchDriver> {
    let metrics = QuerierMetrics::new(&Registry::new()).unwrap();
    let clock = Arc::new(ManualClock::new(100_000 * SECOND));
    Arc::new(SearchDriver {
        blocklist: Arc::new(Blocklist::new(
            store,
            clock.clone(),
            Duration::from_secs(30),
            metrics.clone(),
        )),
        runner: Arc::new(LocalJobRunner::new(fake, 4)),
        recent: Arc::new(NoRecent),
        clock,
        settings: SearchSettings {
            split: SplitSettings {
                query_backend_after: Duration::from_secs(900),
                query_ingesters_until: Duration::from_secs(1800),
                query_end_cutoff: Duration::ZERO,
            },
            target_bytes_per_job: 10,
            concurrent_jobs,
            max_query_memory_bytes: 64 << 20,
            query_timeout: Duration::from_secs(10),
        },
        metrics,
    })
}

fn request(limit: u32) -> crate::service::SearchRequest {
    crate::service::SearchRequest {
        query: "{}".into(),
        root: Arc::new(contrail_traceql::parse_and_validate("{}").unwrap()),
        limit,
        spans_per_span_set: 3,
        range: TimeRange {
            start_secs: 500,
            end_secs: 5_000,
        },
    }
}

async fn run(driver: &Arc<SearchDriver>, limit: u32) -> (SearchResponse, usize) {
    let mut stream = driver.search(vec![tenant()], request(limit));
    let mut progress = 0;
    use futures::StreamExt;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            SearchUpdate::Progress(_) => progress += 1,
            SearchUpdate::Final(answer) => return (answer, progress),
        }
    }
    panic!("no final result");
}

#[tokio::test]
async fn search_stops_early_and_answers_like_a_full_run() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut fake = FakeBlocks::default();
    fixture(&mut fake, store.as_ref()).await;
    let fake = Arc::new(fake);
    let (full, _) = run(&driver(store.clone(), fake.clone(), 1), 1000).await;
    assert_eq!(full.traces.len(), 30);
    let all_calls = fake.calls.lock().unwrap().len();
    assert_eq!(all_calls, 30, "one job per row group at this target size");

    for concurrent in [1, 3, 8] {
        fake.calls.lock().unwrap().clear();
        let (limited, progress) = run(&driver(store.clone(), fake.clone(), concurrent), 4).await;
        let ids: Vec<&str> = limited.traces.iter().map(|t| t.trace_id.as_str()).collect();
        let expected: Vec<&str> = full.traces[..4]
            .iter()
            .map(|t| t.trace_id.as_str())
            .collect();
        assert_eq!(
            ids, expected,
            "same newest four with {concurrent} jobs in flight"
        );
        let calls = fake.calls.lock().unwrap().clone();
        assert!(
            calls.len() < 30,
            "stopped early: {} jobs with {concurrent} in flight",
            calls.len()
        );
        assert_eq!(calls[0].0, 10, "the newest block first");
        assert!(progress >= 1);
        let metrics = limited.metrics.unwrap();
        assert_eq!(
            metrics.total_jobs, 30,
            "30 block jobs; the range is too old for ingesters"
        );
        assert_eq!(metrics.completed_jobs, 30, "skipped jobs count as done");
    }
}

#[tokio::test]
async fn a_block_compacted_under_the_search_is_replaced() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut fake = FakeBlocks::default();
    let old = meta(1, &[(1_000, 1_100, 10)]);
    put_meta(store.as_ref(), &old).await;
    fake.traces.insert((1, 0), vec![trace(1, 1_001)]);
    // The compactor's output, not yet in the querier's blocklist.
    fake.traces
        .insert((2, 0), vec![trace(1, 1_001), trace(2, 1_050)]);
    let fake = Arc::new(fake);
    let driver = driver(store.clone(), fake.clone(), 2);
    driver.blocklist.blocks(&tenant()).await.unwrap();
    // Compaction: the new block appears, the old one is marked compacted.
    put_meta(store.as_ref(), &meta(2, &[(1_000, 1_100, 10)])).await;
    contrail_storage::block::mark_compacted(store.as_ref(), &old, Utc::now())
        .await
        .unwrap();
    fake.gone.lock().unwrap().push(1);
    let (answer, _) = run(&driver, 20).await;
    let mut ids: Vec<&str> = answer.traces.iter().map(|t| t.trace_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["1", "2"]);

    // A block missing without being compacted is an error.
    fake.gone.lock().unwrap().push(2);
    store
        .delete(&contrail_storage::block::object_path(
            &tenant(),
            &Uuid::from_u128(2),
            "meta.json",
        ))
        .await
        .ok();
    put_meta(store.as_ref(), &meta(2, &[(1_000, 1_100, 10)])).await;
    let mut stream = driver.search(vec![tenant()], request(20));
    use futures::StreamExt;
    let mut failed = false;
    while let Some(update) = stream.next().await {
        if update.is_err() {
            failed = true;
        }
    }
    assert!(failed);
}

#[tokio::test]
async fn tags_merge_blocks_by_scope_with_limits_and_the_static_intrinsics() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut fake = FakeBlocks::default();
    fixture(&mut fake, store.as_ref()).await;
    let fake = Arc::new(fake);
    let driver = driver(store, fake, 4);
    let tags = TagsFrontend {
        blocklist: driver.blocklist.clone(),
        runner: driver.runner.clone(),
        recent: Arc::new(NoRecent),
        target_bytes_per_job: 1_000,
        concurrent_jobs: 3,
        query_timeout: Duration::from_secs(5),
    };
    let request = |scope, limit| crate::service::TagsRequest {
        scope,
        filter: None,
        range: TimeRange {
            start_secs: 500,
            end_secs: 5_000,
        },
        limit,
        max_stale_values: 0,
    };
    let all = tags
        .search_tags(&[tenant()], request(crate::service::TagScope::All, 0))
        .await
        .unwrap();
    let names: Vec<&str> = all.scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["resource", "span", "intrinsic"]);
    assert_eq!(
        all.scopes[1].tags.len(),
        11,
        "ten blocks' names and http.method, once each"
    );
    let metrics = all.metrics.unwrap();
    assert_eq!((metrics.total_jobs, metrics.total_blocks), (10, 10));
    let span = tags
        .search_tags(&[tenant()], request(crate::service::TagScope::Span, 3))
        .await
        .unwrap();
    assert_eq!(span.scopes.len(), 1);
    assert_eq!(span.scopes[0].tags, ["attr.01", "attr.02", "attr.03"]);
    // Without a range only recent data is read: no block jobs.
    let mut recent_only = request(crate::service::TagScope::All, 0);
    recent_only.range = TimeRange::default();
    let answer = tags.search_tags(&[tenant()], recent_only).await.unwrap();
    assert_eq!(answer.metrics.unwrap().total_jobs, 0);
    assert_eq!(answer.scopes.len(), 1, "only the static intrinsics");
}
