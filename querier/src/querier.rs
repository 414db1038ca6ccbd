//! [`Querier`]: the [`QueryService`] of Contrail, composed of the blocklist, the caches, recent
//! data, trace by ID and the frontend's search and tags drivers. The binary builds one from
//! [`QuerierArgs`], spawns [`Querier::blocklist`]'s poller, and mounts the HTTP router and the
//! gRPC services over it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use contrail_proto::tempopb::{
    QueryInstantResponse, QueryRangeResponse, SearchTagValuesV2Response, SearchTagsV2Response,
};
use contrail_proto::{Clock, TenantId};
use object_store::ObjectStore;
use prometheus::Registry;

use crate::blocklist::Blocklist;
use crate::cache::CachingStore;
use crate::config::{QuerierConfig, QueryFrontendConfig};
use crate::error::{Error, Result};
use crate::frontend::{
    BlockSearch, JobRunner, LocalJobRunner, MetricsDriver, MetricsSettings, SearchDriver,
    SearchSettings, SplitSettings, TagsFrontend,
};
use crate::metrics::QuerierMetrics;
use crate::params::MetricsLimits;
use crate::recent::RecentData;
use crate::service::{
    MetricsQueryRequest, QueryService, SearchRequest, SearchStream, TagValuesRequest, TagsRequest,
    TraceByIdRequest, TraceByIdResult,
};
use crate::trace_by_id::{TenantLimits, TraceFinder};

/// Everything a [`Querier`] is built from.
pub struct QuerierArgs<'a> {
    pub querier: QuerierConfig,
    pub frontend: QueryFrontendConfig,
    /// The blocks' object store (the configured backend with its decorators); the querier adds
    /// its caches on top.
    pub store: Arc<dyn ObjectStore>,
    /// The ingesters.
    pub recent: Arc<dyn RecentData>,
    /// The engine over one block job, used by the local job pool.
    pub block_search: Arc<dyn BlockSearch>,
    /// Where block jobs run: `None` for this process's pool (single binary); distributed mode
    /// passes a `crate::remote::RemoteJobRunner` over the queriers.
    pub remote_runner: Option<Arc<dyn JobRunner>>,
    pub limits: Arc<dyn TenantLimits>,
    pub clock: Arc<dyn Clock>,
    pub registry: &'a Registry,
}

/// The read path; see the module docs.
pub struct Querier {
    blocklist: Arc<Blocklist>,
    local_runner: Arc<LocalJobRunner>,
    store: Arc<dyn ObjectStore>,
    traces: TraceFinder,
    search: Arc<SearchDriver>,
    tags: TagsFrontend,
    metrics_queries: MetricsDriver,
    metrics: QuerierMetrics,
    max_outstanding_per_tenant: usize,
    outstanding: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl std::fmt::Debug for Querier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Querier")
            .field("blocklist", &self.blocklist)
            .finish()
    }
}

/// One running query of a tenant; released on drop.
struct Outstanding {
    tenants: Vec<TenantId>,
    counts: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            for tenant in &self.tenants {
                if let Some(count) = counts.get_mut(tenant) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        counts.remove(tenant);
                    }
                }
            }
        }
    }
}

impl Querier {
    /// Builds the querier (no IO yet; the blocklist is read on first use and by its poller).
    pub fn new(args: QuerierArgs<'_>) -> Result<Self> {
        let QuerierArgs {
            querier,
            frontend,
            store,
            recent,
            block_search,
            remote_runner,
            limits,
            clock,
            registry,
        } = args;
        let metrics = QuerierMetrics::new(registry)?;
        let cached: Arc<dyn ObjectStore> =
            Arc::new(CachingStore::new(store, &querier.cache, metrics.clone()));
        let blocklist = Arc::new(Blocklist::new(
            cached.clone(),
            clock.clone(),
            querier.blocklist_poll,
            metrics.clone(),
        ));
        let local_runner = Arc::new(LocalJobRunner::new(
            block_search,
            querier.max_concurrent_queries,
        ));
        let runner: Arc<dyn JobRunner> = match remote_runner {
            Some(remote) => remote,
            None => local_runner.clone(),
        };
        let search_config = &frontend.search;
        let max_query_memory_bytes =
            usize::try_from(search_config.max_query_memory.as_u64()).unwrap_or(usize::MAX);
        let metrics_config = &frontend.metrics;
        let metrics_queries = MetricsDriver {
            blocklist: blocklist.clone(),
            runner: runner.clone(),
            recent: recent.clone(),
            clock: clock.clone(),
            settings: MetricsSettings {
                limits: MetricsLimits {
                    max_duration: metrics_config.max_duration,
                    max_exemplars: metrics_config.max_exemplars,
                    max_series: metrics_config.max_response_series,
                },
                query_backend_after: metrics_config.query_backend_after,
                target_bytes_per_job: metrics_config.target_bytes_per_job.as_u64(),
                concurrent_jobs: metrics_config.concurrent_jobs,
                max_query_memory_bytes,
                query_timeout: querier.search.query_timeout,
            },
            metrics: metrics.clone(),
        };
        let search = Arc::new(SearchDriver {
            blocklist: blocklist.clone(),
            runner: runner.clone(),
            recent: recent.clone(),
            clock,
            settings: SearchSettings {
                split: SplitSettings {
                    query_backend_after: search_config.query_backend_after,
                    query_ingesters_until: search_config.query_ingesters_until,
                    query_end_cutoff: frontend.query_end_cutoff,
                },
                target_bytes_per_job: search_config.target_bytes_per_job.as_u64(),
                concurrent_jobs: search_config.concurrent_jobs,
                max_query_memory_bytes,
                query_timeout: querier.search.query_timeout,
            },
            metrics: metrics.clone(),
        });
        let tags = TagsFrontend {
            blocklist: blocklist.clone(),
            runner,
            recent: recent.clone(),
            target_bytes_per_job: search_config.target_bytes_per_job.as_u64(),
            concurrent_jobs: search_config.concurrent_jobs,
            query_timeout: querier.search.query_timeout,
        };
        let traces = TraceFinder {
            store: cached.clone(),
            blocklist: blocklist.clone(),
            recent,
            limits,
            timeout: querier.trace_by_id.query_timeout,
        };
        Ok(Querier {
            blocklist,
            local_runner,
            store: cached,
            traces,
            search,
            tags,
            metrics_queries,
            metrics,
            max_outstanding_per_tenant: frontend.max_outstanding_per_tenant,
            outstanding: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The blocklist (spawn `blocklist().run(shutdown)` to poll it).
    pub fn blocklist(&self) -> Arc<Blocklist> {
        self.blocklist.clone()
    }

    /// This process's job pool (what the job service runs remote jobs on).
    pub fn local_runner(&self) -> Arc<LocalJobRunner> {
        self.local_runner.clone()
    }

    /// The object store with the querier's caches.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The querier's metrics.
    pub fn metrics(&self) -> &QuerierMetrics {
        &self.metrics
    }

    fn admit(&self, tenants: &[TenantId]) -> Result<Outstanding> {
        let mut counts = self
            .outstanding
            .lock()
            .map_err(|_| Error::internal("outstanding counts poisoned"))?;
        if let Some(full) = tenants.iter().find(|tenant| {
            counts.get(*tenant).copied().unwrap_or(0) >= self.max_outstanding_per_tenant
        }) {
            return Err(Error::TooManyOutstanding {
                tenant: full.to_string(),
                limit: self.max_outstanding_per_tenant,
            });
        }
        for tenant in tenants {
            *counts.entry(tenant.clone()).or_insert(0) += 1;
        }
        Ok(Outstanding {
            tenants: tenants.to_vec(),
            counts: self.outstanding.clone(),
        })
    }

    fn observe<T>(&self, method: &str, started: Instant, result: &Result<T>) {
        let status = match result {
            Ok(_) => "ok",
            Err(error) => status_label(error),
        };
        self.metrics
            .observe_request(method, status, started.elapsed().as_secs_f64());
    }
}

fn status_label(error: &Error) -> &'static str {
    if error.code().http_status().is_client_error() {
        "client_error"
    } else {
        "error"
    }
}

#[async_trait]
impl QueryService for Querier {
    #[tracing::instrument(skip_all, fields(tenants = tenants.len(), trace_id = %request.trace_id))]
    async fn find_trace_by_id(
        &self,
        tenants: &[TenantId],
        request: TraceByIdRequest,
    ) -> Result<TraceByIdResult> {
        let started = Instant::now();
        let _admitted = self.admit(tenants)?;
        let result = self.traces.find(tenants, &request).await;
        self.observe("trace_by_id", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenants = tenants.len(), query = %request.query))]
    async fn search(&self, tenants: &[TenantId], request: SearchRequest) -> Result<SearchStream> {
        let admitted = self.admit(tenants)?;
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let stream = self.search.search(tenants.to_vec(), request);
        // The admission lasts as long as the stream; the request is counted when it ends.
        Ok(Box::pin(futures::StreamExt::map(stream, move |update| {
            let _held = &admitted;
            let seconds = started.elapsed().as_secs_f64();
            match &update {
                Ok(crate::service::SearchUpdate::Final(_)) => {
                    metrics.observe_request("search", "ok", seconds);
                }
                Err(error) => metrics.observe_request("search", status_label(error), seconds),
                Ok(crate::service::SearchUpdate::Progress(_)) => {}
            }
            update
        })))
    }

    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    async fn search_tags(
        &self,
        tenants: &[TenantId],
        request: TagsRequest,
    ) -> Result<SearchTagsV2Response> {
        let started = Instant::now();
        let _admitted = self.admit(tenants)?;
        let result = self.tags.search_tags(tenants, request).await;
        self.observe("search_tags", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenants = tenants.len(), tag = %request.tag_name))]
    async fn search_tag_values(
        &self,
        tenants: &[TenantId],
        request: TagValuesRequest,
    ) -> Result<SearchTagValuesV2Response> {
        let started = Instant::now();
        let _admitted = self.admit(tenants)?;
        let result = self.tags.search_tag_values(tenants, request).await;
        self.observe("search_tag_values", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenants = tenants.len(), query = %request.query))]
    async fn query_range(
        &self,
        tenants: &[TenantId],
        request: MetricsQueryRequest,
    ) -> Result<QueryRangeResponse> {
        let started = Instant::now();
        let _admitted = self.admit(tenants)?;
        let request = MetricsQueryRequest {
            instant: false,
            ..request
        };
        let result = self
            .metrics_queries
            .run(tenants, &request)
            .await
            .map(|result| result.to_range_response());
        self.observe("query_range", started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(tenants = tenants.len(), query = %request.query))]
    async fn query_instant(
        &self,
        tenants: &[TenantId],
        request: MetricsQueryRequest,
    ) -> Result<QueryInstantResponse> {
        let started = Instant::now();
        let _admitted = self.admit(tenants)?;
        let request = MetricsQueryRequest {
            instant: true,
            step_nano: None,
            ..request
        };
        let result = self
            .metrics_queries
            .run(tenants, &request)
            .await
            .map(|result| result.to_instant_response());
        self.observe("query_instant", started, &result);
        result
    }
}
