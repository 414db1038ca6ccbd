//! Spec §9 golden cases for trace by ID, tenancy and the plumbing (C1, C5-C13, C41-C45) against
//! a running querier: HTTP and gRPC on one port over 127.0.0.1:0, fixture F in a block written by
//! `BlockWriter` and, in part, in the recent-data double (the merge must return it once).

mod support;

use support::golden::*;
use support::*;

use std::io::Read;

use contrail_proto::otlp::trace::v1::span::SpanKind;
use contrail_proto::otlp::trace::v1::status::StatusCode;
use contrail_proto::tempopb::{self, PartialStatus, Trace, TraceByIdResponse};
use contrail_proto::{TenantId, TraceId};
use prost::Message;
use serde_json::Value;

#[tokio::test]
async fn c1_c42_c43_echo_buildinfo_unknown_route() {
    let case = setup(ServerOptions::default()).await;
    let echo = case.get("/api/echo", None).await;
    assert_eq!(echo.status(), 200);
    assert_eq!(content_type(&echo), "text/plain; charset=utf-8");
    assert_eq!(echo.text().await.unwrap().trim(), "echo");
    let info = case.json("/api/status/buildinfo").await;
    for key in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(info[key].is_string(), "{key}");
    }
    assert_eq!(case.get("/api/does-not-exist", None).await.status(), 404);
}

#[tokio::test]
async fn c5_to_c8_trace_by_id_protobuf_and_json_merged_from_ingesters_and_blocks() {
    let case = setup(ServerOptions::default()).await;
    let c5 = case
        .get(
            &format!("/api/v2/traces/{TRACE_HEX}"),
            Some("application/protobuf"),
        )
        .await;
    assert_eq!(c5.status(), 200);
    assert!(content_type(&c5).starts_with("application/protobuf"));
    let response = TraceByIdResponse::decode(c5.bytes().await.unwrap()).unwrap();
    assert_ne!(response.status(), PartialStatus::Partial);
    let trace = response.trace.unwrap();
    let all = spans(&trace);
    assert_eq!(all.len(), 2, "S2 is in the ingester and the block: once");
    let resource = trace.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    let s1 = all.iter().find(|s| s.name == "I am a span!").unwrap();
    let s2 = all.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(
        TraceId::from_bytes(&s1.trace_id).unwrap().to_hex(),
        TRACE_HEX
    );
    assert_eq!(s1.kind(), SpanKind::Server);
    assert_eq!(s1.status.as_ref().unwrap().code(), StatusCode::Error);
    assert_eq!(s2.parent_span_id, s1.span_id);
    assert_eq!(s2.events.len(), 1);
    assert_eq!(s2.events[0].name, "retry");

    let c6 = case.json(&format!("/api/v2/traces/{TRACE_HEX}")).await;
    let batches = &c6["trace"]["resourceSpans"];
    assert!(batches.is_array());
    assert!(c6["trace"].get("batches").is_none());
    let json_spans: Vec<&Value> = batches
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .flat_map(|ss| ss["spans"].as_array().unwrap())
        .collect();
    let s1 = json_spans
        .iter()
        .find(|s| s["name"] == "I am a span!")
        .unwrap();
    assert_eq!(s1["traceId"], "W47/95gDgQPSabYzgT/HAA==");
    assert_eq!(s1["spanId"], "7uGbfsPBsQA=");
    assert_eq!(s1["kind"], "SPAN_KIND_SERVER");
    assert_eq!(s1["startTimeUnixNano"], Value::String(case.t0.to_string()));
    let status_attr = s1["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "http.status_code")
        .unwrap();
    assert_eq!(status_attr["value"], serde_json::json!({"intValue": "200"}));
    let scope = &batches[0]["scopeSpans"][0]["scope"];
    assert_eq!(
        scope,
        &serde_json::json!({"name": "my.library", "version": "1.0.0"})
    );

    let c7 = case
        .get(
            &format!("/api/traces/{}", TRACE_HEX.to_uppercase()),
            Some("application/protobuf"),
        )
        .await;
    assert_eq!(c7.status(), 200);
    let trace = Trace::decode(c7.bytes().await.unwrap()).unwrap();
    assert_eq!(trace.span_count(), 2);

    let c8 = case.json(&format!("/api/traces/{TRACE_HEX}")).await;
    assert!(c8["batches"].is_array());
    assert!(c8.get("resourceSpans").is_none());
}

#[tokio::test]
async fn c9_to_c13_trace_by_id_errors() {
    let case = setup(ServerOptions::default()).await;
    let unknown = "00000000000000000000000000000bad";
    let c9 = case.get(&format!("/api/traces/{unknown}"), None).await;
    assert_eq!(c9.status(), 404);
    assert!(
        c9.text().await.unwrap().is_empty(),
        "404 with an empty body"
    );
    let c10 = case
        .get(
            &format!("/api/v2/traces/{unknown}"),
            Some("application/protobuf"),
        )
        .await;
    assert_eq!(c10.status(), 200);
    let empty = TraceByIdResponse::decode(c10.bytes().await.unwrap()).unwrap();
    assert_eq!(empty.trace.map_or(0, |t| t.span_count()), 0);
    let c10_json = case.json(&format!("/api/v2/traces/{unknown}")).await;
    assert!(c10_json.get("trace").is_none());

    for path in ["/api/traces/xyz", "/api/v2/traces/xyz"] {
        let c11 = case.get(path, None).await;
        assert_eq!(c11.status(), 400);
        assert!(content_type(&c11).starts_with("text/plain"));
        assert!(
            c11.text()
                .await
                .unwrap()
                .contains("trace IDs can only contain hex characters")
        );
    }
    let c12 = case
        .get(&format!("/api/traces/{}", "a".repeat(34)), None)
        .await;
    assert_eq!(c12.status(), 400);
    assert!(
        c12.text()
            .await
            .unwrap()
            .contains("trace IDs can't be larger than 128 bits")
    );
    let c13 = case
        .get(&format!("/api/traces/{TRACE_HEX}?start=200&end=100"), None)
        .await;
    assert_eq!(c13.status(), 400);
    assert!(
        c13.text()
            .await
            .unwrap()
            .contains("start must be before end")
    );
}

#[tokio::test]
async fn c41_multitenancy() {
    let case = setup(ServerOptions {
        multitenancy_enabled: true,
        ..ServerOptions::default()
    })
    .await;
    let t1 = TenantId::new("t1").unwrap();
    write_block(case.server.store.clone(), &t1, fixture(case.t0)).await;
    let path = format!("/api/v2/traces/{TRACE_HEX}");
    let with = |tenant: Option<&'static str>| {
        let mut request = case.http.get(case.server.url(&path));
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        async move { request.send().await.unwrap() }
    };
    let t2 = with(Some("t2")).await;
    assert_eq!(t2.status(), 200);
    assert!(t2.json::<Value>().await.unwrap().get("trace").is_none());
    let found: Value = with(Some("t1")).await.json().await.unwrap();
    assert!(found["trace"]["resourceSpans"].is_array());
    let missing = with(None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.text().await.unwrap(), "no org id");
    let invalid = with(Some("a#b")).await;
    assert_eq!(invalid.status(), 400);
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains("unsupported character")
    );
    let both: Value = with(Some("t1|t2")).await.json().await.unwrap();
    assert!(both["trace"]["resourceSpans"].is_array());
    assert_eq!(with(Some("t1||t2")).await.status(), 401);

    // gRPC reads the tenant from metadata.
    let mut client = case.server.grpc().await;
    let status = client
        .search(tempopb::SearchRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "no org id");
}

#[tokio::test]
async fn c45_gzip() {
    let case = setup(ServerOptions::default()).await;
    let path = format!("/api/v2/traces/{TRACE_HEX}");
    let plain = case.get(&path, None).await.bytes().await.unwrap();
    let zipped = case
        .http
        .get(case.server.url(&path))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let compressed = zipped.bytes().await.unwrap();
    let mut decoder = flate2::read::GzDecoder::new(compressed.as_ref());
    let mut body = Vec::new();
    decoder.read_to_end(&mut body).unwrap();
    assert_eq!(body, plain.to_vec());
}
