//! Spec §9 golden cases for search, tags and the streaming API (C14-C29, C36-C38) against a
//! running querier. Until the engine searches blocks, the recent-data double answers searches and
//! tags as an ingester would; these cases check the API around them: parameters, errors, merging,
//! the strict JSON schema, the static intrinsics and h2c gRPC on the HTTP port.

mod support;

use support::golden::*;
use support::*;

use contrail_proto::tempopb::{
    self, SearchResponse, SearchTagValuesV2Response, SearchTagsV2Response,
};
use serde_json::Value;

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
