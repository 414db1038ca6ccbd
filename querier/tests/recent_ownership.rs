//! Metrics over replicated recent data (ADR 013): `GrpcRecentData` with RF > 1 sends every
//! ingester the ring, the asked set and its own index; an ingester that does not answer is left
//! out of a second round, so the others count its traces; a refusal is not retried. RF = 1 sends
//! no ownership.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contrail_proto::TenantId;
use contrail_proto::internal::v1::ingester_service_server::{
    IngesterService, IngesterServiceServer,
};
use contrail_proto::internal::v1::{
    FindTraceByIdRequest, FindTraceByIdResponse, MetricsPartial, PushRequest, PushResponse,
    QueryRangeRecentRequest, RecentOwnership, SearchRecentRequest, SearchTagValuesRecentRequest,
    SearchTagsRecentRequest,
};
use contrail_proto::tempopb::{SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response};
use contrail_querier::recent::{GrpcRecentData, MemberSource, RecentData, RingMember};
use contrail_traceql::metrics::{MetricsRequest, TimeWindow, job_to_proto};
use tonic::{Request, Response, Status};

/// Records the ownership of every metrics job; refuses them when `refuse`.
#[derive(Default)]
struct FakeIngester {
    seen: Mutex<Vec<Option<RecentOwnership>>>,
    refuse: bool,
}

/// The served side of a [`FakeIngester`] the test keeps a handle on.
struct Shared(Arc<FakeIngester>);

#[tonic::async_trait]
impl IngesterService for Shared {
    async fn push(&self, _: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn find_trace_by_id(
        &self,
        _: Request<FindTraceByIdRequest>,
    ) -> Result<Response<FindTraceByIdResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn search_recent(
        &self,
        _: Request<SearchRecentRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn search_tags_recent(
        &self,
        _: Request<SearchTagsRecentRequest>,
    ) -> Result<Response<SearchTagsV2Response>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn search_tag_values_recent(
        &self,
        _: Request<SearchTagValuesRecentRequest>,
    ) -> Result<Response<SearchTagValuesV2Response>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }

    async fn query_range_recent(
        &self,
        request: Request<QueryRangeRecentRequest>,
    ) -> Result<Response<MetricsPartial>, Status> {
        self.0
            .seen
            .lock()
            .unwrap()
            .push(request.into_inner().ownership);
        if self.0.refuse {
            return Err(Status::invalid_argument("refused by the test"));
        }
        Ok(Response::new(MetricsPartial::default()))
    }
}

async fn serve(fake: Arc<FakeIngester>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IngesterServiceServer::new(Shared(fake)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr.to_string()
}

fn dead_address() -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    addr.to_string()
}

/// Ring members whose IDs differ from their endpoints, as in the binary.
struct Ring(Vec<String>);

impl MemberSource for Ring {
    fn members(&self) -> Vec<String> {
        self.ring_members()
            .into_iter()
            .map(|m| m.endpoint)
            .collect()
    }

    fn ring_members(&self) -> Vec<RingMember> {
        self.0
            .iter()
            .map(|address| RingMember {
                id: format!("id-{address}"),
                endpoint: format!("http://{address}"),
            })
            .collect()
    }
}

fn job() -> contrail_proto::internal::v1::MetricsJobRequest {
    let window = TimeWindow::instant(1_000_000_000, 2_000_000_000).unwrap();
    job_to_proto("{ } | count_over_time()", &MetricsRequest::new(window), 0)
}

fn tenant() -> TenantId {
    TenantId::new("single-tenant").unwrap()
}

#[tokio::test]
async fn every_ingester_gets_the_ring_and_a_dead_one_is_left_out_of_a_second_round() {
    let first = Arc::new(FakeIngester::default());
    let third = Arc::new(FakeIngester::default());
    let addresses = vec![
        serve(first.clone()).await,
        dead_address(),
        serve(third.clone()).await,
    ];
    let ids: Vec<String> = addresses.iter().map(|a| format!("id-{a}")).collect();
    let recent = GrpcRecentData::new(Arc::new(Ring(addresses)), Duration::from_secs(5))
        .with_replication_factor(3);
    let answers = recent
        .query_range(&tenant(), &job())
        .await
        .expect("answers");
    assert_eq!(answers.len(), 2);
    for (fake, receiver) in [(&first, 0), (&third, 2)] {
        let seen = fake.seen.lock().unwrap().clone();
        let expected = |asked: Vec<u32>| {
            Some(RecentOwnership {
                members: ids.clone(),
                replication_factor: 3,
                asked,
                receiver,
            })
        };
        // All three asked first; then only the two that answered.
        assert_eq!(seen, [expected(vec![0, 1, 2]), expected(vec![0, 2])]);
    }
}

#[tokio::test]
async fn a_refused_job_fails_the_query_without_a_second_round() {
    let fine = Arc::new(FakeIngester::default());
    let refusing = Arc::new(FakeIngester {
        refuse: true,
        ..FakeIngester::default()
    });
    let addresses = vec![serve(fine.clone()).await, serve(refusing.clone()).await];
    let recent = GrpcRecentData::new(Arc::new(Ring(addresses)), Duration::from_secs(5))
        .with_replication_factor(3);
    let error = recent
        .query_range(&tenant(), &job())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("refused by the test"), "{error}");
    assert_eq!(fine.seen.lock().unwrap().len(), 1);
    assert_eq!(refusing.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn every_ingester_down_is_an_error_and_rf1_sends_no_ownership() {
    let recent = GrpcRecentData::new(
        Arc::new(Ring(vec![dead_address(), dead_address()])),
        Duration::from_secs(5),
    )
    .with_replication_factor(3);
    let error = recent
        .query_range(&tenant(), &job())
        .await
        .expect_err("nobody answers");
    assert_eq!(
        error.code(),
        contrail_proto::ErrorCode::Unavailable,
        "{error}"
    );

    let fake = Arc::new(FakeIngester::default());
    let address = serve(fake.clone()).await;
    let recent = GrpcRecentData::new(Arc::new(Ring(vec![address])), Duration::from_secs(5));
    let answers = recent
        .query_range(&tenant(), &job())
        .await
        .expect("answers");
    assert_eq!(answers.len(), 1);
    assert_eq!(*fake.seen.lock().unwrap(), [None]);
}
