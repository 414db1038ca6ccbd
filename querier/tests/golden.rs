//! Spec §9 golden cases (all but the metrics ones) against a running querier: HTTP and gRPC on
//! one port over 127.0.0.1:0, fixture F in a block written by `BlockWriter` (trace by ID reads
//! it from disk) and in the recent-data double (which answers searches and tags as an ingester
//! would, until the engine reads blocks).

mod support;

use std::io::Read;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::trace::v1::span::SpanKind;
use contrail_proto::otlp::trace::v1::status::StatusCode;
use contrail_proto::tempopb::{
    self, PartialStatus, SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response,
    SearchTagsV2Scope, Span as SearchSpan, SpanSet, TagValue, Trace, TraceByIdResponse,
    TraceSearchMetadata,
};
use contrail_proto::{TenantId, TraceId};
use prost::Message;
use serde_json::Value;
use support::*;

const QUERY: &str = "{resource.service.name=\"my.service\"}";

struct Case {
    server: TestServer,
    t0: u64,
    now: u64,
    http: reqwest::Client,
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// What an ingester answers for `QUERY` over fixture F.
fn fixture_search(t0: u64) -> SearchResponse {
    let mut trace = TraceSearchMetadata {
        trace_id: TRACE_HEX.into(),
        root_service_name: "my.service".into(),
        root_trace_name: "I am a span!".into(),
        start_time_unix_nano: t0,
        duration_ms: 1000,
        ..TraceSearchMetadata::default()
    };
    trace.set_span_sets(vec![SpanSet {
        spans: vec![
            SearchSpan {
                span_id: "eee19b7ec3c1b100".into(),
                name: "I am a span!".into(),
                start_time_unix_nano: t0,
                duration_nanos: 1_000_000_000,
                attributes: vec![
                    string_kv("service.name", "my.service"),
                    string_kv("my.span.attr", "some value"),
                ],
            },
            SearchSpan {
                span_id: "eee19b7ec3c1b101".into(),
                name: "child".into(),
                start_time_unix_nano: t0 + 100_000_000,
                duration_nanos: 200_000_000,
                attributes: vec![string_kv("service.name", "my.service")],
            },
        ],
        matched: 2,
        attributes: Vec::new(),
    }]);
    SearchResponse {
        traces: vec![trace],
        metrics: None,
    }
}

async fn setup(options: ServerOptions) -> Case {
    let server = TestServer::start(options).await;
    let now = now_secs();
    let t0 = (now - 60) * 1_000_000_000;
    let tenant = TenantId::single_tenant();
    write_block(server.store.clone(), &tenant, fixture(t0)).await;
    // The ingester still holds the child span: it must come back once.
    server
        .recent
        .add_trace("single-tenant", only_span(fixture(t0), 0x01));
    let search = fixture_search(t0);
    for query in [
        QUERY,
        "{span.my.span.attr=\"some value\"}",
        "{status=error}",
        "{duration>500ms}",
        "{}",
    ] {
        server
            .recent
            .searches
            .lock()
            .unwrap()
            .insert(query.into(), search.clone());
    }
    *server.recent.tags.lock().unwrap() = vec![SearchTagsV2Response {
        scopes: vec![
            SearchTagsV2Scope {
                name: "resource".into(),
                tags: vec!["service.name".into()],
            },
            SearchTagsV2Scope {
                name: "span".into(),
                tags: vec![
                    "my.span.attr".into(),
                    "http.status_code".into(),
                    "db.system".into(),
                ],
            },
        ],
        metrics: None,
    }];
    let mut values = server.recent.values.lock().unwrap();
    let typed = |kind: &str, value: &str| SearchTagValuesV2Response {
        tag_values: vec![TagValue {
            r#type: kind.into(),
            value: value.into(),
        }],
        metrics: None,
    };
    values.insert(
        ("resource.service.name".into(), String::new()),
        typed("string", "my.service"),
    );
    values.insert(
        ("service.name".into(), String::new()),
        typed("string", "my.service"),
    );
    values.insert(
        ("span.http.status_code".into(), String::new()),
        typed("int", "200"),
    );
    values.insert(
        ("span.db.system".into(), String::new()),
        typed("string", "postgres"),
    );
    values.insert(
        ("span.db.system".into(), "{name=\"I am a span!\"}".into()),
        SearchTagValuesV2Response::default(),
    );
    drop(values);
    Case {
        server,
        t0,
        now,
        http: reqwest::Client::new(),
    }
}

impl Case {
    fn range(&self) -> String {
        format!("start={}&end={}", self.now - 3600, self.now + 60)
    }

    async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.server.url(path));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        request.send().await.unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            content_type(&response).starts_with("application/json"),
            "{path}"
        );
        response.json().await.unwrap()
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn spans(trace: &Trace) -> Vec<&contrail_proto::otlp::trace::v1::Span> {
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

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

/// Every key of a search answer is one of the `tempopb` schema's (Grafana's parser is strict).
fn assert_strict_search_keys(value: &Value) {
    const ALLOWED: &[&str] = &[
        "traces",
        "metrics",
        "traceID",
        "rootServiceName",
        "rootTraceName",
        "startTimeUnixNano",
        "durationMs",
        "spanSet",
        "spanSets",
        "serviceStats",
        "spanCount",
        "errorCount",
        "spans",
        "matched",
        "attributes",
        "spanID",
        "name",
        "durationNanos",
        "key",
        "value",
        "stringValue",
        "intValue",
        "boolValue",
        "doubleValue",
        "arrayValue",
        "kvlistValue",
        "bytesValue",
        "values",
        "inspectedTraces",
        "inspectedBytes",
        "totalBlocks",
        "completedJobs",
        "totalJobs",
        "totalBlockBytes",
        "inspectedSpans",
    ];
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let service_stats_entry = false;
                assert!(
                    ALLOWED.contains(&key.as_str()) || service_stats_entry,
                    "unknown key {key}"
                );
                if key == "serviceStats" {
                    for stats in inner.as_object().unwrap().values() {
                        assert_strict_search_keys(stats);
                    }
                } else {
                    assert_strict_search_keys(inner);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(assert_strict_search_keys),
        _ => {}
    }
}

#[tokio::test]
async fn c14_to_c20_search() {
    let case = setup(ServerOptions::default()).await;
    let c14 = case
        .json(&format!(
            "/api/search?q={}&limit=20&spss=3&{}",
            encode(QUERY),
            case.range()
        ))
        .await;
    assert_strict_search_keys(&c14);
    let decoded: SearchResponse = serde_json::from_value(c14.clone()).unwrap();
    assert!(decoded.metrics.is_some());
    let trace = &c14["traces"].as_array().unwrap()[0];
    assert_eq!(trace["traceID"], TRACE_HEX);
    assert_eq!(trace["rootServiceName"], "my.service");
    assert_eq!(trace["rootTraceName"], "I am a span!");
    assert_eq!(
        trace["startTimeUnixNano"],
        Value::String(case.t0.to_string())
    );
    assert_eq!(trace["durationMs"], 1000);
    assert!(!trace["spanSets"].as_array().unwrap().is_empty());
    assert_eq!(trace["spanSet"], trace["spanSets"][0]);
    assert_eq!(trace["spanSets"][0]["matched"], 2);
    for span in trace["spanSet"]["spans"].as_array().unwrap() {
        assert_eq!(span["spanID"].as_str().unwrap().len(), 16);
        assert!(
            span["startTimeUnixNano"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );
        assert!(
            span["durationNanos"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );
    }
    assert!(c14["metrics"].is_object());

    let c15 = case
        .json(&format!(
            "/api/search?q={}&{}",
            encode("{span.my.span.attr=\"some value\"}"),
            case.range()
        ))
        .await;
    let spans = c15["traces"][0]["spanSets"][0]["spans"]
        .as_array()
        .unwrap()
        .clone();
    let s1 = spans
        .iter()
        .find(|s| s["spanID"] == "eee19b7ec3c1b100")
        .unwrap();
    assert!(
        s1["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "my.span.attr"
                && a["value"] == serde_json::json!({"stringValue": "some value"}))
    );
    for query in ["{status=error}", "{duration>500ms}"] {
        let c16 = case
            .json(&format!("/api/search?q={}&{}", encode(query), case.range()))
            .await;
        assert_eq!(c16["traces"][0]["traceID"], TRACE_HEX, "{query}");
    }

    let c17 = case
        .get(&format!("/api/search?q={}", encode("{ .foo = }")), None)
        .await;
    assert_eq!(c17.status(), 400);
    let body = c17.text().await.unwrap();
    assert!(body.starts_with("invalid TraceQL query:"), "{body}");
    assert!(body.contains("line 1, col"), "the position: {body}");
    let c18 = case.get("/api/search?q=%7B%7D&limit=0", None).await;
    assert_eq!(c18.status(), 400);
    assert!(c18.text().await.unwrap().contains("invalid limit"));
    let c19 = case.get("/api/search?q=%7B%7D&tags=a%3Db", None).await;
    assert_eq!(c19.status(), 400);
    assert!(
        c19.text()
            .await
            .unwrap()
            .contains("can't specify tags and q")
    );
    let c20 = case
        .json(&format!("/api/search?q=%7B%7D&limit=1&{}", case.range()))
        .await;
    assert!(c20["traces"].as_array().map_or(0, Vec::len) <= 1);
}

#[tokio::test]
async fn c21_to_c29_tags_and_values() {
    let case = setup(ServerOptions::default()).await;
    let c21 = case
        .json(&format!("/api/v2/search/tags?{}", case.range()))
        .await;
    let decoded: SearchTagsV2Response = serde_json::from_value(c21).unwrap();
    let scope = |name: &str| decoded.scopes.iter().find(|s| s.name == name).cloned();
    assert!(
        scope("resource")
            .unwrap()
            .tags
            .contains(&"service.name".to_owned())
    );
    let span = scope("span").unwrap();
    for tag in ["my.span.attr", "http.status_code", "db.system"] {
        assert!(span.tags.contains(&tag.to_owned()), "{tag}");
    }
    let intrinsic = scope("intrinsic").unwrap();
    for tag in [
        "duration",
        "name",
        "status",
        "kind",
        "rootServiceName",
        "traceDuration",
        "span:name",
    ] {
        assert!(intrinsic.tags.contains(&tag.to_owned()), "{tag}");
    }
    assert!(
        decoded
            .scopes
            .iter()
            .flat_map(|s| &s.tags)
            .all(|t| !t.starts_with("resource.") && !t.starts_with("span."))
    );

    let c22: SearchTagsV2Response = serde_json::from_value(
        case.json(&format!("/api/v2/search/tags?scope=span&{}", case.range()))
            .await,
    )
    .unwrap();
    assert_eq!(
        c22.scopes
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["span"]
    );
    let c23 = case.get("/api/v2/search/tags?scope=bogus", None).await;
    assert_eq!(c23.status(), 400);
    assert!(c23.text().await.unwrap().contains("invalid scope"));

    let values = |json: Value| -> Vec<(String, String)> {
        let decoded: SearchTagValuesV2Response = serde_json::from_value(json).unwrap();
        decoded
            .tag_values
            .into_iter()
            .map(|v| (v.r#type, v.value))
            .collect()
    };
    let c24 = values(
        case.json(&format!(
            "/api/v2/search/tag/resource.service.name/values?{}",
            case.range()
        ))
        .await,
    );
    assert!(c24.contains(&("string".into(), "my.service".into())));
    let c25 = values(
        case.json(&format!(
            "/api/v2/search/tag/span.http.status_code/values?{}",
            case.range()
        ))
        .await,
    );
    assert!(c25.contains(&("int".into(), "200".into())));
    let c26 = values(case.json("/api/v2/search/tag/status/values").await);
    for keyword in ["ok", "error", "unset"] {
        assert!(
            c26.contains(&("keyword".into(), keyword.into())),
            "{keyword}"
        );
    }
    let filtered = values(
        case.json(&format!(
            "/api/v2/search/tag/span.db.system/values?q={}&{}",
            encode("{name=\"I am a span!\"}"),
            case.range()
        ))
        .await,
    );
    assert!(!filtered.iter().any(|(_, v)| v == "postgres"));
    let unfiltered = values(
        case.json(&format!(
            "/api/v2/search/tag/span.db.system/values?{}",
            case.range()
        ))
        .await,
    );
    assert!(unfiltered.iter().any(|(_, v)| v == "postgres"));
    let c28 = case.get("/api/v2/search/tag/%7B%7B/values", None).await;
    assert_eq!(c28.status(), 400);
    assert!(
        c28.text()
            .await
            .unwrap()
            .contains("please provide a valid tagName")
    );

    let c29_tags = case.json("/api/search/tags").await;
    let names: Vec<String> = serde_json::from_value(c29_tags["tagNames"].clone()).unwrap();
    assert!(names.contains(&"service.name".to_owned()));
    assert!(
        !names.contains(&"duration".to_owned()),
        "v1 leaves intrinsics out by default"
    );
    let c29_values = case
        .json(&format!(
            "/api/search/tag/service.name/values?{}",
            case.range()
        ))
        .await;
    let values: Vec<String> = serde_json::from_value(c29_values["tagValues"].clone()).unwrap();
    assert!(values.contains(&"my.service".to_owned()));
}

#[tokio::test]
async fn c36_to_c38_streaming_search_over_h2c_on_the_http_port() {
    let case = setup(ServerOptions::default()).await;
    let mut client = case.server.grpc().await;
    let request = tempopb::SearchRequest {
        query: QUERY.into(),
        limit: 20,
        spans_per_span_set: 3,
        start: (case.now - 3600) as u32,
        end: (case.now + 60) as u32,
        ..tempopb::SearchRequest::default()
    };
    let mut stream = client.search(request).await.unwrap().into_inner();
    let mut ids = Vec::new();
    let mut last = None;
    while let Some(message) = stream.message().await.unwrap() {
        ids.extend(message.traces.iter().map(|t| t.trace_id.clone()));
        last = Some(message);
    }
    assert!(ids.contains(&TRACE_HEX.to_owned()));
    assert!(last.unwrap().metrics.is_some());

    let health = tempopb::SearchRequest {
        query: "{}".into(),
        limit: 1,
        start: (case.now - 900) as u32,
        end: case.now as u32,
        ..tempopb::SearchRequest::default()
    };
    let mut stream = client.search(health).await.unwrap().into_inner();
    while stream.message().await.unwrap().is_some() {}

    let invalid = tempopb::SearchRequest {
        query: "{ .foo = }".into(),
        ..tempopb::SearchRequest::default()
    };
    let status = client.search(invalid).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().starts_with("invalid TraceQL query:"));

    // The other StreamingQuerier methods answer too.
    let tags = client
        .search_tags_v2(tempopb::SearchTagsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert!(tags.scopes.iter().any(|s| s.name == "intrinsic"));
    let values = client
        .search_tag_values_v2(tempopb::SearchTagValuesRequest {
            tag_name: "kind".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values.tag_values.len(), 6);
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
