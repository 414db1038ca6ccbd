//! The read path behind the API: traces split across blocks, blocks compacted under a lookup,
//! blocklist polling, the caches, the size limit (422 / PARTIAL), the per-query memory budget,
//! timeouts, a 100,000-trace answer, and the request sequence Grafana's datasource sends.

mod support;

use std::time::Duration;

use chrono::Utc;
use contrail_proto::TenantId;
use contrail_proto::tempopb::{
    self, PartialStatus, SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response, Trace,
    TraceByIdResponse, TraceSearchMetadata,
};
use contrail_storage::block::{
    COMPACTED_META_OBJECT, TenantIndex, mark_compacted, object_path, write_tenant_index,
};
use object_store::ObjectStoreExt;
use prost::Message;
use serde_json::Value;
use support::*;

fn tenant() -> TenantId {
    TenantId::single_tenant()
}

fn t0() -> u64 {
    (now_secs() - 60) * 1_000_000_000
}

async fn trace_by_id(server: &TestServer, accept: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(&format!("/api/v2/traces/{TRACE_HEX}")))
        .header("Accept", accept)
        .send()
        .await
        .unwrap()
}

async fn span_count(server: &TestServer) -> usize {
    let response = trace_by_id(server, "application/protobuf").await;
    assert_eq!(response.status(), 200);
    TraceByIdResponse::decode(response.bytes().await.unwrap())
        .unwrap()
        .trace
        .map_or(0, |trace| trace.span_count())
}

fn counter(server: &TestServer, name: &str, labels: &[(&str, &str)]) -> f64 {
    server
        .registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().to_vec())
        .filter(|metric| {
            labels.iter().all(|(key, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == *key && label.value() == *value)
            })
        })
        .map(|metric| metric.get_counter().get_value())
        .sum()
}

#[tokio::test]
async fn a_trace_split_across_blocks_comes_back_whole() {
    let server = TestServer::start(ServerOptions::default()).await;
    let t0 = t0();
    write_block(
        server.store.clone(),
        &tenant(),
        only_span(fixture(t0), 0x00),
    )
    .await;
    write_block(
        server.store.clone(),
        &tenant(),
        only_span(fixture(t0), 0x01),
    )
    .await;
    assert_eq!(span_count(&server).await, 2);
    // Time hints that exclude both blocks find nothing.
    let old = reqwest::Client::new()
        .get(server.url(&format!("/api/traces/{TRACE_HEX}?start=1000&end=2000")))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 404);
}

#[tokio::test]
async fn a_block_compacted_under_a_lookup_does_not_fail_it() {
    let server = TestServer::start(ServerOptions::default()).await;
    let t0 = t0();
    let written = write_block(server.store.clone(), &tenant(), fixture(t0)).await;
    // The querier knows the block...
    server.querier.blocklist().refresh(&tenant()).await.unwrap();
    // ...then the compactor replaces it and deletes its objects.
    write_block(server.store.clone(), &tenant(), fixture(t0)).await;
    mark_compacted(server.store.as_ref(), &written.meta, Utc::now())
        .await
        .unwrap();
    for object in ["data.parquet", "bloom-0"] {
        server
            .store
            .delete(&object_path(&tenant(), &written.meta.block_id, object))
            .await
            .unwrap();
    }
    assert!(
        server
            .store
            .head(&object_path(
                &tenant(),
                &written.meta.block_id,
                COMPACTED_META_OBJECT
            ))
            .await
            .is_ok()
    );
    assert_eq!(
        span_count(&server).await,
        2,
        "read from the replacement block"
    );

    // A live block whose objects vanish without compaction is an error, not a silent miss.
    let broken = write_block(server.store.clone(), &tenant(), fixture(t0)).await;
    server.querier.blocklist().refresh(&tenant()).await.unwrap();
    server
        .store
        .delete(&object_path(&tenant(), &broken.meta.block_id, "bloom-0"))
        .await
        .unwrap();
    let response = trace_by_id(&server, "application/json").await;
    assert_eq!(response.status(), 500);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains(&broken.meta.block_id.to_string())
    );
}

#[tokio::test]
async fn new_blocks_are_visible_after_one_poll_from_the_index_or_a_listing() {
    let server = TestServer::start(ServerOptions::default()).await;
    let t0 = t0();
    assert_eq!(
        span_count(&server).await,
        0,
        "nothing yet (and the tenant is now known)"
    );
    let first = write_block(
        server.store.clone(),
        &tenant(),
        only_span(fixture(t0), 0x00),
    )
    .await;
    assert_eq!(span_count(&server).await, 0, "not polled yet");
    server.querier.blocklist().poll_all().await.unwrap();
    assert_eq!(
        span_count(&server).await,
        1,
        "found by listing (no tenant index)"
    );
    assert_eq!(
        counter(
            &server,
            "contrail_querier_blocklist_polls_total",
            &[("status", "list")]
        ),
        2.0
    );

    // With an index, the index is what the poll reads: a block it does not name stays unseen.
    let second = write_block(
        server.store.clone(),
        &tenant(),
        only_span(fixture(t0), 0x01),
    )
    .await;
    let index = TenantIndex {
        created_at: Utc::now(),
        meta: vec![first.meta.clone()],
        compacted: Vec::new(),
    };
    write_tenant_index(server.store.as_ref(), &tenant(), &index)
        .await
        .unwrap();
    server.querier.blocklist().poll_all().await.unwrap();
    assert_eq!(span_count(&server).await, 1);
    let index = TenantIndex {
        created_at: Utc::now(),
        meta: vec![first.meta, second.meta],
        compacted: Vec::new(),
    };
    write_tenant_index(server.store.as_ref(), &tenant(), &index)
        .await
        .unwrap();
    server.querier.blocklist().poll_all().await.unwrap();
    assert_eq!(span_count(&server).await, 2);
    assert!(
        counter(
            &server,
            "contrail_querier_blocklist_polls_total",
            &[("status", "index")]
        ) >= 2.0
    );
}

#[tokio::test]
async fn bloom_shards_and_footers_are_cached() {
    let server = TestServer::start(ServerOptions::default()).await;
    write_block(server.store.clone(), &tenant(), fixture(t0())).await;
    assert_eq!(span_count(&server).await, 2);
    let bloom_misses = counter(
        &server,
        "contrail_querier_cache_requests_total",
        &[("method", "bloom"), ("status", "miss")],
    );
    let footer_misses = counter(
        &server,
        "contrail_querier_cache_requests_total",
        &[("method", "footer"), ("status", "miss")],
    );
    assert_eq!((bloom_misses, footer_misses), (1.0, 1.0));
    for _ in 0..3 {
        assert_eq!(span_count(&server).await, 2);
    }
    let hits = |method| {
        counter(
            &server,
            "contrail_querier_cache_requests_total",
            &[("method", method), ("status", "hit")],
        )
    };
    assert_eq!(hits("bloom"), 3.0);
    assert_eq!(hits("footer"), 3.0);
    assert_eq!(
        counter(
            &server,
            "contrail_querier_cache_requests_total",
            &[("status", "miss")]
        ),
        2.0,
        "no more misses"
    );
}

#[tokio::test]
async fn the_size_limit_gives_422_on_v1_and_partial_on_v2() {
    let server = TestServer::start(ServerOptions {
        max_bytes_per_trace: 150,
        ..ServerOptions::default()
    })
    .await;
    write_block(server.store.clone(), &tenant(), fixture(t0())).await;
    let v1 = reqwest::get(server.url(&format!("/api/traces/{TRACE_HEX}")))
        .await
        .unwrap();
    assert_eq!(v1.status(), 422);
    assert!(
        v1.text()
            .await
            .unwrap()
            .contains("exceeds maximum size of 150 bytes")
    );
    let v2 = trace_by_id(&server, "application/protobuf").await;
    assert_eq!(v2.status(), 200);
    let response = TraceByIdResponse::decode(v2.bytes().await.unwrap()).unwrap();
    assert_eq!(response.status(), PartialStatus::Partial);
    assert!(response.message.contains("a partial trace is returned"));
    let spans = response.trace.unwrap().span_count();
    assert!((1..2).contains(&spans), "{spans} spans");
}

fn many_traces(count: usize, t0: u64) -> SearchResponse {
    SearchResponse {
        traces: (0..count)
            .map(|index| TraceSearchMetadata {
                trace_id: format!("{:032x}", index + 1),
                root_service_name: "svc".into(),
                root_trace_name: "GET /api/items".into(),
                start_time_unix_nano: t0 + index as u64,
                duration_ms: 12,
                ..TraceSearchMetadata::default()
            })
            .collect(),
        metrics: None,
    }
}

#[tokio::test]
async fn a_search_of_100000_traces_is_answered() {
    let server = TestServer::start(ServerOptions::default()).await;
    let response = many_traces(100_000, t0());
    server
        .recent
        .searches
        .lock()
        .unwrap()
        .insert("{}".into(), response);
    let body: Value = reqwest::get(server.url("/api/search?q=%7B%7D&limit=100000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let traces = body["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 100_000);
    assert_eq!(
        traces[0]["traceID"],
        format!("{:032x}", 100_000),
        "newest first"
    );
    let decoded: SearchResponse = serde_json::from_value(body).unwrap();
    assert_eq!(decoded.traces.len(), 100_000);

    // The same over gRPC: every message below the packet size, all traces delivered.
    let mut client = server.grpc().await;
    let mut stream = client
        .search(tempopb::SearchRequest {
            query: "{}".into(),
            limit: 100_000,
            ..tempopb::SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = std::collections::HashSet::new();
    while let Some(message) = stream.message().await.unwrap() {
        assert!(message.encoded_len() < 2 * 1024 * 1024);
        ids.extend(message.traces.into_iter().map(|t| t.trace_id));
    }
    assert_eq!(ids.len(), 100_000);
}

#[tokio::test]
async fn over_the_memory_budget_and_past_the_timeout() {
    let mut options = ServerOptions::default();
    options.frontend.search.max_query_memory = bytesize::ByteSize::mib(1);
    options.frontend.api_timeout = Duration::from_millis(300);
    let server = TestServer::start(options).await;
    server
        .recent
        .searches
        .lock()
        .unwrap()
        .insert("{}".into(), many_traces(20_000, t0()));
    let over = reqwest::get(server.url("/api/search?q=%7B%7D&limit=20000"))
        .await
        .unwrap();
    assert_eq!(over.status(), 400);
    let body = over.text().await.unwrap();
    assert!(body.contains("memory budget of 1048576 bytes"), "{body}");

    *server.recent.delay.lock().unwrap() = Duration::from_secs(5);
    let slow = reqwest::get(server.url("/api/search?q=%7B%7D"))
        .await
        .unwrap();
    assert_eq!(slow.status(), 503);
    assert_eq!(
        slow.text().await.unwrap(),
        "unable to process request in the configured timeout"
    );
}

#[tokio::test]
async fn too_many_outstanding_queries_per_tenant_is_429() {
    let mut options = ServerOptions::default();
    options.frontend.max_outstanding_per_tenant = 1;
    let server = TestServer::start(options).await;
    *server.recent.delay.lock().unwrap() = Duration::from_millis(500);
    let first = tokio::spawn(reqwest::get(server.url("/api/search?q=%7B%7D")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = reqwest::get(server.url("/api/search?q=%7B%7D"))
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    assert!(
        second
            .text()
            .await
            .unwrap()
            .contains("too many outstanding requests")
    );
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

/// Grafana's datasource: connection test, TraceQL search, trace view over protobuf, tag and value
/// autocomplete, streaming search; each answer decoded into the documented type.
#[tokio::test]
async fn the_grafana_datasource_request_sequence() {
    let server = TestServer::start(ServerOptions::default()).await;
    let t0 = t0();
    write_block(server.store.clone(), &tenant(), fixture(t0)).await;
    let query =
        "{resource.service.name=\"my.service\" && span.http.method=\"GET\" && duration>100ms}";
    server
        .recent
        .searches
        .lock()
        .unwrap()
        .insert(query.into(), many_traces(3, t0));
    *server.recent.tags.lock().unwrap() = vec![SearchTagsV2Response {
        scopes: vec![tempopb::SearchTagsV2Scope {
            name: "resource".into(),
            tags: vec!["service.name".into()],
        }],
        metrics: None,
    }];
    let http = reqwest::Client::new();
    let now = now_secs();
    // 1. Save & test.
    let echo = http.get(server.url("/api/echo")).send().await.unwrap();
    assert_eq!(echo.status(), 200);
    // 2. TraceQL search (backend: Accept JSON), parsed strictly.
    let search = http
        .get(server.url(&format!(
            "/api/search?q={}&limit=20&spss=3&start={}&end={}",
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>(),
            now - 3600,
            now
        )))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let search: SearchResponse = serde_json::from_slice(&search.bytes().await.unwrap()).unwrap();
    assert_eq!(search.traces.len(), 3);
    // 3. Trace view: v2 over protobuf with the dashboard range.
    let view = http
        .get(server.url(&format!(
            "/api/v2/traces/{TRACE_HEX}?start={}&end={}",
            now - 3600,
            now + 60
        )))
        .header("Accept", "application/protobuf")
        .send()
        .await
        .unwrap();
    let view = TraceByIdResponse::decode(view.bytes().await.unwrap()).unwrap();
    assert_eq!(view.trace.unwrap().span_count(), 2);
    // 4. Autocomplete: names, then values (browser Accept header).
    let browser = "application/json, text/plain, */*";
    let tags = http
        .get(server.url("/api/v2/search/tags?limit=5000"))
        .header("Accept", browser)
        .send()
        .await
        .unwrap();
    let tags: SearchTagsV2Response = serde_json::from_slice(&tags.bytes().await.unwrap()).unwrap();
    assert!(tags.scopes.iter().any(|s| s.name == "resource"));
    let values = http
        .get(server.url("/api/v2/search/tag/kind/values?limit=5000"))
        .header("Accept", browser)
        .send()
        .await
        .unwrap();
    let values: SearchTagValuesV2Response =
        serde_json::from_slice(&values.bytes().await.unwrap()).unwrap();
    assert_eq!(values.tag_values.len(), 6);
    // 5. Streaming search with the tenant header copied into metadata.
    let mut client = server.grpc().await;
    let mut request = tonic::Request::new(tempopb::SearchRequest {
        query: query.into(),
        limit: 20,
        spans_per_span_set: 3,
        start: (now - 3600) as u32,
        end: now as u32,
        ..tempopb::SearchRequest::default()
    });
    request
        .metadata_mut()
        .insert("x-scope-orgid", "single-tenant".parse().unwrap());
    let mut stream = client.search(request).await.unwrap().into_inner();
    let mut seen = std::collections::HashSet::new();
    while let Some(message) = stream.message().await.unwrap() {
        seen.extend(message.traces.into_iter().map(|t| t.trace_id));
    }
    assert_eq!(seen.len(), 3);
    let _: Trace = Trace::default();
}
