//! The transports: the axum router (`/flush`, `/shutdown`, readiness) on a real listener, and
//! the tonic adapter behind a real server on 127.0.0.1:0, reached with `GrpcPushTarget`.

use std::time::Duration;

use contrail_proto::internal::v1::FindTraceByIdRequest;
use contrail_proto::internal::v1::ingester_service_client::IngesterServiceClient;
use contrail_proto::{GrpcPushTarget, PushTarget};

use super::support::{Fixture, batch, block_count, corpus, eventually, span_ids, tenant};

async fn serve_http(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (format!("http://{address}"), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_shutdown_endpoints_behave_as_tempo_s() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let (base, server) = serve_http(crate::http::router(running.ingester.clone())).await;
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{base}/ingester/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);

    let traces = corpus(14, 20);
    running
        .ingester
        .push(&tenant(), batch(&traces))
        .await
        .expect("push");
    let flush = client
        .post(format!("{base}/flush"))
        .send()
        .await
        .expect("flush");
    assert_eq!(flush.status(), reqwest::StatusCode::NO_CONTENT);
    eventually("flushed block", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;

    running
        .ingester
        .push(&tenant(), batch(&corpus(15, 5)))
        .await
        .expect("push");
    let shutdown = client
        .get(format!("{base}/shutdown"))
        .send()
        .await
        .expect("shutdown");
    assert_eq!(shutdown.status(), reqwest::StatusCode::NO_CONTENT);
    let result = tokio::time::timeout(Duration::from_secs(20), running.handle)
        .await
        .expect("run ends after /shutdown")
        .expect("join");
    result.expect("clean shutdown");
    assert_eq!(
        block_count(&fixture.store, &tenant()).await,
        2,
        "shutdown flushed the rest"
    );
    let error = running
        .ingester
        .push(&tenant(), batch(&traces[..1]))
        .await
        .expect_err("stopped");
    assert_eq!(error.code(), contrail_proto::ErrorCode::Unavailable);
    let ready = client
        .get(format!("{base}/ingester/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_adapter_serves_push_and_find_trace_by_id_to_the_real_client() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let service = crate::grpc::ingester_service(running.ingester.clone());
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream_from(listener))
            .await
            .expect("grpc server");
    });
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let target = GrpcPushTarget::new(channel.clone());
    let traces = corpus(16, 10);
    let outcome = target
        .push(&tenant(), batch(&traces))
        .await
        .expect("push over grpc");
    assert!(outcome.is_all_accepted());

    let mut client = IngesterServiceClient::new(channel);
    let response = client
        .find_trace_by_id(FindTraceByIdRequest {
            tenant: "acme".to_owned(),
            trace_id: bytes::Bytes::copy_from_slice(traces[3].trace_id.as_bytes()),
        })
        .await
        .expect("find")
        .into_inner();
    let trace = response.trace.expect("trace");
    let found = contrail_storage::convert::Trace {
        trace_id: traces[3].trace_id,
        resource_spans: trace.resource_spans,
    };
    let mut ids = span_ids(&found);
    ids.sort_unstable();
    assert_eq!(ids, traces[3].span_ids.iter().copied().collect::<Vec<_>>());

    let bad = client
        .find_trace_by_id(FindTraceByIdRequest {
            tenant: "acme".to_owned(),
            trace_id: bytes::Bytes::from_static(b"short"),
        })
        .await
        .expect_err("bad id");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let search = client
        .search_recent(contrail_proto::internal::v1::SearchRecentRequest {
            tenant: "acme".to_owned(),
            request: Some(contrail_proto::tempopb::SearchRequest {
                query: "{ }".to_owned(),
                limit: 100,
                ..Default::default()
            }),
        })
        .await
        .expect("search over recent data")
        .into_inner();
    assert_eq!(search.traces.len(), 10, "every pushed trace matches {{ }}");
    let bad_query = client
        .search_recent(contrail_proto::internal::v1::SearchRecentRequest {
            tenant: "acme".to_owned(),
            request: Some(contrail_proto::tempopb::SearchRequest {
                query: "{ span.x = ".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("bad query");
    assert_eq!(bad_query.code(), tonic::Code::InvalidArgument);
    let tags = client
        .search_tags_recent(contrail_proto::internal::v1::SearchTagsRecentRequest {
            tenant: "acme".to_owned(),
            request: Some(contrail_proto::tempopb::SearchTagsRequest {
                scope: "resource".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("tags over recent data")
        .into_inner();
    assert_eq!(tags.scopes.len(), 1);
    assert_eq!(tags.scopes[0].name, "resource");
    assert!(
        tags.scopes[0].tags.iter().any(|tag| tag == "service.name"),
        "{tags:?}"
    );
    let services = client
        .search_tag_values_recent(contrail_proto::internal::v1::SearchTagValuesRecentRequest {
            tenant: "acme".to_owned(),
            request: Some(contrail_proto::tempopb::SearchTagValuesRequest {
                tag_name: "resource.service.name".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("tag values over recent data")
        .into_inner();
    assert!(!services.tag_values.is_empty());
    assert!(
        services
            .tag_values
            .iter()
            .all(|value| value.r#type == "string")
    );
    let bad_scope = client
        .search_tags_recent(contrail_proto::internal::v1::SearchTagsRecentRequest {
            tenant: "acme".to_owned(),
            request: Some(contrail_proto::tempopb::SearchTagsRequest {
                scope: "everything".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("bad scope");
    assert_eq!(bad_scope.code(), tonic::Code::InvalidArgument);

    running.request_shutdown_and_wait().await;
    let refused = target
        .push(&tenant(), batch(&traces[..1]))
        .await
        .expect_err("stopped");
    assert_eq!(refused.code(), contrail_proto::ErrorCode::Unavailable);
    server.abort();
}

fn tokio_stream_from(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
