//! `PushTarget` over a real tonic server on 127.0.0.1, plus the generated streaming API.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::*;
use crate::internal::v1::ingester_service_server::{IngesterService, IngesterServiceServer};
use crate::internal::v1::{
    FindTraceByIdRequest, FindTraceByIdResponse, SearchRecentRequest, SearchTagValuesRecentRequest,
    SearchTagsRecentRequest,
};
use crate::tempopb::{
    self, SearchRequest, SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response,
    TraceSearchMetadata,
};

fn trace_of(trace_id: TraceId, span_times: &[(u64, u64)]) -> Trace {
    let spans = span_times
        .iter()
        .enumerate()
        .map(|(index, (start, end))| Span {
            trace_id: trace_id.as_bytes().to_vec(),
            span_id: vec![1, 2, 3, 4, 5, 6, 7, u8::try_from(index + 1).unwrap()],
            start_time_unix_nano: *start,
            end_time_unix_nano: *end,
            name: format!("span-{index}"),
            ..Default::default()
        })
        .collect();
    Trace {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A fake ingester: records pushes, rejects segments with more than 2 spans as too large, and
/// fails the whole push for tenant `down`.
#[derive(Default, Clone)]
struct RecordingIngester {
    pushes: Arc<Mutex<Vec<(TenantId, PushBatch)>>>,
}

#[tonic::async_trait]
impl IngesterService for RecordingIngester {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let (tenant, batch) = request
            .into_inner()
            .into_parts()
            .map_err(|error| error.code().to_status(error.to_string()))?;
        if tenant.as_str() == "down" {
            return Err(
                ErrorCode::RateLimited.to_status("RATE_LIMITED: ingestion rate limit exceeded")
            );
        }
        let reasons = batch
            .segments
            .iter()
            .map(|segment| {
                if segment.span_count > 2 {
                    PushErrorReason::TraceTooLarge
                } else {
                    PushErrorReason::Unspecified
                }
            })
            .collect();
        self.pushes.lock().unwrap().push((tenant, batch));
        Ok(Response::new(PushResponse::from_outcome(PushOutcome {
            errors_by_segment: reasons,
        })))
    }

    async fn find_trace_by_id(
        &self,
        _request: Request<FindTraceByIdRequest>,
    ) -> Result<Response<FindTraceByIdResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_recent(
        &self,
        _request: Request<SearchRecentRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_tags_recent(
        &self,
        _request: Request<SearchTagsRecentRequest>,
    ) -> Result<Response<SearchTagsV2Response>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_tag_values_recent(
        &self,
        _request: Request<SearchTagValuesRecentRequest>,
    ) -> Result<Response<SearchTagValuesV2Response>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn query_range_recent(
        &self,
        _request: Request<crate::internal::v1::QueryRangeRecentRequest>,
    ) -> Result<Response<crate::internal::v1::MetricsPartial>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

async fn serve_ingester(ingester: RecordingIngester) -> Channel {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(IngesterServiceServer::new(ingester))
            .serve_with_incoming(incoming),
    );
    tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[test]
fn segment_encodes_trace_once_with_time_range_and_count() {
    let trace_id = TraceId::from_hex("5b8efff798038103d269b633813fc700").unwrap();
    let trace = trace_of(trace_id, &[(20, 30), (10, 25), (15, 40)]);
    let segment = TraceSegment::from_trace(trace_id, &trace);
    assert_eq!(
        (
            segment.start_time_unix_nano,
            segment.end_time_unix_nano,
            segment.span_count
        ),
        (10, 40, 3)
    );
    assert_eq!(segment.trace_id().unwrap(), trace_id);
    assert_eq!(segment.decode_trace().unwrap(), trace);
    let empty = TraceSegment::from_trace(trace_id, &Trace::default());
    assert_eq!(
        (
            empty.start_time_unix_nano,
            empty.end_time_unix_nano,
            empty.span_count
        ),
        (0, 0, 0)
    );
    let short_id = TraceSegment {
        trace_id: bytes::Bytes::from_static(&[1; 8]),
        ..Default::default()
    };
    assert!(short_id.trace_id().is_err());
}

#[test]
fn outcome_lists_rejected_segments() {
    assert!(PushOutcome::all_accepted().is_all_accepted());
    let outcome = PushOutcome {
        errors_by_segment: vec![PushErrorReason::Unspecified, PushErrorReason::MaxLiveTraces],
    };
    assert!(!outcome.is_all_accepted());
    assert_eq!(
        outcome.rejected().collect::<Vec<_>>(),
        [(1, PushErrorReason::MaxLiveTraces)]
    );
    // An all-accepted outcome is sent as an empty list.
    let accepted = PushOutcome {
        errors_by_segment: vec![PushErrorReason::Unspecified; 3],
    };
    assert!(
        PushResponse::from_outcome(accepted)
            .errors_by_segment
            .is_empty()
    );
}

#[test]
fn invalid_tenant_in_request_is_rejected() {
    let request = PushRequest {
        tenant: "a|b".into(),
        segments: vec![],
    };
    assert!(
        request
            .into_parts()
            .unwrap_err()
            .to_string()
            .contains("unsupported character")
    );
}

#[tokio::test]
async fn grpc_push_target_delivers_batches_and_outcomes() {
    let ingester = RecordingIngester::default();
    let target: Arc<dyn PushTarget> =
        Arc::new(GrpcPushTarget::new(serve_ingester(ingester.clone()).await));
    let small_id = TraceId::from_hex("01").unwrap();
    let large_id = TraceId::from_hex("02").unwrap();
    let batch = PushBatch {
        segments: vec![
            TraceSegment::from_trace(small_id, &trace_of(small_id, &[(1, 2)])),
            TraceSegment::from_trace(large_id, &trace_of(large_id, &[(1, 2), (2, 3), (3, 4)])),
        ],
        checked: false,
    };
    let tenant = TenantId::new("team-a").unwrap();
    let outcome = target.push(&tenant, batch.clone()).await.unwrap();
    assert_eq!(
        outcome.rejected().collect::<Vec<_>>(),
        [(1, PushErrorReason::TraceTooLarge)]
    );

    let pushes = ingester.pushes.lock().unwrap().clone();
    assert_eq!(pushes, vec![(tenant, batch)]);
    assert_eq!(
        pushes[0].1.segments[1]
            .decode_trace()
            .unwrap()
            .resource_spans[0]
            .scope_spans[0]
            .spans
            .len(),
        3
    );

    let small_only = PushBatch {
        segments: vec![pushes[0].1.segments[0].clone()],
        checked: false,
    };
    assert!(
        target
            .push(&TenantId::single_tenant(), small_only)
            .await
            .unwrap()
            .is_all_accepted()
    );
}

#[tokio::test]
async fn grpc_push_errors_keep_their_code() {
    let target = GrpcPushTarget::new(serve_ingester(RecordingIngester::default()).await);
    let error = target
        .push(&TenantId::new("down").unwrap(), PushBatch::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::RateLimited);
    assert!(error.to_string().contains("RATE_LIMITED"), "{error}");
    assert_eq!(
        tonic::Status::from(error).code(),
        tonic::Code::ResourceExhausted
    );
}

#[tokio::test]
async fn unreachable_ingester_is_unavailable() {
    // Bind and drop a listener to get a port nobody serves.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let error = GrpcPushTarget::new(channel)
        .push(&TenantId::single_tenant(), PushBatch::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error:?}");
    assert!(error.code().is_retryable());
}

/// A StreamingQuerier that answers Search with two messages, as Tempo's diff + final stream does.
struct TwoMessageQuerier;

type SearchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<SearchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl tempopb::streaming_querier_server::StreamingQuerier for TwoMessageQuerier {
    type SearchStream = SearchStream;
    type SearchTagsStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<tempopb::SearchTagsResponse, Status>> + Send>,
    >;
    type SearchTagsV2Stream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<SearchTagsV2Response, Status>> + Send>>;
    type SearchTagValuesStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<tempopb::SearchTagValuesResponse, Status>> + Send>,
    >;
    type SearchTagValuesV2Stream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<SearchTagValuesV2Response, Status>> + Send>,
    >;
    type MetricsQueryRangeStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<tempopb::QueryRangeResponse, Status>> + Send>,
    >;
    type MetricsQueryInstantStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<tempopb::QueryInstantResponse, Status>> + Send>,
    >;

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchStream>, Status> {
        let request = request.into_inner();
        if request.query.is_empty() {
            return Err(Status::invalid_argument("invalid TraceQL query: empty"));
        }
        let message = |trace_id: &str| {
            Ok(SearchResponse {
                traces: vec![TraceSearchMetadata {
                    trace_id: trace_id.into(),
                    ..Default::default()
                }],
                metrics: None,
            })
        };
        Ok(Response::new(Box::pin(futures::stream::iter([
            message("a1"),
            message("b2"),
        ]))))
    }

    async fn search_tags(
        &self,
        _: Request<tempopb::SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_tags_v2(
        &self,
        _: Request<tempopb::SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsV2Stream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_tag_values(
        &self,
        _: Request<tempopb::SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_tag_values_v2(
        &self,
        _: Request<tempopb::SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesV2Stream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn metrics_query_range(
        &self,
        _: Request<tempopb::QueryRangeRequest>,
    ) -> Result<Response<Self::MetricsQueryRangeStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn metrics_query_instant(
        &self,
        _: Request<tempopb::QueryInstantRequest>,
    ) -> Result<Response<Self::MetricsQueryInstantStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

#[tokio::test]
async fn streaming_querier_search_streams_every_message() {
    use tempopb::streaming_querier_client::StreamingQuerierClient;
    use tempopb::streaming_querier_server::StreamingQuerierServer;

    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(StreamingQuerierServer::new(TwoMessageQuerier))
            .serve_with_incoming(incoming),
    );
    let mut client = StreamingQuerierClient::connect(format!("http://{address}"))
        .await
        .unwrap();

    let request = SearchRequest {
        query: "{}".into(),
        limit: 1,
        ..Default::default()
    };
    let mut stream = client.search(request).await.unwrap().into_inner();
    let mut trace_ids = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        trace_ids.extend(message.traces.into_iter().map(|trace| trace.trace_id));
    }
    assert_eq!(trace_ids, ["a1", "b2"]);

    let status = client.search(SearchRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().starts_with("invalid TraceQL query"));
}
