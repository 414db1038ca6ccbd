//! Fixture F on a running server for the golden cases: the block, the recent-data double's
//! answers (as an ingester would give them), request helpers and the strict-schema check.
#![allow(dead_code, unreachable_pub)]

use contrail_proto::TenantId;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::tempopb::{
    SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response, SearchTagsV2Scope,
    Span as SearchSpan, SpanSet, TagValue, Trace, TraceSearchMetadata,
};
use serde_json::Value;

use super::*;

pub const QUERY: &str = "{resource.service.name=\"my.service\"}";

pub struct Case {
    pub server: TestServer,
    pub t0: u64,
    pub now: u64,
    pub http: reqwest::Client,
}

pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// What an ingester answers for `QUERY` over fixture F.
pub fn fixture_search(t0: u64) -> SearchResponse {
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

pub async fn setup(options: ServerOptions) -> Case {
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
    pub fn range(&self) -> String {
        format!("start={}&end={}", self.now - 3600, self.now + 60)
    }

    pub async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.server.url(path));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        request.send().await.unwrap()
    }

    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            content_type(&response).starts_with("application/json"),
            "{path}"
        );
        response.json().await.unwrap()
    }
}

pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub fn spans(trace: &Trace) -> Vec<&contrail_proto::otlp::trace::v1::Span> {
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

/// Every key of a search answer is one of the `tempopb` schema's (Grafana's parser is strict).
pub fn assert_strict_search_keys(value: &Value) {
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
