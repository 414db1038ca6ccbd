//! Recent data: traces the ingesters hold that may not be in blocks yet (or not visible in the
//! blocklist yet). [`RecentData`] is the querier's view; [`GrpcRecentData`] asks every live
//! ingester over `contrail.internal.v1.IngesterService` (distributed mode, members from the
//! ring), [`LocalRecentData`] calls an in-process implementation of the same service (the single
//! binary). Both return one answer per ingester; the querier merges them.
//!
//! Metrics over recent data with replicas (RF > 1, ADR 013): [`GrpcRecentData`] sends each
//! ingester the ring it read (member IDs, replication factor), the ingesters it asks and which
//! one receives the request, so each trace is counted by exactly one of them. When some asked
//! ingesters do not answer (unavailable, timed out), the query is asked once more of the others
//! only, which then count the missing ones' traces too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use contrail_proto::ErrorCode;
use contrail_proto::internal::v1::ingester_service_client::IngesterServiceClient;
use contrail_proto::internal::v1::ingester_service_server::IngesterService;
use contrail_proto::internal::v1::{
    FindTraceByIdRequest, MetricsJobRequest, MetricsPartial, QueryRangeRecentRequest,
    RecentOwnership, SearchRecentRequest, SearchTagValuesRecentRequest, SearchTagsRecentRequest,
};
use contrail_proto::tempopb::{
    SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesV2Response,
    SearchTagsRequest, SearchTagsV2Response, Trace,
};
use contrail_proto::{TenantId, TraceId};
use futures::future::{join_all, try_join_all};
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

    /// The members now with their ring IDs (the IDs the distributor's placement hashes), for
    /// metrics over replicated recent data. By default the endpoint is the ID.
    fn ring_members(&self) -> Vec<RingMember> {
        self.members()
            .into_iter()
            .map(|endpoint| RingMember {
                id: endpoint.clone(),
                endpoint,
            })
            .collect()
    }
}

/// One ring member: its ring ID and the endpoint that reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingMember {
    /// The ID placement hashes (`ingester-0.ingester:9095`).
    pub id: String,
    /// Its gRPC endpoint (`http://ingester-0.ingester:9095`).
    pub endpoint: String,
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
    replication_factor: usize,
}

impl std::fmt::Debug for GrpcRecentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcRecentData")
            .field("timeout", &self.timeout)
            .field("replication_factor", &self.replication_factor)
            .finish()
    }
}

impl GrpcRecentData {
    /// Recent data from the ingesters `members` lists, each call bounded by `timeout`; each
    /// trace on one ingester (replication factor 1).
    pub fn new(members: Arc<dyn MemberSource>, timeout: Duration) -> Self {
        GrpcRecentData {
            members,
            channels: Channels::default(),
            timeout,
            replication_factor: 1,
        }
    }

    /// The distributor's replication factor: above 1, metrics jobs tell each ingester which
    /// traces are its to count (see the module docs).
    pub fn with_replication_factor(mut self, replication_factor: usize) -> Self {
        self.replication_factor = replication_factor.max(1);
        self
    }

    fn client(&self, endpoint: &str) -> Result<IngesterServiceClient<Channel>> {
        let channel = self.channels.channel(endpoint, self.timeout)?;
        Ok(IngesterServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
    }

    /// One metrics job over replicated recent data: asks every ring member with its ownership;
    /// when some do not answer, asks the others once more without them.
    async fn query_range_owned(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
    ) -> Result<Vec<MetricsPartial>> {
        let ring = self.members.ring_members();
        let ids: Vec<String> = ring.iter().map(|member| member.id.clone()).collect();
        let replication_factor = u32::try_from(self.replication_factor).unwrap_or(u32::MAX);
        let mut asked: Vec<u32> = (0..u32::try_from(ring.len()).unwrap_or(u32::MAX)).collect();
        let mut attempt = 1;
        loop {
            let calls = asked.iter().map(|receiver| {
                let endpoint = &ring[*receiver as usize].endpoint;
                let message = QueryRangeRecentRequest {
                    tenant: tenant.to_string(),
                    request: Some(request.clone()),
                    ownership: Some(RecentOwnership {
                        members: ids.clone(),
                        replication_factor,
                        asked: asked.clone(),
                        receiver: *receiver,
                    }),
                };
                async move {
                    let mut client = self.client(endpoint)?;
                    client
                        .query_range_recent(message)
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|status| {
                            Error::from_status(format!("ingester {endpoint}"), &status)
                        })
                }
            });
            let answers = join_all(calls).await;
            let unreachable: Vec<u32> = asked
                .iter()
                .zip(&answers)
                .filter(|(_, answer)| answer.as_ref().is_err_and(is_unreachable))
                .map(|(receiver, _)| *receiver)
                .collect();
            let retry = attempt == 1 && !unreachable.is_empty() && unreachable.len() < asked.len();
            let only_unreachable = answers
                .iter()
                .all(|answer| answer.as_ref().err().is_none_or(is_unreachable));
            if retry && only_unreachable {
                tracing::warn!(
                    tenant = %tenant,
                    unreachable = ?unreachable.iter().map(|index| &ring[*index as usize].id).collect::<Vec<_>>(),
                    "ingesters did not answer a recent metrics job; asking the others to count their traces"
                );
                asked.retain(|receiver| !unreachable.contains(receiver));
                attempt += 1;
                continue;
            }
            return answers.into_iter().collect();
        }
    }
}

/// An ingester that is down or too slow (its traces can be counted by the other replicas), as
/// opposed to one that refused the job.
fn is_unreachable(error: &Error) -> bool {
    matches!(error.code(), ErrorCode::Unavailable | ErrorCode::Timeout)
}

impl GrpcRecentData {
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
        if self.replication_factor > 1 {
            return self.query_range_owned(tenant, request).await;
        }
        let request = QueryRangeRecentRequest {
            tenant: tenant.to_string(),
            request: Some(request.clone()),
            ownership: None,
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
            ownership: None,
        });
        let answer = self
            .ingester
            .query_range_recent(request)
            .await
            .map_err(|status| local_error(&status))?;
        Ok(vec![answer.into_inner()])
    }
}
