//! Recent data: traces the ingesters hold that may not be in blocks yet (or not visible in the
//! blocklist yet). [`RecentData`] is the querier's view; [`GrpcRecentData`] asks every live
//! ingester over `contrail.internal.v1.IngesterService` (distributed mode, members from the
//! ring), [`LocalRecentData`] calls an in-process implementation of the same service (the single
//! binary). Both return one answer per ingester; the querier merges them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use contrail_proto::internal::v1::ingester_service_client::IngesterServiceClient;
use contrail_proto::internal::v1::ingester_service_server::IngesterService;
use contrail_proto::internal::v1::{
    FindTraceByIdRequest, MetricsJobRequest, MetricsPartial, QueryRangeRecentRequest,
    SearchRecentRequest, SearchTagValuesRecentRequest, SearchTagsRecentRequest,
};
use contrail_proto::tempopb::{
    SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesV2Response,
    SearchTagsRequest, SearchTagsV2Response, Trace,
};
use contrail_proto::{TenantId, TraceId};
use futures::future::try_join_all;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};

/// The querier's view of the ingesters.
#[async_trait]
pub trait RecentData: Send + Sync + 'static {
    /// The spans of `trace_id` each ingester holds.
    async fn find_trace_by_id(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Vec<Trace>>;
    /// A search of each ingester's recent traces.
    async fn search(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
    ) -> Result<Vec<SearchResponse>>;
    /// Attribute names in each ingester's recent traces.
    async fn search_tags(
        &self,
        tenant: &TenantId,
        request: &SearchTagsRequest,
    ) -> Result<Vec<SearchTagsV2Response>>;
    /// Attribute values in each ingester's recent traces.
    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &SearchTagValuesRequest,
    ) -> Result<Vec<SearchTagValuesV2Response>>;
    /// A metrics job over each ingester's recent data (its span starts only): one partial per
    /// ingester, in the wire form.
    async fn query_range(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
    ) -> Result<Vec<MetricsPartial>>;
}

/// Where the live ingesters (or queriers) are: gRPC endpoint URIs (`http://host:9095`). The
/// binary implements it over the ring's healthy members; [`StaticMembers`] is a fixed list.
pub trait MemberSource: Send + Sync + 'static {
    /// The endpoints to call now.
    fn members(&self) -> Vec<String>;
}

/// A fixed list of members.
#[derive(Debug, Clone, Default)]
pub struct StaticMembers(pub Vec<String>);

impl MemberSource for StaticMembers {
    fn members(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// Lazily connected gRPC channels, one per member endpoint.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    pub(crate) fn channel(&self, endpoint: &str, timeout: Duration) -> Result<Channel> {
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| Error::internal("channel cache poisoned"))?;
        if let Some(channel) = channels.get(endpoint) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|error| Error::Remote {
                target: endpoint.to_owned(),
                code: contrail_proto::ErrorCode::Internal,
                message: format!("invalid endpoint: {error}"),
            })?
            .timeout(timeout)
            .connect_timeout(timeout)
            .connect_lazy();
        channels.insert(endpoint.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// Asks every member of a [`MemberSource`] over gRPC, concurrently; any failure fails the
/// request (an answer silently missing an ingester's data would be wrong, not partial).
pub struct GrpcRecentData {
    members: Arc<dyn MemberSource>,
    channels: Channels,
    timeout: Duration,
}

impl std::fmt::Debug for GrpcRecentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcRecentData")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl GrpcRecentData {
    /// Recent data from the ingesters `members` lists, each call bounded by `timeout`.
    pub fn new(members: Arc<dyn MemberSource>, timeout: Duration) -> Self {
        GrpcRecentData {
            members,
            channels: Channels::default(),
            timeout,
        }
    }

    async fn each<T, F, Fut>(&self, call: F) -> Result<Vec<T>>
    where
        F: Fn(IngesterServiceClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let calls = self.members.members().into_iter().map(|endpoint| {
            let channel = self.channels.channel(&endpoint, self.timeout);
            let call = &call;
            async move {
                let client = IngesterServiceClient::new(channel?)
                    .max_decoding_message_size(64 * 1024 * 1024);
                call(client)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| Error::from_status(format!("ingester {endpoint}"), &status))
            }
        });
        try_join_all(calls).await
    }
}

#[async_trait]
impl RecentData for GrpcRecentData {
    async fn find_trace_by_id(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Vec<Trace>> {
        let request = FindTraceByIdRequest {
            tenant: tenant.to_string(),
            trace_id: bytes::Bytes::copy_from_slice(trace_id.as_bytes()),
        };
        let answers = self
            .each(|mut client| {
                let request = request.clone();
                async move { client.find_trace_by_id(request).await }
            })
            .await?;
        Ok(answers
            .into_iter()
            .filter_map(|answer| answer.trace)
            .collect())
    }

    async fn search(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
    ) -> Result<Vec<SearchResponse>> {
        let request = SearchRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        };
        self.each(|mut client| {
            let request = request.clone();
            async move { client.search_recent(request).await }
        })
        .await
    }

    async fn search_tags(
        &self,
        tenant: &TenantId,
        request: &SearchTagsRequest,
    ) -> Result<Vec<SearchTagsV2Response>> {
        let request = SearchTagsRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        };
        self.each(|mut client| {
            let request = request.clone();
            async move { client.search_tags_recent(request).await }
        })
        .await
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &SearchTagValuesRequest,
    ) -> Result<Vec<SearchTagValuesV2Response>> {
        let request = SearchTagValuesRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        };
        self.each(|mut client| {
            let request = request.clone();
            async move { client.search_tag_values_recent(request).await }
        })
        .await
    }

    async fn query_range(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
    ) -> Result<Vec<MetricsPartial>> {
        let request = QueryRangeRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        };
        self.each(|mut client| {
            let request = request.clone();
            async move { client.query_range_recent(request).await }
        })
        .await
    }
}

/// The in-process ingester of the single binary, called through its `IngesterService`
/// implementation directly (no network, no encoding).
pub struct LocalRecentData<S: IngesterService> {
    ingester: Arc<S>,
}

impl<S: IngesterService> std::fmt::Debug for LocalRecentData<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalRecentData")
    }
}

impl<S: IngesterService> LocalRecentData<S> {
    /// Recent data from `ingester`.
    pub fn new(ingester: Arc<S>) -> Self {
        LocalRecentData { ingester }
    }
}

fn local_error(status: &tonic::Status) -> Error {
    Error::from_status("ingester", status)
}

#[async_trait]
impl<S: IngesterService> RecentData for LocalRecentData<S> {
    async fn find_trace_by_id(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Vec<Trace>> {
        let request = tonic::Request::new(FindTraceByIdRequest {
            tenant: tenant.to_string(),
            trace_id: bytes::Bytes::copy_from_slice(trace_id.as_bytes()),
        });
        let answer = self
            .ingester
            .find_trace_by_id(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(answer.into_inner().trace.into_iter().collect())
    }

    async fn search(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
    ) -> Result<Vec<SearchResponse>> {
        let request = tonic::Request::new(SearchRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        });
        let answer = self
            .ingester
            .search_recent(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(vec![answer.into_inner()])
    }

    async fn search_tags(
        &self,
        tenant: &TenantId,
        request: &SearchTagsRequest,
    ) -> Result<Vec<SearchTagsV2Response>> {
        let request = tonic::Request::new(SearchTagsRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        });
        let answer = self
            .ingester
            .search_tags_recent(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(vec![answer.into_inner()])
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &SearchTagValuesRequest,
    ) -> Result<Vec<SearchTagValuesV2Response>> {
        let request = tonic::Request::new(SearchTagValuesRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        });
        let answer = self
            .ingester
            .search_tag_values_recent(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(vec![answer.into_inner()])
    }

    async fn query_range(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
    ) -> Result<Vec<MetricsPartial>> {
        let request = tonic::Request::new(QueryRangeRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
        });
        let answer = self
            .ingester
            .query_range_recent(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(vec![answer.into_inner()])
    }
}
