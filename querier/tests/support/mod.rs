//! A querier server on 127.0.0.1:0 over a local-disk store with blocks written by
//! `BlockWriter`, and an in-process recent-data double standing in for the ingesters.
#![allow(dead_code, unreachable_pub)]

pub mod golden;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use contrail_proto::internal::v1::{MetricsJobRequest, MetricsPartial};
use contrail_proto::otlp::trace::v1::ResourceSpans;
use contrail_proto::otlp_json::decode_export_request_json;
use contrail_proto::tempopb::{
    SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesV2Response,
    SearchTagsRequest, SearchTagsV2Response, Trace,
};
use contrail_proto::{Clock, SystemClock, TenantId, TraceId};
use contrail_querier::frontend::{BlockJob, BlockMetricsRequest, BlockSearch, BlockSearchRequest};
use contrail_querier::grpc::serve::http_and_grpc;
use contrail_querier::grpc::{GrpcApiSettings, StreamingQuerierApi};
use contrail_querier::http::{BuildInfo, HttpApiSettings, router};
use contrail_querier::params::SearchLimits;
use contrail_querier::recent::RecentData;
use contrail_querier::service::{TagValuesRequest, TagsRequest};
use contrail_querier::tenant::TenantResolver;
use contrail_querier::trace_by_id::StaticLimits;
use contrail_querier::{
    EngineBlockSearch, Querier, QuerierArgs, QuerierConfig, QueryFrontendConfig, QueryService,
};
use contrail_storage::DecodePool;
use contrail_storage::block::{BlockWriter, BlockWriterConfig, WrittenBlock};
use contrail_storage::convert::{Trace as BlockTrace, split_by_trace};
use contrail_traceql::CpuRunner;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{QueryPartial, job_from_proto, run_metrics, wire};
use contrail_traceql::{InlineRunner, MemorySource, MemoryTrace};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

pub const TRACE_HEX: &str = "5b8efff798038103d269b633813fc700";

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Fixture F of spec §9 as OTLP/JSON, with `T0 = (now − 60 s)`.
pub fn fixture_json(t0: u64) -> String {
    format!(
        r#"{{"resourceSpans":[{{
            "resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"my.service"}}}}]}},
            "scopeSpans":[{{
                "scope":{{"name":"my.library","version":"1.0.0"}},
                "spans":[
                    {{"traceId":"5B8EFFF798038103D269B633813FC700","spanId":"EEE19B7EC3C1B100",
                      "name":"I am a span!","kind":2,
                      "startTimeUnixNano":"{t0}","endTimeUnixNano":"{t1}",
                      "attributes":[{{"key":"my.span.attr","value":{{"stringValue":"some value"}}}},
                                    {{"key":"http.status_code","value":{{"intValue":200}}}}],
                      "status":{{"code":2,"message":"boom"}}}},
                    {{"traceId":"5B8EFFF798038103D269B633813FC700","spanId":"EEE19B7EC3C1B101",
                      "parentSpanId":"EEE19B7EC3C1B100","name":"child","kind":3,
                      "startTimeUnixNano":"{t2}","endTimeUnixNano":"{t3}",
                      "attributes":[{{"key":"db.system","value":{{"stringValue":"postgres"}}}}],
                      "events":[{{"timeUnixNano":"{t4}","name":"retry"}}]}}
                ]}}]}}]}}"#,
        t1 = t0 + 1_000_000_000,
        t2 = t0 + 100_000_000,
        t3 = t0 + 300_000_000,
        t4 = t0 + 150_000_000,
    )
}

/// Fixture F's resource spans.
pub fn fixture(t0: u64) -> Vec<ResourceSpans> {
    decode_export_request_json(fixture_json(t0).as_bytes())
        .unwrap()
        .resource_spans
}

/// Keeps only the spans whose ID ends with `last_byte`.
pub fn only_span(mut resource_spans: Vec<ResourceSpans>, last_byte: u8) -> Vec<ResourceSpans> {
    for rs in &mut resource_spans {
        for ss in &mut rs.scope_spans {
            ss.spans
                .retain(|span| span.span_id.last() == Some(&last_byte));
        }
    }
    resource_spans
}

/// Writes `resource_spans` (any traces) as one block of `tenant`.
pub async fn write_block(
    store: Arc<dyn ObjectStore>,
    tenant: &TenantId,
    resource_spans: Vec<ResourceSpans>,
) -> WrittenBlock {
    let mut writer = BlockWriter::new(store, BlockWriterConfig::new(tenant.clone())).unwrap();
    for (trace_id, resource_spans) in split_by_trace(resource_spans).unwrap() {
        writer
            .push_trace(BlockTrace {
                trace_id,
                resource_spans,
            })
            .await
            .unwrap();
    }
    writer.finish().await.unwrap()
}

/// The ingesters' stand-in: recent traces by tenant, and search / tag answers as an ingester
/// would give them for a query text.
#[derive(Default)]
pub struct RecentDouble {
    pub traces: Mutex<HashMap<String, Vec<Trace>>>,
    pub searches: Mutex<HashMap<String, SearchResponse>>,
    pub tags: Mutex<Vec<SearchTagsV2Response>>,
    /// Values by (tag name, filter) as sent by the querier.
    pub values: Mutex<HashMap<(String, String), SearchTagValuesV2Response>>,
    pub delay: Mutex<Duration>,
    pub requests: Mutex<Vec<SearchRequest>>,
    /// Metrics jobs received, in order.
    pub metrics_jobs: Mutex<Vec<MetricsJobRequest>>,
}

impl RecentDouble {
    pub fn add_trace(&self, tenant: &str, resource_spans: Vec<ResourceSpans>) {
        self.traces
            .lock()
            .unwrap()
            .entry(tenant.to_owned())
            .or_default()
            .push(Trace { resource_spans });
    }
}

#[async_trait]
impl RecentData for RecentDouble {
    async fn find_trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> contrail_querier::Result<Vec<Trace>> {
        let traces = self.traces.lock().unwrap();
        let wanted = trace_id.as_bytes().to_vec();
        Ok(traces
            .get(tenant.as_str())
            .into_iter()
            .flatten()
            .filter(|trace| {
                trace
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .any(|span| span.trace_id == wanted)
            })
            .cloned()
            .collect())
    }

    async fn search(
        &self,
        _tenant: &TenantId,
        request: &SearchRequest,
    ) -> contrail_querier::Result<Vec<SearchResponse>> {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.requests.lock().unwrap().push(request.clone());
        Ok(vec![
            self.searches
                .lock()
                .unwrap()
                .get(&request.query)
                .cloned()
                .unwrap_or_default(),
        ])
    }

    async fn search_tags(
        &self,
        _tenant: &TenantId,
        _request: &SearchTagsRequest,
    ) -> contrail_querier::Result<Vec<SearchTagsV2Response>> {
        Ok(self.tags.lock().unwrap().clone())
    }

    async fn search_tag_values(
        &self,
        _tenant: &TenantId,
        request: &SearchTagValuesRequest,
    ) -> contrail_querier::Result<Vec<SearchTagValuesV2Response>> {
        let key = (request.tag_name.clone(), request.query.clone());
        Ok(self
            .values
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .into_iter()
            .collect())
    }

    /// What an ingester does: the job over its recent traces in a `MemorySource`.
    async fn query_range(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
    ) -> contrail_querier::Result<Vec<MetricsPartial>> {
        self.metrics_jobs.lock().unwrap().push(request.clone());
        let received = job_from_proto(request)
            .map_err(|error| contrail_querier::Error::bad_request(error.to_string()))?;
        let traces: Vec<MemoryTrace> = self
            .traces
            .lock()
            .unwrap()
            .get(tenant.as_str())
            .into_iter()
            .flatten()
            .flat_map(|trace| split_by_trace(trace.resource_spans.clone()).unwrap())
            .map(|(trace_id, resource_spans)| MemoryTrace {
                trace_id,
                resource_spans,
            })
            .collect();
        let runner: Arc<dyn CpuRunner> = Arc::new(InlineRunner);
        let sources: Vec<Arc<dyn SpanSource>> = vec![Arc::new(MemorySource::new(traces, runner))];
        let outcome = run_metrics(
            &Arc::new(received.query),
            &sources,
            &InlineRunner,
            &MemoryBudget::unlimited(),
        )
        .await
        .map_err(|error| contrail_querier::Error::internal(error.to_string()))?;
        Ok(vec![wire::to_proto(&outcome.partial)])
    }
}

/// Block search until the engine lands: no block matches (the API cases here read recent data
/// for search, and blocks for trace by ID).
pub struct NoBlockMatches;

#[async_trait]
impl BlockSearch for NoBlockMatches {
    async fn search(
        &self,
        _job: &BlockJob,
        _request: &BlockSearchRequest,
        _budget: &MemoryBudget,
    ) -> contrail_querier::Result<SearchResponse> {
        Ok(SearchResponse::default())
    }

    async fn tag_names(
        &self,
        _job: &BlockJob,
        _request: &TagsRequest,
    ) -> contrail_querier::Result<SearchTagsV2Response> {
        Ok(SearchTagsV2Response::default())
    }

    async fn tag_values(
        &self,
        _job: &BlockJob,
        _request: &TagValuesRequest,
    ) -> contrail_querier::Result<SearchTagValuesV2Response> {
        Ok(SearchTagValuesV2Response::default())
    }

    async fn metrics(
        &self,
        _job: &BlockJob,
        request: &BlockMetricsRequest,
        _budget: &MemoryBudget,
    ) -> contrail_querier::Result<QueryPartial> {
        Ok(request
            .compiled
            .plan
            .empty_partial(&request.compiled.request))
    }
}

/// How a test server is set up.
pub struct ServerOptions {
    pub multitenancy_enabled: bool,
    pub querier: QuerierConfig,
    pub frontend: QueryFrontendConfig,
    pub max_bytes_per_trace: u64,
    /// Block jobs through the real engine over the store (`EngineBlockSearch`) instead of
    /// [`NoBlockMatches`].
    pub engine: bool,
    /// The querier's clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            multitenancy_enabled: false,
            querier: QuerierConfig::default(),
            frontend: QueryFrontendConfig::default(),
            max_bytes_per_trace: 5_000_000,
            engine: false,
            clock: None,
        }
    }
}

/// A running querier: HTTP and gRPC (h2c) on one port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn ObjectStore>,
    pub recent: Arc<RecentDouble>,
    pub querier: Arc<Querier>,
    pub registry: prometheus::Registry,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(options: ServerOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        Self::start_on(store, dir, options).await
    }

    pub async fn start_on(
        store: Arc<dyn ObjectStore>,
        dir: tempfile::TempDir,
        options: ServerOptions,
    ) -> TestServer {
        let recent = Arc::new(RecentDouble::default());
        let registry = prometheus::Registry::new();
        let limits = SearchLimits::from_config(&options.frontend);
        let tenants = TenantResolver {
            multitenancy_enabled: options.multitenancy_enabled,
            multi_tenant_queries_enabled: options.frontend.multi_tenant_queries_enabled,
        };
        let api_timeout = options.frontend.api_timeout;
        let max_message_bytes = options.frontend.max_grpc_streaming_packet_size.as_u64() as usize;
        let block_search: Arc<dyn BlockSearch> = if options.engine {
            Arc::new(
                EngineBlockSearch::new(
                    store.clone(),
                    DecodePool::new(2),
                    &prometheus::Registry::new(),
                )
                .unwrap(),
            )
        } else {
            Arc::new(NoBlockMatches)
        };
        let querier = Arc::new(
            Querier::new(QuerierArgs {
                querier: options.querier,
                frontend: options.frontend,
                store: store.clone(),
                recent: recent.clone(),
                block_search,
                remote_runner: None,
                limits: Arc::new(StaticLimits {
                    max_bytes_per_trace: options.max_bytes_per_trace,
                }),
                clock: options.clock.unwrap_or_else(SystemClock::shared),
                registry: &registry,
            })
            .unwrap(),
        );
        let service: Arc<dyn QueryService> = querier.clone();
        let http = router(
            service.clone(),
            HttpApiSettings {
                tenants,
                limits,
                api_timeout,
                build_info: BuildInfo::default(),
            },
        );
        let grpc = StreamingQuerierApi::new(
            service,
            GrpcApiSettings {
                tenants,
                limits,
                api_timeout,
                max_message_bytes,
            },
        );
        let app = http_and_grpc(http, tonic::service::Routes::new(grpc.into_server()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            addr,
            store,
            recent,
            querier,
            registry,
            _dir: dir,
            _server: server,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn grpc(
        &self,
    ) -> contrail_proto::tempopb::streaming_querier_client::StreamingQuerierClient<
        tonic::transport::Channel,
    > {
        contrail_proto::tempopb::streaming_querier_client::StreamingQuerierClient::connect(format!(
            "http://{}",
            self.addr
        ))
        .await
        .unwrap()
    }
}
