//! Recent data from the ack until the querier's backend window covers it: a span is found by
//! `SearchRecent` and by the tag requests while its block is cut but not uploaded (the object
//! store refuses `meta.json`), once its block is uploaded and only the local copy is held here,
//! and while it is live; a trace split between a local block and live spans is joined.
//!
//! Hand-built traces: `flushed` (service `flushed-svc`, root `flushed-op` with `phase` =
//! `flushed`, `n` = 1), `live` (service `live-svc`, root `live-op`, `phase` = `live`), and
//! `split` (service `split-svc`: root `split-root` flushed first, child `split-child` live).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use contrail_proto::internal::v1::TraceSegment;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::{ErrorCode, PushBatch, TraceId, tempopb};

use super::support::{Fixture, GatedStore, START_UNIX_NANO, block_count, eventually, tenant};
use crate::Ingester;

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn segment(
    id: u8,
    service: &str,
    spans: Vec<(u8, Option<u8>, &str, Vec<KeyValue>)>,
) -> TraceSegment {
    let trace_id = TraceId::from_bytes(&[id; 16]).expect("trace id");
    let spans = spans
        .into_iter()
        .map(|(span, parent, name, attributes)| Span {
            trace_id: vec![id; 16],
            span_id: vec![span; 8],
            parent_span_id: parent.map(|parent| vec![parent; 8]).unwrap_or_default(),
            name: name.to_owned(),
            kind: 2,
            start_time_unix_nano: START_UNIX_NANO + u64::from(span) * 1_000_000,
            end_time_unix_nano: START_UNIX_NANO + u64::from(span) * 1_000_000 + 500_000,
            attributes,
            ..Span::default()
        })
        .collect();
    let trace = tempopb::Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute(
                    "service.name",
                    any_value::Value::StringValue(service.to_owned()),
                )],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    TraceSegment::from_trace(trace_id, &trace)
}

fn phase(value: &str) -> KeyValue {
    attribute("phase", any_value::Value::StringValue(value.to_owned()))
}

fn flushed() -> TraceSegment {
    segment(
        0x11,
        "flushed-svc",
        vec![(
            1,
            None,
            "flushed-op",
            vec![
                phase("flushed"),
                attribute("n", any_value::Value::IntValue(1)),
            ],
        )],
    )
}

fn split_root() -> TraceSegment {
    segment(0x33, "split-svc", vec![(3, None, "split-root", Vec::new())])
}

fn live() -> TraceSegment {
    segment(
        0x22,
        "live-svc",
        vec![(2, None, "live-op", vec![phase("live")])],
    )
}

fn split_child() -> TraceSegment {
    segment(
        0x33,
        "split-svc",
        vec![(4, Some(3), "split-child", Vec::new())],
    )
}

async fn push(ingester: &Ingester, segments: Vec<TraceSegment>) {
    ingester
        .push(
            &tenant(),
            PushBatch {
                segments,
                checked: true,
            },
        )
        .await
        .expect("push");
}

async fn found(ingester: &Ingester, query: &str) -> Vec<String> {
    let response = ingester
        .search_recent(
            &tenant(),
            &tempopb::SearchRequest {
                query: query.to_owned(),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    let mut names: Vec<String> = response
        .traces
        .into_iter()
        .map(|trace| trace.root_trace_name)
        .collect();
    names.sort();
    names
}

async fn tag_names(ingester: &Ingester, scope: &str, query: &str) -> Vec<(String, Vec<String>)> {
    ingester
        .search_tags_recent(
            &tenant(),
            &tempopb::SearchTagsRequest {
                scope: scope.to_owned(),
                query: query.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("tags")
        .scopes
        .into_iter()
        .map(|scope| (scope.name, scope.tags))
        .collect()
}

async fn tag_values(ingester: &Ingester, tag: &str, query: &str, limit: u32) -> Vec<String> {
    ingester
        .search_tag_values_recent(
            &tenant(),
            &tempopb::SearchTagValuesRequest {
                tag_name: tag.to_owned(),
                query: query.to_owned(),
                max_tag_values: limit,
                ..Default::default()
            },
        )
        .await
        .expect("tag values")
        .tag_values
        .into_iter()
        .map(|value| format!("{}:{}", value.r#type, value.value))
        .collect()
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_searchable_and_tagged_from_ack_through_upload() {
    let mut fixture = Fixture::new();
    let gated = Arc::new(GatedStore {
        inner: fixture.store.clone(),
        refuse_meta: true.into(),
    });
    fixture.store = gated.clone();
    let running = fixture.start().await;
    let ingester = &running.ingester;
    push(ingester, vec![flushed(), split_root()]).await;

    // Cut and written locally, not uploaded: the object store refuses meta.json.
    ingester.request_flush();
    eventually("a refused upload", || async {
        ingester.metrics().flush_failures.get() >= 1
    })
    .await;
    assert_eq!(block_count(&fixture.store, &tenant()).await, 0);
    assert_eq!(
        found(ingester, r#"{ span.phase = "flushed" }"#).await,
        owned(&["flushed-op"])
    );
    assert_eq!(
        tag_values(ingester, "span.phase", "", 0).await,
        owned(&["string:flushed"])
    );

    // Uploaded: only the local complete block holds the spans now.
    gated.refuse_meta.store(false, Ordering::SeqCst);
    eventually("the block uploaded and complete", || async {
        block_count(&fixture.store, &tenant()).await == 1
            && ingester.recent(&tenant(), 0, 0).blocks.len() == 1
    })
    .await;
    assert!(ingester.recent(&tenant(), 0, 0).traces.is_empty());
    assert_eq!(
        found(ingester, r#"{ span.phase = "flushed" }"#).await,
        owned(&["flushed-op"])
    );
    assert_eq!(
        found(ingester, "{ span.n = 1 }").await,
        owned(&["flushed-op"])
    );

    // Live spans beside the local block, one of them the child of a flushed root.
    push(ingester, vec![live(), split_child()]).await;
    assert_eq!(
        found(ingester, "{ }").await,
        owned(&["flushed-op", "live-op", "split-root"])
    );
    assert_eq!(
        found(ingester, r#"{ span.phase = "live" }"#).await,
        owned(&["live-op"])
    );
    assert_eq!(
        found(
            ingester,
            r#"{ name = "split-root" } > { name = "split-child" }"#
        )
        .await,
        owned(&["split-root"]),
        "a trace split between the local block and live spans is joined"
    );

    assert_eq!(
        tag_names(ingester, "", "").await,
        vec![
            ("resource".to_owned(), owned(&["service.name"])),
            ("span".to_owned(), owned(&["n", "phase"])),
        ]
    );
    assert_eq!(
        tag_names(
            ingester,
            "span",
            r#"{ resource.service.name = "live-svc" }"#
        )
        .await,
        vec![("span".to_owned(), owned(&["phase"]))]
    );
    assert!(tag_names(ingester, "intrinsic", "").await.is_empty());
    assert_eq!(
        tag_values(ingester, "span.phase", "", 0).await,
        owned(&["string:flushed", "string:live"])
    );
    assert_eq!(
        tag_values(ingester, "span.phase", r#"{ name = "flushed-op" }"#, 0).await,
        owned(&["string:flushed"])
    );
    assert_eq!(
        tag_values(ingester, "resource.service.name", "", 2).await,
        owned(&["string:flushed-svc", "string:live-svc"])
    );
    assert_eq!(
        tag_values(
            ingester,
            "name",
            r#"{ resource.service.name = "split-svc" }"#,
            0
        )
        .await,
        owned(&["string:split-child", "string:split-root"])
    );
    assert_eq!(
        tag_values(ingester, "span.n", "", 0).await,
        owned(&["int:1"])
    );

    let bad_scope = ingester
        .search_tags_recent(
            &tenant(),
            &tempopb::SearchTagsRequest {
                scope: "everything".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad scope");
    assert_eq!(bad_scope.code(), ErrorCode::BadRequest);
    assert!(bad_scope.to_string().contains("invalid scope: everything"));
    let bad_tag = ingester
        .search_tag_values_recent(
            &tenant(),
            &tempopb::SearchTagValuesRequest {
                tag_name: "{ }".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad tag");
    assert_eq!(bad_tag.code(), ErrorCode::BadRequest);
    let bad_query = ingester
        .search_tags_recent(
            &tenant(),
            &tempopb::SearchTagsRequest {
                query: "{ .a = ".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad query");
    assert_eq!(bad_query.code(), ErrorCode::BadRequest);
    running.stop().await.expect("stop");
}
