//! Distributed mode: block jobs sent by the frontend's `RemoteJobRunner` to a querier's
//! `JobServiceApi` over gRPC on 127.0.0.1:0, including a retry when a querier is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::tempopb::{
    SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response, SearchTagsV2Scope, TagValue,
    TraceSearchMetadata,
};
use contrail_proto::{TenantId, TraceId};
use contrail_querier::frontend::{
    BlockJob, BlockMetricsRequest, BlockSearch, BlockSearchRequest, JobRunner, LocalJobRunner,
};
use contrail_querier::recent::StaticMembers;
use contrail_querier::remote::{JobServiceApi, RemoteJobRunner};
use contrail_querier::service::{TagScope, TagValuesRequest, TagsRequest, TimeRange};
use contrail_storage::block::{BlockMeta, RowGroupMeta, Uuid};
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, QueryPartial, SpanStarts, TimeWindow, run_metrics,
};
use contrail_traceql::search::driver::CpuRunner;
use contrail_traceql::{InlineRunner, MemorySource, MemoryTrace};

const BASE: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

/// One span of trace `index`, starting at `BASE + index` seconds.
fn metrics_trace(index: usize) -> MemoryTrace {
    let mut id = [0u8; 16];
    id[15] = index as u8 + 1;
    let start = BASE + index as u64 * SECOND;
    MemoryTrace {
        trace_id: TraceId::from_array(id),
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: id.to_vec(),
                    span_id: vec![0, 0, 0, 0, 0, 0, 0, index as u8 + 1],
                    name: "op".into(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000,
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

#[derive(Default)]
struct EchoJobs {
    calls: AtomicUsize,
}

#[async_trait]
impl BlockSearch for EchoJobs {
    async fn search(
        &self,
        job: &BlockJob,
        request: &BlockSearchRequest,
        budget: &MemoryBudget,
    ) -> contrail_querier::Result<SearchResponse> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            budget.limit_bytes(),
            1 << 20,
            "the budget travels with the job"
        );
        Ok(SearchResponse {
            traces: vec![TraceSearchMetadata {
                trace_id: format!(
                    "{}-{:?}-{}",
                    job.meta.block_id, job.row_groups, request.query
                ),
                start_time_unix_nano: request.start_unix_nano,
                ..TraceSearchMetadata::default()
            }],
            metrics: None,
        })
    }

    async fn tag_names(
        &self,
        _job: &BlockJob,
        request: &TagsRequest,
    ) -> contrail_querier::Result<SearchTagsV2Response> {
        Ok(SearchTagsV2Response {
            scopes: vec![SearchTagsV2Scope {
                name: format!("{:?}", request.scope),
                tags: vec![request.filter.clone().unwrap_or_default()],
            }],
            metrics: None,
        })
    }

    async fn tag_values(
        &self,
        _job: &BlockJob,
        request: &TagValuesRequest,
    ) -> contrail_querier::Result<SearchTagValuesV2Response> {
        Ok(SearchTagValuesV2Response {
            tag_values: vec![TagValue {
                r#type: "string".into(),
                value: format!("{:?}", request.tag),
            }],
            metrics: None,
        })
    }

    /// A metrics job over one span per row group of the job, at the job's `BASE + row group`
    /// seconds: what arrives (window, span starts, exemplars) decides the answer.
    async fn metrics(
        &self,
        job: &BlockJob,
        request: &BlockMetricsRequest,
        budget: &MemoryBudget,
    ) -> contrail_querier::Result<QueryPartial> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            budget.limit_bytes(),
            1 << 20,
            "the budget travels with the job"
        );
        let traces = job.row_groups.clone().map(metrics_trace).collect();
        let runner: Arc<dyn CpuRunner> = Arc::new(InlineRunner);
        let sources: Vec<Arc<dyn SpanSource>> = vec![Arc::new(MemorySource::new(traces, runner))];
        let outcome = run_metrics(
            &request.compiled,
            &sources,
            &InlineRunner,
            &MemoryBudget::unlimited(),
        )
        .await
        .map_err(|error| contrail_querier::Error::internal(error.to_string()))?;
        Ok(outcome.partial)
    }
}

fn job() -> BlockJob {
    let row_group = RowGroupMeta {
        min_id: TraceId::from_array([0; 16]),
        max_id: TraceId::from_array([0xff; 16]),
        traces: 1,
        spans: 1,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        size: 10,
    };
    let meta = BlockMeta {
        format: "vc1".into(),
        block_id: Uuid::from_u128(7),
        tenant_id: TenantId::new("t1").unwrap(),
        start_time: Utc.timestamp_opt(0, 1_000).unwrap(),
        end_time: Utc.timestamp_opt(0, 2_000).unwrap(),
        min_id: TraceId::from_array([0; 16]),
        max_id: TraceId::from_array([0xff; 16]),
        total_objects: 2,
        total_spans: 2,
        total_records: 2,
        size: 20,
        footer_size: 10,
        bloom_shards: 1,
        bloom_size: 10,
        compaction_level: 0,
        replication_factor: 1,
        dedicated_columns: Vec::new(),
        row_groups: vec![row_group.clone(), row_group],
        compacted_from: Vec::new(),
    };
    BlockJob {
        tenant: TenantId::new("t1").unwrap(),
        meta: Arc::new(meta),
        row_groups: 1..2,
        bytes: 10,
        start_unix_nano: 1_000,
        end_unix_nano: 2_000,
        merge_with: Vec::new(),
    }
}

#[tokio::test]
async fn block_jobs_run_on_a_remote_querier_and_retry_past_a_dead_one() {
    let jobs = Arc::new(EchoJobs::default());
    let runner = Arc::new(LocalJobRunner::new(jobs.clone(), 2));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(JobServiceApi::new(runner).into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    // A port nothing listens on: the first pick fails with Unavailable and is retried.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let members = StaticMembers(vec![
        format!("http://{dead_addr}"),
        format!("http://{addr}"),
    ]);
    let remote = RemoteJobRunner::new(Arc::new(members), Duration::from_secs(5), 2);
    let request = Arc::new(BlockSearchRequest {
        query: "{ status = error }".into(),
        root: Arc::new(contrail_traceql::parse_and_validate("{ status = error }").unwrap()),
        start_unix_nano: 1_500,
        end_unix_nano: 3_000,
        limit: 20,
        spans_per_span_set: 3,
    });
    for _ in 0..4 {
        let answer = remote
            .search(job(), request.clone(), Arc::new(MemoryBudget::new(1 << 20)))
            .await
            .unwrap();
        assert_eq!(
            answer.traces[0].trace_id,
            format!("{}-1..2-{{ status = error }}", Uuid::from_u128(7))
        );
        assert_eq!(answer.traces[0].start_time_unix_nano, 1_500);
    }
    assert_eq!(jobs.calls.load(Ordering::SeqCst), 4);

    let tags = remote
        .tag_names(
            job(),
            Arc::new(TagsRequest {
                scope: TagScope::Span,
                filter: Some("{ name = \"x\" }".into()),
                range: TimeRange::default(),
                limit: 0,
                max_stale_values: 0,
            }),
        )
        .await
        .unwrap();
    assert_eq!(tags.scopes[0].name, "Span");
    assert_eq!(tags.scopes[0].tags, ["{ name = \"x\" }"]);
    let values = remote
        .tag_values(
            job(),
            Arc::new(
                contrail_querier::params::parse_tag_values(
                    "resource.service.name",
                    true,
                    &Default::default(),
                    0,
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(values.tag_values[0].value.contains("service.name"));

    // A job naming row groups the block does not have is refused.
    let mut bad = job();
    bad.row_groups = 1..9;
    let error = remote
        .search(bad, request, Arc::new(MemoryBudget::new(1 << 20)))
        .await
        .unwrap_err();
    assert_eq!(error.code().http_status(), 400, "{error}");

    // A metrics job: the remote answer equals the local one, span starts included (row groups
    // 1..2 hold spans at BASE + 1 s; the job counts only spans from BASE + 1 s on).
    let mut metrics_job = job();
    metrics_job.row_groups = 0..2;
    let query = "{ } | count_over_time()";
    let window = TimeWindow::instant(BASE - SECOND, BASE + 10 * SECOND).unwrap();
    let compiled = Arc::new(
        MetricsQuery::new(
            MetricsPlan::parse(query).unwrap(),
            MetricsRequest {
                span_starts: SpanStarts::from(BASE + SECOND),
                max_exemplars: 2,
                ..MetricsRequest::new(window)
            },
        )
        .unwrap(),
    );
    let request = Arc::new(BlockMetricsRequest {
        query: query.into(),
        compiled: compiled.clone(),
    });
    let budget = Arc::new(MemoryBudget::new(1 << 20));
    let remote_partial = remote
        .metrics(metrics_job.clone(), request.clone(), budget.clone())
        .await
        .unwrap();
    let local_partial = LocalJobRunner::new(jobs.clone(), 1)
        .metrics(metrics_job, request, budget)
        .await
        .unwrap();
    let remote_result = compiled
        .plan
        .evaluate(&compiled.request, &remote_partial)
        .unwrap();
    let local_result = compiled
        .plan
        .evaluate(&compiled.request, &local_partial)
        .unwrap();
    assert_eq!(remote_result, local_result);
    assert_eq!(remote_result.series.series.len(), 1);
    assert_eq!(
        remote_result.series.series[0].values,
        [1.0],
        "only the span from the cut on"
    );
    assert_eq!(remote_result.series.series[0].exemplars.len(), 1);
    server.abort();
}
