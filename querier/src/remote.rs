//! Distributed mode: the frontend sends block jobs to queriers over
//! `contrail.internal.v1.QuerierJobService`. [`RemoteJobRunner`] is the frontend's side (queriers
//! discovered like ingesters, round robin, a failed job retried on the next querier up to
//! `query_frontend.max_retries` times when the failure is transient); [`JobServiceApi`] is the
//! querier's side, running each job on its local bounded pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use contrail_proto::TenantId;
use contrail_proto::internal::v1::querier_job_service_client::QuerierJobServiceClient;
use contrail_proto::internal::v1::querier_job_service_server::{
    QuerierJobService, QuerierJobServiceServer,
};
use contrail_proto::internal::v1::{
    BlockJob as WireBlockJob, MetricsBlockJobRequest, MetricsPartial, SearchBlockJobRequest,
    TagValuesBlockJobRequest, TagsBlockJobRequest,
};
use contrail_proto::tempopb::{
    SearchResponse, SearchTagValuesRequest, SearchTagValuesV2Response, SearchTagsRequest,
    SearchTagsV2Response,
};
use contrail_storage::block::BlockMeta;
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::{QueryPartial, job_from_proto, job_to_proto, wire};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::frontend::{
    BlockJob, BlockMetricsRequest, BlockSearchRequest, JobRunner, LocalJobRunner,
};
use crate::params;
use crate::recent::{Channels, MemberSource};
use crate::service::{TagValuesRequest, TagsRequest, TimeRange};

fn wire_job(job: &BlockJob) -> Result<WireBlockJob> {
    let meta_json = serde_json::to_vec(job.meta.as_ref())
        .map_err(|error| Error::internal(format!("encode block meta: {error}")))?;
    let merge_with_meta_json = job
        .merge_with
        .iter()
        .map(|meta| {
            serde_json::to_vec(meta.as_ref())
                .map(bytes::Bytes::from)
                .map_err(|error| Error::internal(format!("encode block meta: {error}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(WireBlockJob {
        tenant: job.tenant.to_string(),
        block_meta_json: meta_json.into(),
        row_group_start: u32::try_from(job.row_groups.start).unwrap_or(u32::MAX),
        row_group_end: u32::try_from(job.row_groups.end).unwrap_or(u32::MAX),
        merge_with_meta_json,
    })
}

fn job_from_wire(wire: Option<WireBlockJob>) -> Result<BlockJob> {
    let wire = wire.ok_or_else(|| Error::bad_request("block job missing"))?;
    let tenant = TenantId::new(wire.tenant).map_err(Error::Tenant)?;
    let meta: BlockMeta = serde_json::from_slice(&wire.block_meta_json)
        .map_err(|error| Error::bad_request(format!("invalid block meta in job: {error}")))?;
    let row_groups = wire.row_group_start as usize..wire.row_group_end as usize;
    if row_groups.start > row_groups.end
        || row_groups.end > meta.row_groups.len().max(meta.total_records as usize)
    {
        return Err(Error::bad_request(format!(
            "row groups {row_groups:?} outside block {} with {} row groups",
            meta.block_id, meta.total_records
        )));
    }
    let merge_with = wire
        .merge_with_meta_json
        .iter()
        .map(|json| {
            let other: BlockMeta = serde_json::from_slice(json).map_err(|error| {
                Error::bad_request(format!("invalid merged block meta in job: {error}"))
            })?;
            if other.tenant_id != tenant {
                return Err(Error::bad_request(format!(
                    "merged block {} belongs to tenant {}, not {tenant}",
                    other.block_id, other.tenant_id
                )));
            }
            Ok(Arc::new(other))
        })
        .collect::<Result<Vec<_>>>()?;
    let selected = meta.row_groups.get(row_groups.clone()).unwrap_or_default();
    Ok(BlockJob {
        tenant,
        bytes: selected.iter().map(|row_group| row_group.size).sum(),
        start_unix_nano: selected
            .iter()
            .map(|r| r.start_time_unix_nano)
            .min()
            .unwrap_or(0),
        end_unix_nano: selected
            .iter()
            .map(|r| r.end_time_unix_nano)
            .max()
            .unwrap_or(u64::MAX),
        meta: Arc::new(meta),
        row_groups,
        merge_with,
    })
}

fn tags_request(request: &SearchTagsRequest) -> Result<TagsRequest> {
    Ok(TagsRequest {
        scope: params::parse_scope(&request.scope)?,
        filter: Some(request.query.clone()).filter(|query| !query.is_empty()),
        range: TimeRange {
            start_secs: request.start,
            end_secs: request.end,
        },
        limit: request.max_tags_per_scope,
        max_stale_values: request.stale_values_threshold,
    })
}

fn tags_wire(request: &TagsRequest) -> SearchTagsRequest {
    SearchTagsRequest {
        scope: request.scope.name().unwrap_or("").to_owned(),
        query: request.filter.clone().unwrap_or_default(),
        start: request.range.start_secs,
        end: request.range.end_secs,
        max_tags_per_scope: request.limit,
        stale_values_threshold: request.max_stale_values,
        ..SearchTagsRequest::default()
    }
}

/// Sends block jobs to the queriers of a [`MemberSource`]; see the module docs.
pub struct RemoteJobRunner {
    queriers: Arc<dyn MemberSource>,
    channels: Channels,
    timeout: Duration,
    max_retries: u32,
    next: AtomicUsize,
}

impl std::fmt::Debug for RemoteJobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJobRunner")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl RemoteJobRunner {
    /// Jobs go to `queriers`, each call bounded by `timeout` (`querier.search.query_timeout`),
    /// retried `max_retries` times (`query_frontend.max_retries`).
    pub fn new(queriers: Arc<dyn MemberSource>, timeout: Duration, max_retries: u32) -> Self {
        RemoteJobRunner {
            queriers,
            channels: Channels::default(),
            timeout,
            max_retries,
            next: AtomicUsize::new(0),
        }
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(QuerierJobServiceClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Response<T>, Status>>,
    {
        let mut attempt = 0;
        loop {
            let members = self.queriers.members();
            if members.is_empty() {
                return Err(Error::Remote {
                    target: "queriers".to_owned(),
                    code: contrail_proto::ErrorCode::Unavailable,
                    message: "no querier is available to run block jobs".to_owned(),
                });
            }
            let endpoint = &members[self.next.fetch_add(1, Ordering::Relaxed) % members.len()];
            let channel = self.channels.channel(endpoint, self.timeout)?;
            let client = QuerierJobServiceClient::new(channel).max_decoding_message_size(64 << 20);
            match call(client).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => {
                    let error = Error::from_status(format!("querier {endpoint}"), &status);
                    if attempt >= self.max_retries || !error.code().is_retryable() {
                        return Err(error);
                    }
                    tracing::debug!(endpoint = %endpoint, attempt, error = %error, "block job failed; retrying on another querier");
                    attempt += 1;
                }
            }
        }
    }
}

#[async_trait]
impl JobRunner for RemoteJobRunner {
    async fn search(
        &self,
        job: BlockJob,
        request: Arc<BlockSearchRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<SearchResponse> {
        let wire = SearchBlockJobRequest {
            job: Some(wire_job(&job)?),
            query: request.query.clone(),
            start_unix_nano: request.start_unix_nano,
            end_unix_nano: request.end_unix_nano,
            limit: request.limit,
            spans_per_span_set: request.spans_per_span_set,
            memory_budget_bytes: budget.limit_bytes() as u64,
        };
        self.call(|mut client| {
            let wire = wire.clone();
            async move { client.search_block_job(wire).await }
        })
        .await
    }

    async fn tag_names(
        &self,
        job: BlockJob,
        request: Arc<TagsRequest>,
    ) -> Result<SearchTagsV2Response> {
        let wire = TagsBlockJobRequest {
            job: Some(wire_job(&job)?),
            request: Some(tags_wire(&request)),
        };
        self.call(|mut client| {
            let wire = wire.clone();
            async move { client.search_tags_block_job(wire).await }
        })
        .await
    }

    async fn tag_values(
        &self,
        job: BlockJob,
        request: Arc<TagValuesRequest>,
    ) -> Result<SearchTagValuesV2Response> {
        let scoped = !matches!(
            &request.tag,
            contrail_traceql::ast::Attribute::Custom {
                scope: contrail_traceql::ast::AttributeScope::Unscoped,
                name,
            } if *name == request.tag_name
        );
        let wire = TagValuesBlockJobRequest {
            job: Some(wire_job(&job)?),
            request: Some(SearchTagValuesRequest {
                tag_name: request.tag_name.clone(),
                query: request.filter.clone().unwrap_or_default(),
                start: request.range.start_secs,
                end: request.range.end_secs,
                max_tag_values: request.limit,
                stale_value_threshold: request.max_stale_values,
                ..SearchTagValuesRequest::default()
            }),
            scoped,
        };
        self.call(|mut client| {
            let wire = wire.clone();
            async move { client.search_tag_values_block_job(wire).await }
        })
        .await
    }

    async fn metrics(
        &self,
        job: BlockJob,
        request: Arc<BlockMetricsRequest>,
        budget: Arc<MemoryBudget>,
    ) -> Result<QueryPartial> {
        let message = MetricsBlockJobRequest {
            job: Some(wire_job(&job)?),
            request: Some(job_to_proto(
                &request.query,
                &request.compiled.request,
                budget.limit_bytes() as u64,
            )),
        };
        let partial = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.metrics_block_job(message).await }
            })
            .await?;
        let compiled = request.compiled.clone();
        tokio::task::spawn_blocking(move || {
            wire::from_proto(&partial, &compiled.plan, &compiled.request)
        })
        .await
        .map_err(|error| Error::internal(format!("metrics decode: {error}")))?
        .map_err(|error| Error::Remote {
            target: "querier".to_owned(),
            code: contrail_proto::ErrorCode::Internal,
            message: error.to_string(),
        })
    }
}

/// The querier's side of the job service, over its local pool.
#[derive(Clone)]
pub struct JobServiceApi {
    runner: Arc<LocalJobRunner>,
}

impl std::fmt::Debug for JobServiceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobServiceApi").finish()
    }
}

impl JobServiceApi {
    /// Jobs run on `runner` (`Querier::local_runner`).
    pub fn new(runner: Arc<LocalJobRunner>) -> Self {
        JobServiceApi { runner }
    }

    /// The tonic server, for the internal gRPC port.
    pub fn into_server(self) -> QuerierJobServiceServer<Self> {
        QuerierJobServiceServer::new(self)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }
}

#[tonic::async_trait]
impl QuerierJobService for JobServiceApi {
    async fn search_block_job(
        &self,
        request: Request<SearchBlockJobRequest>,
    ) -> std::result::Result<Response<SearchResponse>, Status> {
        let request = request.into_inner();
        let job = job_from_wire(request.job).map_err(|error| error.to_status())?;
        let root = contrail_traceql::parse_and_validate(&request.query)
            .map_err(|error| Error::InvalidQuery(error).to_status())?;
        let search = Arc::new(BlockSearchRequest {
            query: request.query,
            root: Arc::new(root),
            start_unix_nano: request.start_unix_nano,
            end_unix_nano: request.end_unix_nano,
            limit: request.limit,
            spans_per_span_set: request.spans_per_span_set,
        });
        let budget_bytes = usize::try_from(request.memory_budget_bytes).unwrap_or(usize::MAX);
        let budget = Arc::new(if budget_bytes == 0 {
            MemoryBudget::unlimited()
        } else {
            MemoryBudget::new(budget_bytes)
        });
        self.runner
            .search(job, search, budget)
            .await
            .map(Response::new)
            .map_err(|error| error.to_status())
    }

    async fn search_tags_block_job(
        &self,
        request: Request<TagsBlockJobRequest>,
    ) -> std::result::Result<Response<SearchTagsV2Response>, Status> {
        let request = request.into_inner();
        let job = job_from_wire(request.job).map_err(|error| error.to_status())?;
        let tags = tags_request(&request.request.unwrap_or_default())
            .map_err(|error| error.to_status())?;
        self.runner
            .tag_names(job, Arc::new(tags))
            .await
            .map(Response::new)
            .map_err(|error| error.to_status())
    }

    async fn search_tag_values_block_job(
        &self,
        request: Request<TagValuesBlockJobRequest>,
    ) -> std::result::Result<Response<SearchTagValuesV2Response>, Status> {
        let request = request.into_inner();
        let job = job_from_wire(request.job).map_err(|error| error.to_status())?;
        let wire = request.request.unwrap_or_default();
        let mut values = params::parse_tag_values(
            &wire.tag_name,
            request.scoped,
            &params::QueryParams::default(),
            0,
        )
        .map_err(|error| error.to_status())?;
        values.filter = Some(wire.query).filter(|query| !query.is_empty());
        values.range = TimeRange {
            start_secs: wire.start,
            end_secs: wire.end,
        };
        values.limit = wire.max_tag_values;
        values.max_stale_values = wire.stale_value_threshold;
        self.runner
            .tag_values(job, Arc::new(values))
            .await
            .map(Response::new)
            .map_err(|error| error.to_status())
    }

    async fn metrics_block_job(
        &self,
        request: Request<MetricsBlockJobRequest>,
    ) -> std::result::Result<Response<MetricsPartial>, Status> {
        let request = request.into_inner();
        let job = job_from_wire(request.job).map_err(|error| error.to_status())?;
        let message = request
            .request
            .ok_or_else(|| Error::bad_request("metrics job request missing").to_status())?;
        let received =
            job_from_proto(&message).map_err(|error| Error::InvalidQuery(error).to_status())?;
        let budget_bytes = usize::try_from(received.memory_budget_bytes).unwrap_or(usize::MAX);
        let budget = Arc::new(if budget_bytes == 0 {
            MemoryBudget::unlimited()
        } else {
            MemoryBudget::new(budget_bytes)
        });
        let metrics = Arc::new(BlockMetricsRequest {
            query: message.query,
            compiled: Arc::new(received.query),
        });
        let partial = self
            .runner
            .metrics(job, metrics, budget)
            .await
            .map_err(|error| error.to_status())?;
        Ok(Response::new(wire::to_proto(&partial)))
    }
}
