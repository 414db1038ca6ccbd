//! Reading TraceQL values out of OTLP structs: attributes by scope, intrinsics, and the
//! conversion of `AnyValue`s (bytes and key-value lists are nil: TraceQL cannot compare them).

use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{Span, span::Event, span::Link, status::StatusCode};

use crate::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Status};
use crate::value::Value;

/// A scalar `AnyValue` as a TraceQL value.
fn scalar(value: &any_value::Value) -> Value {
    match value {
        any_value::Value::StringValue(text) => Value::String(Arc::from(text.as_str())),
        any_value::Value::BoolValue(value) => Value::Bool(*value),
        any_value::Value::IntValue(value) => Value::Int(*value),
        any_value::Value::DoubleValue(value) => Value::Float(*value),
        _ => Value::Nil,
    }
}

/// An OTLP attribute value as a TraceQL value (arrays of scalars become arrays).
pub fn any_to_value(value: Option<&AnyValue>) -> Value {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<Value> = array
                .values
                .iter()
                .filter_map(|item| item.value.as_ref().map(scalar))
                .filter(|item| !item.is_nil())
                .collect();
            Value::Array(items.into())
        }
        Some(other) => scalar(other),
        None => Value::Nil,
    }
}

/// The value of `key` in an attribute list.
pub fn lookup(attributes: &[KeyValue], key: &str) -> Value {
    attributes
        .iter()
        .find(|pair| pair.key == key)
        .map_or(Value::Nil, |pair| any_to_value(pair.value.as_ref()))
}

/// `service.name` of a resource.
pub fn service_name(resource: Option<&Resource>) -> Option<Arc<str>> {
    match resource.map(|resource| lookup(&resource.attributes, "service.name")) {
        Some(Value::String(name)) => Some(name),
        _ => None,
    }
}

/// The TraceQL status of a span.
pub fn status(span: &Span) -> Status {
    match span.status.as_ref().map(|status| status.code()) {
        Some(StatusCode::Ok) => Status::Ok,
        Some(StatusCode::Error) => Status::Error,
        _ => Status::Unset,
    }
}

fn kind(span: &Span) -> SpanKind {
    match span.kind {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn hex(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Nil
    } else {
        Value::String(Arc::from(hex_string(bytes).as_str()))
    }
}

fn hex_string(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

/// One span with its resource and scope, and the per-trace facts it needs.
#[derive(Debug, Clone, Copy)]
pub struct SpanContext<'t> {
    pub span: &'t Span,
    pub resource: Option<&'t Resource>,
    pub scope: Option<&'t contrail_proto::otlp::common::v1::InstrumentationScope>,
    pub child_count: u32,
}

/// Span-level values: custom attributes of the span, resource and instrumentation scopes and
/// the span intrinsics kept in `span_values`.
pub fn span_value(context: &SpanContext<'_>, attribute: &Attribute) -> Value {
    let span = context.span;
    match attribute {
        Attribute::Custom { scope, name } => match scope {
            AttributeScope::Span => lookup(&span.attributes, name),
            AttributeScope::Resource => context
                .resource
                .map_or(Value::Nil, |resource| lookup(&resource.attributes, name)),
            AttributeScope::Instrumentation => context
                .scope
                .map_or(Value::Nil, |scope| lookup(&scope.attributes, name)),
            _ => Value::Nil,
        },
        Attribute::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Name => Value::String(Arc::from(span.name.as_str())),
            Intrinsic::Status => Value::Status(status(span)),
            Intrinsic::StatusMessage => Value::String(Arc::from(
                span.status
                    .as_ref()
                    .map_or("", |status| status.message.as_str()),
            )),
            Intrinsic::Kind => Value::Kind(kind(span)),
            Intrinsic::SpanId => hex(&span.span_id),
            Intrinsic::SpanParentId => hex(&span.parent_span_id),
            Intrinsic::SpanChildCount => Value::Int(i64::from(context.child_count)),
            Intrinsic::Duration => Value::Duration(
                span.end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano) as i64,
            ),
            Intrinsic::InstrumentationName => context.scope.map_or(Value::Nil, |scope| {
                Value::String(Arc::from(scope.name.as_str()))
            }),
            Intrinsic::InstrumentationVersion => context.scope.map_or(Value::Nil, |scope| {
                Value::String(Arc::from(scope.version.as_str()))
            }),
            _ => Value::Nil,
        },
    }
}

/// An event's value of an event-scoped attribute or intrinsic.
pub fn event_value(span: &Span, event: &Event, attribute: &Attribute) -> Value {
    match attribute {
        Attribute::Custom { name, .. } => lookup(&event.attributes, name),
        Attribute::Intrinsic(Intrinsic::EventName) => Value::String(Arc::from(event.name.as_str())),
        Attribute::Intrinsic(Intrinsic::EventTimeSinceStart) => Value::Duration(
            event
                .time_unix_nano
                .saturating_sub(span.start_time_unix_nano) as i64,
        ),
        Attribute::Intrinsic(_) => Value::Nil,
    }
}

/// A link's value of a link-scoped attribute or intrinsic.
pub fn link_value(link: &Link, attribute: &Attribute) -> Value {
    match attribute {
        Attribute::Custom { name, .. } => lookup(&link.attributes, name),
        Attribute::Intrinsic(Intrinsic::LinkTraceId) => hex(&link.trace_id),
        Attribute::Intrinsic(Intrinsic::LinkSpanId) => hex(&link.span_id),
        Attribute::Intrinsic(_) => Value::Nil,
    }
}

/// Where an attribute's values live in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Span,
    Event,
    Link,
}

/// The placement of a (scoped) attribute key.
pub fn placement(attribute: &Attribute) -> Placement {
    match attribute {
        Attribute::Custom {
            scope: AttributeScope::Event,
            ..
        }
        | Attribute::Intrinsic(Intrinsic::EventName | Intrinsic::EventTimeSinceStart) => {
            Placement::Event
        }
        Attribute::Custom {
            scope: AttributeScope::Link,
            ..
        }
        | Attribute::Intrinsic(Intrinsic::LinkTraceId | Intrinsic::LinkSpanId) => Placement::Link,
        _ => Placement::Span,
    }
}

/// The scoped keys that answer a requested attribute (an unscoped `.x` is answered by every
/// scope).
pub fn scoped_keys(attribute: &Attribute) -> Vec<Attribute> {
    match attribute {
        Attribute::Custom {
            scope: AttributeScope::Unscoped,
            name,
        } => [
            AttributeScope::Span,
            AttributeScope::Resource,
            AttributeScope::Event,
            AttributeScope::Link,
            AttributeScope::Instrumentation,
        ]
        .into_iter()
        .map(|scope| Attribute::Custom {
            scope,
            name: name.clone(),
        })
        .collect(),
        other => vec![other.clone()],
    }
}
