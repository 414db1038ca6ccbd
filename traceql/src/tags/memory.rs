//! The in-memory half of the tag endpoints: names and values over OTLP traces (the ingester's
//! live and head traces), optionally only over the spans a `q` filter matched. CPU work: call
//! it on a pool, not on the async runtime.
//!
//! A resource's and a scope's attributes count when one of their spans is selected; the root
//! name and service count for the traces with a selected span.

use contrail_proto::otlp::common::v1::KeyValue;
use contrail_proto::otlp::trace::v1::{ResourceSpans, Span};
use contrail_proto::{SpanId, TraceId};

use super::collect::{DataScope, IntrinsicValues, TagNames, TagValues, ValueTarget};
use super::matching::MatchedSpans;
use crate::memory::MemoryTrace;
use crate::memory::otlp::service_name;

/// Whether `span` of `trace_id` is selected by `filter` (everything without one).
fn selected(filter: Option<&MatchedSpans>, trace_id: &TraceId, span: &Span) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    match SpanId::from_bytes(&span.span_id) {
        Ok(span_id) => filter.contains(trace_id, &span_id),
        Err(_) => false,
    }
}

fn any_selected(filter: Option<&MatchedSpans>, trace_id: &TraceId, spans: &[&Span]) -> bool {
    spans.iter().any(|span| selected(filter, trace_id, span))
}

fn spans_of(resource: &ResourceSpans) -> Vec<&Span> {
    resource
        .scope_spans
        .iter()
        .flat_map(|scope| &scope.spans)
        .collect()
}

fn keys(attributes: &[KeyValue]) -> impl Iterator<Item = &str> {
    attributes.iter().map(|attribute| attribute.key.as_str())
}

/// Adds the attribute names of `traces` (the spans `filter` selected) to `names`.
pub fn collect_names(traces: &[MemoryTrace], filter: Option<&MatchedSpans>, names: &mut TagNames) {
    for trace in traces {
        if names.is_done() {
            return;
        }
        let trace_id = &trace.trace_id;
        for resource in &trace.resource_spans {
            if any_selected(filter, trace_id, &spans_of(resource))
                && let Some(otlp_resource) = &resource.resource
            {
                for key in keys(&otlp_resource.attributes) {
                    names.insert(DataScope::Resource, key);
                }
            }
            for scope in &resource.scope_spans {
                let spans: Vec<&Span> = scope.spans.iter().collect();
                if any_selected(filter, trace_id, &spans)
                    && let Some(otlp_scope) = &scope.scope
                {
                    for key in keys(&otlp_scope.attributes) {
                        names.insert(DataScope::Instrumentation, key);
                    }
                }
                for span in spans {
                    if !selected(filter, trace_id, span) {
                        continue;
                    }
                    for key in keys(&span.attributes) {
                        names.insert(DataScope::Span, key);
                    }
                    for event in &span.events {
                        for key in keys(&event.attributes) {
                            names.insert(DataScope::Event, key);
                        }
                    }
                    for link in &span.links {
                        for key in keys(&link.attributes) {
                            names.insert(DataScope::Link, key);
                        }
                    }
                }
            }
        }
    }
}

fn values_of_key(attributes: &[KeyValue], key: &str, values: &mut TagValues) {
    for attribute in attributes.iter().filter(|attribute| attribute.key == key) {
        values.insert_any(attribute.value.as_ref());
    }
}

/// Adds the values `target` reads in `traces` (the spans `filter` selected) to `values`.
pub fn collect_values(
    traces: &[MemoryTrace],
    filter: Option<&MatchedSpans>,
    target: &ValueTarget,
    values: &mut TagValues,
) {
    for trace in traces {
        if values.is_done() {
            return;
        }
        let trace_id = &trace.trace_id;
        let trace_selected = filter.is_none_or(|filter| filter.traces.contains(trace_id));
        if trace_selected {
            root_values(trace, target, values);
        }
        for resource in &trace.resource_spans {
            if let (Some(key), Some(otlp_resource)) = (&target.resource, &resource.resource)
                && any_selected(filter, trace_id, &spans_of(resource))
            {
                values_of_key(&otlp_resource.attributes, key, values);
            }
            for scope in &resource.scope_spans {
                let spans: Vec<&Span> = scope.spans.iter().collect();
                if let Some(otlp_scope) = &scope.scope
                    && any_selected(filter, trace_id, &spans)
                {
                    if let Some(key) = &target.instrumentation {
                        values_of_key(&otlp_scope.attributes, key, values);
                    }
                    match target.intrinsic {
                        Some(IntrinsicValues::InstrumentationName) => {
                            values.insert_string(&otlp_scope.name)
                        }
                        Some(IntrinsicValues::InstrumentationVersion) => {
                            values.insert_string(&otlp_scope.version)
                        }
                        _ => {}
                    }
                }
                for span in spans {
                    if selected(filter, trace_id, span) {
                        span_values(span, target, values);
                    }
                }
            }
        }
    }
}

fn span_values(span: &Span, target: &ValueTarget, values: &mut TagValues) {
    if let Some(key) = &target.span {
        values_of_key(&span.attributes, key, values);
    }
    if let Some(key) = &target.event {
        for event in &span.events {
            values_of_key(&event.attributes, key, values);
        }
    }
    if let Some(key) = &target.link {
        for link in &span.links {
            values_of_key(&link.attributes, key, values);
        }
    }
    match target.intrinsic {
        Some(IntrinsicValues::SpanName) => values.insert_string(&span.name),
        Some(IntrinsicValues::StatusMessage) => {
            if let Some(status) = &span.status {
                values.insert_string(&status.message);
            }
        }
        Some(IntrinsicValues::EventName) => {
            for event in &span.events {
                values.insert_string(&event.name);
            }
        }
        _ => {}
    }
}

/// The root span's name and service (trace-level intrinsics).
fn root_values(trace: &MemoryTrace, target: &ValueTarget, values: &mut TagValues) {
    if !matches!(
        target.intrinsic,
        Some(IntrinsicValues::RootName | IntrinsicValues::RootService)
    ) {
        return;
    }
    for resource in &trace.resource_spans {
        for span in spans_of(resource) {
            if !span.parent_span_id.is_empty() {
                continue;
            }
            match target.intrinsic {
                Some(IntrinsicValues::RootName) => values.insert_string(&span.name),
                Some(IntrinsicValues::RootService) => {
                    if let Some(service) = service_name(resource.resource.as_ref()) {
                        values.insert_string(&service);
                    }
                }
                _ => {}
            }
        }
    }
}
