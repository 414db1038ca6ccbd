//! A small hand-built block for the search tests, whose expected answers are written by hand
//! from the spans below (not from the source's output).
//!
//! Trace A (`0a…`), resource frontend (namespace prod), scope http-lib 1.2, start T:
//! - `a1` root, "GET /", server, ok, 0..100ms; `http.response.status_code` 200,
//!   `http.route` "/api/v1/users/1", `count` int 1, `ratio` 1.5, `flag` true, `tags` ["a", "b"]
//! - `a2` child of a1, "db query", client, error "timeout", 10..610ms; `db.system`
//!   "postgresql", `count` double 1.0, event "exception" {msg: "timeout"} at +5ms
//! - `a3` child of a1, "cache", internal, unset, 20..25ms; a link to (B, b1) {kind: "follows"}
//!
//! Trace B (`0b…`), resource payment-service, scope grpc 0.9, start T+1s:
//! - `b1` root, "charge", server, 0..900ms, `http.status_code` 503
//! - `b2` orphan (parent `ffff…` is not in the block), "orphan", internal, +950ms..+951ms
//!
//! Trace C (`00c0…`, first byte zero), resource frontend, scope http-lib 1.2, start T+1h:
//! - `c1` root, "GET /health", server, ok, 0..2ms
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use contrail_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::span::{Event, Link};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{BlockMeta, BlockWriter, BlockWriterConfig};
use contrail_storage::convert::Trace;
use object_store::ObjectStore;

pub const T: u64 = 1_700_000_000_000_000_000;
pub const MS: u64 = 1_000_000;

pub fn trace_a() -> [u8; 16] {
    [0x0a; 16]
}
pub fn trace_b() -> [u8; 16] {
    [0x0b; 16]
}
pub fn trace_c() -> [u8; 16] {
    let mut id = [0xc0; 16];
    id[0] = 0;
    id
}

/// Span IDs by name.
pub fn span_id(name: &str) -> [u8; 8] {
    let tag = match name {
        "a1" => 0xa1,
        "a2" => 0xa2,
        "a3" => 0xa3,
        "b1" => 0xb1,
        "b2" => 0xb2,
        "c1" => 0xc1,
        other => panic!("no span {other}"),
    };
    [tag, 0, 0, 0, 0, 0, 0, tag]
}

pub fn name_of(id: &[u8]) -> &'static str {
    ["a1", "a2", "a3", "b1", "b2", "c1"]
        .into_iter()
        .find(|name| span_id(name) == id)
        .unwrap_or("?")
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn text(value: &str) -> Value {
    Value::StringValue(value.to_owned())
}

struct SpanSpec {
    name: &'static str,
    id: &'static str,
    parent: Option<[u8; 8]>,
    span_name: &'static str,
    kind: i32,
    status: Option<(i32, &'static str)>,
    start: u64,
    end: u64,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    links: Vec<Link>,
}

fn span(trace: [u8; 16], spec: SpanSpec) -> Span {
    let _ = spec.name;
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(spec.id).to_vec(),
        parent_span_id: spec.parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: spec.span_name.to_owned(),
        kind: spec.kind,
        start_time_unix_nano: spec.start,
        end_time_unix_nano: spec.end,
        attributes: spec.attributes,
        events: spec.events,
        links: spec.links,
        status: spec.status.map(|(code, message)| Status {
            code,
            message: message.to_owned(),
        }),
        ..Span::default()
    }
}

fn resource(service: &str, namespace: Option<&str>) -> Resource {
    let mut attributes = vec![kv("service.name", text(service))];
    if let Some(namespace) = namespace {
        attributes.push(kv("k8s.namespace.name", text(namespace)));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn scope(name: &str, version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: version.to_owned(),
        ..InstrumentationScope::default()
    }
}

fn group(resource: Resource, scope: InstrumentationScope, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(resource),
        scope_spans: vec![ScopeSpans {
            scope: Some(scope),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The three traces, sorted by trace ID (C, A, B).
pub fn traces() -> Vec<Trace> {
    let a = trace_a();
    let a1 = span(
        a,
        SpanSpec {
            name: "a1",
            id: "a1",
            parent: None,
            span_name: "GET /",
            kind: 2,
            status: Some((1, "")),
            start: T,
            end: T + 100 * MS,
            attributes: vec![
                kv("http.response.status_code", Value::IntValue(200)),
                kv("http.route", text("/api/v1/users/1")),
                kv("count", Value::IntValue(1)),
                kv("ratio", Value::DoubleValue(1.5)),
                kv("flag", Value::BoolValue(true)),
                kv(
                    "tags",
                    Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(text("a")),
                            },
                            AnyValue {
                                value: Some(text("b")),
                            },
                        ],
                    }),
                ),
            ],
            events: Vec::new(),
            links: Vec::new(),
        },
    );
    let a2 = span(
        a,
        SpanSpec {
            name: "a2",
            id: "a2",
            parent: Some(span_id("a1")),
            span_name: "db query",
            kind: 3,
            status: Some((2, "timeout")),
            start: T + 10 * MS,
            end: T + 610 * MS,
            attributes: vec![
                kv("db.system", text("postgresql")),
                kv("count", Value::DoubleValue(1.0)),
            ],
            events: vec![Event {
                time_unix_nano: T + 15 * MS,
                name: "exception".to_owned(),
                attributes: vec![kv("msg", text("timeout"))],
                dropped_attributes_count: 0,
            }],
            links: Vec::new(),
        },
    );
    let a3 = span(
        a,
        SpanSpec {
            name: "a3",
            id: "a3",
            parent: Some(span_id("a1")),
            span_name: "cache",
            kind: 1,
            status: None,
            start: T + 20 * MS,
            end: T + 25 * MS,
            attributes: Vec::new(),
            events: Vec::new(),
            links: vec![Link {
                trace_id: trace_b().to_vec(),
                span_id: span_id("b1").to_vec(),
                trace_state: String::new(),
                attributes: vec![kv("kind", text("follows"))],
                dropped_attributes_count: 0,
                flags: 0,
            }],
        },
    );
    let b = trace_b();
    let b1 = span(
        b,
        SpanSpec {
            name: "b1",
            id: "b1",
            parent: None,
            span_name: "charge",
            kind: 2,
            status: None,
            start: T + 1000 * MS,
            end: T + 1900 * MS,
            attributes: vec![kv("http.status_code", Value::IntValue(503))],
            events: Vec::new(),
            links: Vec::new(),
        },
    );
    let b2 = span(
        b,
        SpanSpec {
            name: "b2",
            id: "b2",
            parent: Some([0xff; 8]),
            span_name: "orphan",
            kind: 1,
            status: None,
            start: T + 1950 * MS,
            end: T + 1951 * MS,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        },
    );
    let c = trace_c();
    let c1 = span(
        c,
        SpanSpec {
            name: "c1",
            id: "c1",
            parent: None,
            span_name: "GET /health",
            kind: 2,
            status: Some((1, "")),
            start: T + 3_600_000 * MS,
            end: T + 3_600_002 * MS,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        },
    );
    let frontend = || resource("frontend", Some("prod"));
    vec![
        Trace {
            trace_id: TraceId::from_array(c),
            resource_spans: vec![group(frontend(), scope("http-lib", "1.2"), vec![c1])],
        },
        Trace {
            trace_id: TraceId::from_array(a),
            resource_spans: vec![group(
                frontend(),
                scope("http-lib", "1.2"),
                vec![a1, a2, a3],
            )],
        },
        Trace {
            trace_id: TraceId::from_array(b),
            resource_spans: vec![group(
                resource("payment-service", None),
                scope("grpc", "0.9"),
                vec![b1, b2],
            )],
        },
    ]
}

/// Writes the hand-built block; `one_trace_per_row_group` cuts a row group after every trace.
pub async fn write_hand_block(
    store: Arc<dyn ObjectStore>,
    one_trace_per_row_group: bool,
) -> BlockMeta {
    let mut config = BlockWriterConfig::new(TenantId::new("search").unwrap());
    if one_trace_per_row_group {
        config.row_group_target_bytes = 1;
        config.batch_spans = 1;
    }
    let mut writer = BlockWriter::new(store, config).unwrap();
    for trace in traces() {
        writer.push_trace(trace).await.unwrap();
    }
    writer.finish().await.unwrap().meta
}
