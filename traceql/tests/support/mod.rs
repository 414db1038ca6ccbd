//! Hand-built OTLP traces and a one-call search over in-memory sources, for the search tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use contrail_proto::TraceId;
use contrail_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::{
    InlineRunner, MemorySource, MemoryTrace, SearchOptions, parse, plan_search, search,
};

pub const MS: u64 = 1_000_000;

/// An attribute value.
pub fn string(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.to_owned())),
    }
}
pub fn int(value: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(value)),
    }
}
pub fn float(value: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(value)),
    }
}
pub fn boolean(value: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(value)),
    }
}
pub fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
    }
}

fn key_values(pairs: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(key, value)| KeyValue {
            key: (*key).to_owned(),
            value: Some(value.clone()),
            ..Default::default()
        })
        .collect()
}

/// A span under construction: IDs are small integers (0 parent = root).
#[derive(Clone)]
pub struct S {
    pub id: u64,
    pub parent: u64,
    pub name: String,
    pub service: String,
    pub start: u64,
    pub duration: u64,
    pub attributes: Vec<(String, AnyValue)>,
    pub resource_attributes: Vec<(String, AnyValue)>,
    pub status: i32,
    pub kind: i32,
    pub events: Vec<(String, Vec<(String, AnyValue)>)>,
}

pub fn span(id: u64, parent: u64, name: &str) -> S {
    S {
        id,
        parent,
        name: name.to_owned(),
        service: "svc".to_owned(),
        start: 1_000 * MS + id * MS,
        duration: 10 * MS,
        attributes: Vec::new(),
        resource_attributes: Vec::new(),
        status: 0,
        kind: 2,
        events: Vec::new(),
    }
}

impl S {
    pub fn service(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }
    pub fn attr(mut self, key: &str, value: AnyValue) -> Self {
        self.attributes.push((key.to_owned(), value));
        self
    }
    pub fn resource_attr(mut self, key: &str, value: AnyValue) -> Self {
        self.resource_attributes.push((key.to_owned(), value));
        self
    }
    pub fn start(mut self, start: u64) -> Self {
        self.start = start;
        self
    }
    pub fn duration(mut self, duration: u64) -> Self {
        self.duration = duration;
        self
    }
    pub fn error(mut self) -> Self {
        self.status = 2;
        self
    }
    pub fn event(mut self, name: &str, attributes: &[(&str, AnyValue)]) -> Self {
        self.events.push((
            name.to_owned(),
            attributes
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect(),
        ));
        self
    }
}

/// A span ID of a small integer.
pub fn span_id_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// A trace of `spans`, one resource per (service, resource attributes).
pub fn trace(id: u128, spans: &[S]) -> MemoryTrace {
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    for span in spans {
        let mut resource_attributes: Vec<(&str, AnyValue)> =
            vec![("service.name", string(&span.service))];
        resource_attributes.extend(
            span.resource_attributes
                .iter()
                .map(|(key, value)| (key.as_str(), value.clone())),
        );
        let resource = Resource {
            attributes: key_values(&resource_attributes),
            ..Default::default()
        };
        let otlp = Span {
            trace_id: TraceId::from_u128(id).to_array().to_vec(),
            span_id: span.id.to_be_bytes().to_vec(),
            parent_span_id: if span.parent == 0 {
                Vec::new()
            } else {
                span.parent.to_be_bytes().to_vec()
            },
            name: span.name.clone(),
            kind: span.kind,
            start_time_unix_nano: span.start,
            end_time_unix_nano: span.start + span.duration,
            attributes: key_values(
                &span
                    .attributes
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.clone()))
                    .collect::<Vec<_>>(),
            ),
            events: span
                .events
                .iter()
                .map(|(name, attributes)| Event {
                    name: name.clone(),
                    time_unix_nano: span.start + 1,
                    attributes: key_values(
                        &attributes
                            .iter()
                            .map(|(key, value)| (key.as_str(), value.clone()))
                            .collect::<Vec<_>>(),
                    ),
                    ..Default::default()
                })
                .collect(),
            status: Some(Status {
                code: span.status,
                ..Default::default()
            }),
            ..Default::default()
        };
        match resource_spans
            .iter_mut()
            .find(|existing| existing.resource.as_ref() == Some(&resource))
        {
            Some(existing) => existing.scope_spans[0].spans.push(otlp),
            None => resource_spans.push(ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".to_owned(),
                        version: "1.0".to_owned(),
                        ..Default::default()
                    }),
                    spans: vec![otlp],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }
    MemoryTrace {
        trace_id: TraceId::from_u128(id),
        resource_spans,
    }
}

/// One in-memory source.
pub fn source(traces: Vec<MemoryTrace>) -> Arc<dyn SpanSource> {
    Arc::new(MemorySource::new(traces, Arc::new(InlineRunner)))
}

/// Runs `query` with `options` over `sources`.
pub async fn run_with(
    sources: &[Arc<dyn SpanSource>],
    query: &str,
    options: SearchOptions,
) -> contrail_traceql::Result<contrail_proto::tempopb::SearchResponse> {
    let root = parse(query)?;
    let plan = Arc::new(plan_search(&root, options)?);
    let outcome = search(&plan, sources, &InlineRunner, &MemoryBudget::unlimited()).await?;
    Ok(outcome.response)
}

/// All options at their widest: every trace, every span shown.
pub fn all() -> SearchOptions {
    SearchOptions {
        limit: 1000,
        spans_per_spanset: 0,
        ..SearchOptions::default()
    }
}

/// The matched span IDs (as small integers) of every trace, by trace ID: one sorted list per
/// spanset.
pub async fn matched(traces: Vec<MemoryTrace>, query: &str) -> Vec<(String, Vec<Vec<u64>>)> {
    let response = run_with(&[source(traces)], query, all())
        .await
        .unwrap_or_else(|error| panic!("{query}: {error}"));
    spans_of(&response)
}

pub fn spans_of(
    response: &contrail_proto::tempopb::SearchResponse,
) -> Vec<(String, Vec<Vec<u64>>)> {
    response
        .traces
        .iter()
        .map(|trace| {
            let sets = trace
                .span_sets
                .iter()
                .map(|set| {
                    let mut ids: Vec<u64> = set
                        .spans
                        .iter()
                        .map(|span| u64::from_str_radix(&span.span_id, 16).unwrap_or(u64::MAX))
                        .collect();
                    ids.sort_unstable();
                    ids
                })
                .collect();
            (trace.trace_id.clone(), sets)
        })
        .collect()
}

/// The matched span IDs of a query over one trace (all spansets together), sorted.
pub async fn ids(traces: Vec<MemoryTrace>, query: &str) -> Vec<u64> {
    let mut out: Vec<u64> = matched(traces, query)
        .await
        .into_iter()
        .flat_map(|(_, sets)| sets.into_iter().flatten())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The error of a query that must fail.
pub async fn error_of(traces: Vec<MemoryTrace>, query: &str) -> contrail_traceql::Error {
    match run_with(&[source(traces)], query, all()).await {
        Ok(response) => panic!("{query} succeeded: {response:?}"),
        Err(error) => error,
    }
}
