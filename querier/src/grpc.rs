//! `tempopb.StreamingQuerier` (spec §5) over the [`QueryService`]: requests are converted with
//! the HTTP API's rules, search progress is sent at most every 500 ms, the final result last,
//! and every message is cut below `max_grpc_streaming_packet_size` (Grafana accepts 4 MiB).
//! [`serve::http_and_grpc`] puts these routes on the HTTP port (h2c), as Grafana dials them.

pub mod serve;
mod stream;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use contrail_proto::tempopb::streaming_querier_server::StreamingQuerier;
use contrail_proto::tempopb::{
    QueryInstantRequest, QueryInstantResponse, QueryRangeRequest, QueryRangeResponse,
    SearchRequest as GrpcSearchRequest, SearchResponse, SearchTagValuesRequest,
    SearchTagValuesResponse, SearchTagValuesV2Response, SearchTagsRequest, SearchTagsResponse,
    SearchTagsV2Response,
};
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::http::tags_v1;
use crate::params::{self, SearchInput, SearchLimits};
use crate::service::{QueryService, TagValuesRequest, TagsRequest, TimeRange};
use crate::tenant::TenantResolver;

pub use stream::{SEARCH_PROGRESS_INTERVAL, segment_search_response};

/// What the gRPC API needs besides the service.
#[derive(Debug, Clone)]
pub struct GrpcApiSettings {
    pub tenants: TenantResolver,
    pub limits: SearchLimits,
    /// `query_frontend.api_timeout`; zero disables.
    pub api_timeout: Duration,
    /// `query_frontend.max_grpc_streaming_packet_size`.
    pub max_message_bytes: usize,
}

/// The `StreamingQuerier` service over a [`QueryService`].
#[derive(Clone)]
pub struct StreamingQuerierApi {
    service: Arc<dyn QueryService>,
    settings: GrpcApiSettings,
}

impl std::fmt::Debug for StreamingQuerierApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingQuerierApi")
            .field("settings", &self.settings)
            .finish()
    }
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn once<T: Send + 'static>(message: T) -> ResponseStream<T> {
    Box::pin(futures::stream::once(async move { Ok(message) }))
}

impl StreamingQuerierApi {
    /// The service answering with `service`.
    pub fn new(service: Arc<dyn QueryService>, settings: GrpcApiSettings) -> Self {
        StreamingQuerierApi { service, settings }
    }

    /// The tonic server of this service, for a tonic `Server` or [`serve::http_and_grpc`].
    pub fn into_server(
        self,
    ) -> contrail_proto::tempopb::streaming_querier_server::StreamingQuerierServer<Self> {
        contrail_proto::tempopb::streaming_querier_server::StreamingQuerierServer::new(self)
            // Messages are cut below `max_message_bytes` before they are sent; this is tonic's
            // own bound, what Grafana's client accepts.
            .max_encoding_message_size(crate::config::GRPC_CLIENT_MAX_MESSAGE_BYTES as usize)
    }

    async fn within_timeout<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.settings.api_timeout.is_zero() {
            return work.await;
        }
        tokio::time::timeout(self.settings.api_timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    fn tags_request(&self, request: &SearchTagsRequest) -> Result<TagsRequest> {
        let range = TimeRange {
            start_secs: request.start,
            end_secs: request.end,
        };
        params::check_time_range(range)?;
        params::check_range_duration(range, self.settings.limits.max_duration_secs)?;
        Ok(TagsRequest {
            scope: params::parse_scope(&request.scope)?,
            filter: Some(request.query.as_str())
                .filter(|query| !query.trim().is_empty())
                .and_then(params::tolerant_filter),
            range,
            limit: request.max_tags_per_scope,
            max_stale_values: request.stale_values_threshold,
        })
    }

    fn tag_values_request(
        &self,
        request: &SearchTagValuesRequest,
        scoped: bool,
    ) -> Result<TagValuesRequest> {
        let range = TimeRange {
            start_secs: request.start,
            end_secs: request.end,
        };
        params::check_time_range(range)?;
        let query = if range.is_set() {
            format!("start={}&end={}", range.start_secs, range.end_secs)
        } else {
            String::new()
        };
        let mut parsed = params::parse_tag_values(
            &request.tag_name,
            scoped,
            &params::QueryParams::parse(Some(&query)),
            self.settings.limits.max_duration_secs,
        )?;
        parsed.filter = Some(request.query.as_str())
            .filter(|filter| !filter.trim().is_empty())
            .and_then(params::tolerant_filter);
        parsed.limit = request.max_tag_values;
        parsed.max_stale_values = request.stale_value_threshold;
        Ok(parsed)
    }
}

fn status(error: Error) -> Status {
    error.to_status()
}

#[tonic::async_trait]
impl StreamingQuerier for StreamingQuerierApi {
    type SearchStream = ResponseStream<SearchResponse>;
    type SearchTagsStream = ResponseStream<SearchTagsResponse>;
    type SearchTagsV2Stream = ResponseStream<SearchTagsV2Response>;
    type SearchTagValuesStream = ResponseStream<SearchTagValuesResponse>;
    type SearchTagValuesV2Stream = ResponseStream<SearchTagValuesV2Response>;
    type MetricsQueryRangeStream = ResponseStream<QueryRangeResponse>;
    type MetricsQueryInstantStream = ResponseStream<QueryInstantResponse>;

    async fn search(
        &self,
        request: Request<GrpcSearchRequest>,
    ) -> Result<Response<Self::SearchStream>, Status> {
        let tenants = self
            .settings
            .tenants
            .from_grpc(request.metadata())
            .map_err(status)?;
        let request = request.into_inner();
        let range = TimeRange {
            start_secs: request.start,
            end_secs: request.end,
        };
        params::check_time_range(range).map_err(status)?;
        let limits = &self.settings.limits;
        let query = if request.query.trim().is_empty() && !request.tags.is_empty() {
            params::tags_query(
                &request.tags,
                request.min_duration_ms,
                request.max_duration_ms,
            )
        } else {
            request.query.clone()
        };
        let search = params::build_search(
            SearchInput {
                query,
                limit: if request.limit == 0 {
                    limits.default_limit
                } else {
                    request.limit
                },
                spans_per_span_set: if request.spans_per_span_set == 0 {
                    limits.default_spans_per_span_set
                } else {
                    request.spans_per_span_set
                },
                range,
            },
            limits,
        )
        .map_err(status)?;
        let updates = self
            .service
            .search(&tenants, search)
            .await
            .map_err(status)?;
        Ok(Response::new(stream::throttled(
            updates,
            self.settings.max_message_bytes,
            self.settings.api_timeout,
        )))
    }

    async fn search_tags(
        &self,
        request: Request<SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsStream>, Status> {
        let tenants = self
            .settings
            .tenants
            .from_grpc(request.metadata())
            .map_err(status)?;
        let parsed = self.tags_request(request.get_ref()).map_err(status)?;
        let scope = parsed.scope;
        let response = self
            .within_timeout(self.service.search_tags(&tenants, parsed))
            .await
            .map_err(status)?;
        Ok(Response::new(once(tags_v1(scope, response))))
    }

    async fn search_tags_v2(
        &self,
        request: Request<SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsV2Stream>, Status> {
        let tenants = self
            .settings
            .tenants
            .from_grpc(request.metadata())
            .map_err(status)?;
        let parsed = self.tags_request(request.get_ref()).map_err(status)?;
        let response = self
            .within_timeout(self.service.search_tags(&tenants, parsed))
            .await
            .map_err(status)?;
        Ok(Response::new(once(response)))
    }

    async fn search_tag_values(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesStream>, Status> {
        let tenants = self
            .settings
            .tenants
            .from_grpc(request.metadata())
            .map_err(status)?;
        let parsed = self
            .tag_values_request(request.get_ref(), false)
            .map_err(status)?;
        let response = self
            .within_timeout(self.service.search_tag_values(&tenants, parsed))
            .await
            .map_err(status)?;
        let mut values: Vec<String> = response
            .tag_values
            .into_iter()
            .map(|value| value.value)
            .collect();
        values.sort();
        values.dedup();
        Ok(Response::new(once(SearchTagValuesResponse {
            tag_values: values,
            metrics: response.metrics,
        })))
    }

    async fn search_tag_values_v2(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesV2Stream>, Status> {
        let tenants = self
            .settings
            .tenants
            .from_grpc(request.metadata())
            .map_err(status)?;
        let parsed = self
            .tag_values_request(request.get_ref(), true)
            .map_err(status)?;
        let response = self
            .within_timeout(self.service.search_tag_values(&tenants, parsed))
            .await
            .map_err(status)?;
        Ok(Response::new(once(response)))
    }

    async fn metrics_query_range(
        &self,
        _request: Request<QueryRangeRequest>,
    ) -> Result<Response<Self::MetricsQueryRangeStream>, Status> {
        Err(Status::unimplemented(
            "TraceQL metrics queries are not served by this version of contrail",
        ))
    }

    async fn metrics_query_instant(
        &self,
        _request: Request<QueryInstantRequest>,
    ) -> Result<Response<Self::MetricsQueryInstantStream>, Status> {
        Err(Status::unimplemented(
            "TraceQL metrics queries are not served by this version of contrail",
        ))
    }
}
