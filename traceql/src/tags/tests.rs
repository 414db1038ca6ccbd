//! Collectors' limits and order, tag-name parsing, and the in-memory half with and without a
//! `q` filter (expected sets written out by hand).

use std::collections::BTreeSet;
use std::sync::Arc;

use contrail_proto::TraceId;
use contrail_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::span::{Event, Link};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::memory::{collect_names, collect_values};
use super::*;
use crate::ast::{Attribute, AttributeScope, Intrinsic};
use crate::fetch::{MemoryBudget, SpanSource};
use crate::{InlineRunner, MemorySource, MemoryTrace};

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        key_strindex: 0,
    }
}

fn span(id: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|parent| vec![parent; 8]).unwrap_or_default(),
        name: name.to_owned(),
        start_time_unix_nano: 1_000 + u64::from(id),
        end_time_unix_nano: 2_000 + u64::from(id),
        attributes,
        ..Span::default()
    }
}

/// One trace: `shop` (root `GET /cart`, child `SELECT` with an event and a link) and `db`
/// (`query`, status message `timeout`).
fn trace() -> MemoryTrace {
    let mut root = span(
        1,
        None,
        "GET /cart",
        vec![string("http.method", "GET"), int("http.status_code", 200)],
    );
    root.status = Some(Status {
        message: String::new(),
        code: 0,
    });
    let mut child = span(
        2,
        Some(1),
        "SELECT",
        vec![string("db.statement", "select 1")],
    );
    child.events.push(Event {
        name: "exception".to_owned(),
        attributes: vec![string("exception.type", "Timeout")],
        ..Event::default()
    });
    child.links.push(Link {
        trace_id: vec![9; 16],
        span_id: vec![9; 8],
        attributes: vec![string("link.kind", "follows")],
        ..Link::default()
    });
    let mut query = span(3, Some(2), "query", vec![string("http.method", "POST")]);
    query.status = Some(Status {
        message: "timeout".to_owned(),
        code: 2,
    });
    let resource = |service: &str, spans: Vec<Span>, scope: &str| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string("service.name", service), string("host", service)],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope.to_owned(),
                version: "1.0".to_owned(),
                attributes: vec![string("lib", scope)],
                ..InstrumentationScope::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    MemoryTrace {
        trace_id: TraceId::from_bytes(&[1; 16]).expect("trace id"),
        resource_spans: vec![
            resource("shop", vec![root, child], "otel-go"),
            resource("db", vec![query], "otel-java"),
        ],
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn values_of(values: &TagValues) -> Vec<(String, String)> {
    values.values().iter().cloned().collect()
}

fn typed(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(kind, value)| ((*kind).to_owned(), (*value).to_owned()))
        .collect()
}

async fn matched(query: &str) -> MatchedSpans {
    let filter = SpanFilter::new(query, 0, u64::MAX)
        .expect("filter")
        .expect("a real filter");
    let source = MemorySource::new(vec![trace()], Arc::new(InlineRunner));
    let source: &dyn SpanSource = &source;
    filter
        .matching(source, &InlineRunner, &MemoryBudget::unlimited())
        .await
        .expect("matching")
}

#[test]
fn names_by_scope_without_filter() {
    let mut names = TagNames::new(&DataScope::ALL, 0, 0);
    collect_names(&[trace()], None, &mut names);
    assert_eq!(
        names.names(DataScope::Resource),
        &set(&["host", "service.name"])
    );
    assert_eq!(
        names.names(DataScope::Span),
        &set(&["db.statement", "http.method", "http.status_code"])
    );
    assert_eq!(names.names(DataScope::Event), &set(&["exception.type"]));
    assert_eq!(names.names(DataScope::Link), &set(&["link.kind"]));
    assert_eq!(names.names(DataScope::Instrumentation), &set(&["lib"]));
    let response = names.into_response();
    let scopes: Vec<&str> = response
        .scopes
        .iter()
        .map(|scope| scope.name.as_str())
        .collect();
    assert_eq!(
        scopes,
        ["resource", "span", "event", "link", "instrumentation"]
    );
}

#[test]
fn names_of_one_scope_and_limit() {
    let mut names = TagNames::new(&[DataScope::Span], 2, 0);
    collect_names(&[trace()], None, &mut names);
    // the two smallest: the union of limited answers is the limited union
    assert_eq!(
        names.names(DataScope::Span),
        &set(&["db.statement", "http.method"])
    );
    assert!(names.names(DataScope::Resource).is_empty());
    assert_eq!(names.into_response().scopes.len(), 1);
}

#[tokio::test]
async fn names_with_a_filter() {
    let filter = matched(r#"{ resource.service.name = "db" }"#).await;
    assert_eq!(filter.spans.len(), 1);
    let mut names = TagNames::new(&DataScope::ALL, 0, 0);
    collect_names(&[trace()], Some(&filter), &mut names);
    assert_eq!(names.names(DataScope::Span), &set(&["http.method"]));
    assert_eq!(
        names.names(DataScope::Resource),
        &set(&["host", "service.name"])
    );
    assert!(names.names(DataScope::Event).is_empty());
    assert!(names.names(DataScope::Link).is_empty());
}

#[tokio::test]
async fn values_with_and_without_filter() {
    let target = ValueTarget::of(&parse_tag_name(".http.method").expect("tag"));
    let mut values = TagValues::new(0, 0);
    collect_values(&[trace()], None, &target, &mut values);
    assert_eq!(
        values_of(&values),
        typed(&[("string", "GET"), ("string", "POST")])
    );

    let filter = matched(r#"{ name = "query" }"#).await;
    let mut values = TagValues::new(0, 0);
    collect_values(&[trace()], Some(&filter), &target, &mut values);
    assert_eq!(values_of(&values), typed(&[("string", "POST")]));

    let status_code = ValueTarget::of(&parse_tag_name("span.http.status_code").expect("tag"));
    let mut values = TagValues::new(0, 0);
    collect_values(&[trace()], None, &status_code, &mut values);
    assert_eq!(values_of(&values), typed(&[("int", "200")]));
}

#[test]
fn intrinsic_values() {
    let cases: [(&str, &[(&str, &str)]); 6] = [
        (
            "name",
            &[
                ("string", "GET /cart"),
                ("string", "SELECT"),
                ("string", "query"),
            ],
        ),
        ("statusMessage", &[("string", "timeout")]),
        ("rootServiceName", &[("string", "shop")]),
        ("trace:rootName", &[("string", "GET /cart")]),
        ("event:name", &[("string", "exception")]),
        (
            "instrumentation:name",
            &[("string", "otel-go"), ("string", "otel-java")],
        ),
    ];
    for (tag, expected) in cases {
        let target = ValueTarget::of(&parse_tag_name(tag).expect("tag"));
        let mut values = TagValues::new(0, 0);
        collect_values(&[trace()], None, &target, &mut values);
        assert_eq!(values_of(&values), typed(expected), "{tag}");
    }
    assert!(ValueTarget::of(&Attribute::Intrinsic(Intrinsic::SpanId)).is_empty());
}

#[test]
fn value_limit_keeps_the_smallest_and_stale_stops() {
    let mut values = TagValues::new(2, 0);
    for value in ["c", "a", "d", "b"] {
        values.insert_string(value);
    }
    assert_eq!(
        values_of(&values),
        typed(&[("string", "a"), ("string", "b")])
    );
    let mut stale = TagValues::new(0, 2);
    stale.insert_string("x");
    stale.insert_string("x");
    assert!(!stale.is_done());
    stale.insert_string("x");
    assert!(stale.is_done());
}

#[test]
fn tag_names_parse_or_fail_clearly() {
    assert_eq!(
        parse_tag_name("resource.service.name").expect("tag"),
        Attribute::Custom {
            scope: AttributeScope::Resource,
            name: "service.name".to_owned()
        }
    );
    assert!(parse_tag_name("").is_err());
    let error = parse_tag_name("{ }").expect_err("not a tag");
    assert!(
        error.message().contains("please provide a valid tagName"),
        "{error}"
    );
}

#[test]
fn match_all_filters_are_no_filter() {
    assert!(
        SpanFilter::new("{}", 0, u64::MAX)
            .expect("filter")
            .is_none()
    );
    assert!(
        SpanFilter::new("{ true }", 0, u64::MAX)
            .expect("filter")
            .is_none()
    );
    assert!(
        SpanFilter::new("{ .a = 1 }", 0, u64::MAX)
            .expect("filter")
            .is_some()
    );
    assert!(SpanFilter::new("{ .a = ", 0, u64::MAX).is_err());
}
