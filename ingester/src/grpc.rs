//! The tonic adapter for `contrail.internal.v1.IngesterService` (distributed mode): converts
//! requests to [`Ingester`] calls and errors to gRPC statuses through `ErrorCode`.

use contrail_proto::internal::v1::ingester_service_server::{
    IngesterService, IngesterServiceServer,
};
use contrail_proto::internal::v1::{
    FindTraceByIdRequest, FindTraceByIdResponse, MetricsPartial, PushRequest, PushResponse,
    QueryRangeRecentRequest, SearchRecentRequest, SearchTagValuesRecentRequest,
    SearchTagsRecentRequest,
};
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_proto::{ErrorCode, TenantId, TraceId, tempopb};
use tonic::{Request, Response, Status};

use crate::service::Ingester;

/// Largest push accepted over gRPC (a push of ~1,000 spans is about 0.5 MB).
pub const MAX_PUSH_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The gRPC service, ready for `tonic::transport::Server::add_service`.
pub fn ingester_service(ingester: Ingester) -> IngesterServiceServer<GrpcIngester> {
    IngesterServiceServer::new(GrpcIngester { ingester })
        .max_decoding_message_size(MAX_PUSH_MESSAGE_BYTES)
}

/// Implements `IngesterService` over an [`Ingester`].
#[derive(Debug, Clone)]
pub struct GrpcIngester {
    ingester: Ingester,
}

impl GrpcIngester {
    /// The service over `ingester`, for in-process callers (the single binary's querier).
    pub fn new(ingester: Ingester) -> Self {
        GrpcIngester { ingester }
    }
}

fn bad_request(message: impl Into<String>) -> Status {
    ErrorCode::BadRequest.to_status(message)
}

fn tenant(value: String) -> Result<TenantId, Status> {
    TenantId::new(value).map_err(|error| bad_request(format!("tenant: {error}")))
}

#[tonic::async_trait]
impl IngesterService for GrpcIngester {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let (tenant, batch) = request
            .into_inner()
            .into_parts()
            .map_err(|error| bad_request(format!("tenant: {error}")))?;
        let outcome = self.ingester.push(&tenant, batch).await?;
        Ok(Response::new(PushResponse::from_outcome(outcome)))
    }

    async fn find_trace_by_id(
        &self,
        request: Request<FindTraceByIdRequest>,
    ) -> Result<Response<FindTraceByIdResponse>, Status> {
        let request = request.into_inner();
        let tenant = tenant(request.tenant)?;
        let trace_id = TraceId::from_ingest_bytes(&request.trace_id)
            .map_err(|error| bad_request(format!("trace id: {error}")))?;
        let found = self.ingester.find_trace_by_id(&tenant, &trace_id).await?;
        Ok(Response::new(FindTraceByIdResponse {
            trace: found.map(|trace| tempopb::Trace {
                resource_spans: trace.resource_spans,
            }),
        }))
    }

    async fn search_recent(
        &self,
        request: Request<SearchRecentRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let request = request.into_inner();
        let tenant = tenant(request.tenant)?;
        let search = request.request.unwrap_or_default();
        let response = self.ingester.search_recent(&tenant, &search).await?;
        Ok(Response::new(response))
    }

    async fn search_tags_recent(
        &self,
        request: Request<SearchTagsRecentRequest>,
    ) -> Result<Response<SearchTagsV2Response>, Status> {
        let request = request.into_inner();
        let tenant = tenant(request.tenant)?;
        let tags = request.request.unwrap_or_default();
        let response = self.ingester.search_tags_recent(&tenant, &tags).await?;
        Ok(Response::new(response))
    }

    async fn search_tag_values_recent(
        &self,
        request: Request<SearchTagValuesRecentRequest>,
    ) -> Result<Response<SearchTagValuesV2Response>, Status> {
        let request = request.into_inner();
        let tenant = tenant(request.tenant)?;
        let values = request.request.unwrap_or_default();
        let response = self
            .ingester
            .search_tag_values_recent(&tenant, &values)
            .await?;
        Ok(Response::new(response))
    }

    async fn query_range_recent(
        &self,
        request: Request<QueryRangeRecentRequest>,
    ) -> Result<Response<MetricsPartial>, Status> {
        let request = request.into_inner();
        let tenant = tenant(request.tenant)?;
        let job = request
            .request
            .ok_or_else(|| bad_request("metrics job request missing"))?;
        let partial = self
            .ingester
            .query_range_recent(&tenant, &job, request.ownership.as_ref())
            .await?;
        Ok(Response::new(partial))
    }
}
