//! A trace flattened for one request (spans with their resource and scope, trace-level
//! fields, orphans, nested-set numbers) and the checks of pushed-down conditions on it, with
//! the fetch contract's semantics: unscoped attributes hold in any scope (`= nil` in none),
//! event and link conditions on any event (link), trace-level conditions on every portion
//! with orphans.

use std::collections::HashSet;
use std::sync::Arc;

use crate::ast::{Attribute, AttributeScope, Intrinsic, Static};
use crate::eval::field::test_holds;
use crate::eval::program::Test;
use crate::fetch::ConditionOp;
use crate::memory::otlp::{
    Placement, SpanContext, event_value, link_value, placement, service_name, span_value,
};
use crate::memory::trace::MemoryTrace;
use crate::structure::{SpanKey, SpanNumbers, numbers};
use crate::value::{Value, compile_regex, normalize_hex_id};

/// A trace flattened for one request.
pub(crate) struct Prepared<'t> {
    pub(crate) spans: Vec<SpanContext<'t>>,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) root_name: Option<Arc<str>>,
    pub(crate) root_service: Option<Arc<str>>,
    pub(crate) has_orphans: bool,
    pub(crate) numbers: Option<Vec<SpanNumbers>>,
    pub(crate) trace: Value,
}

pub(crate) fn prepare(trace: &MemoryTrace, structure: bool) -> Prepared<'_> {
    let mut spans = Vec::new();
    for resource_spans in &trace.resource_spans {
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                spans.push(SpanContext {
                    span,
                    resource: resource_spans.resource.as_ref(),
                    scope: scope_spans.scope.as_ref(),
                    child_count: 0,
                });
            }
        }
    }
    let ids: HashSet<&[u8]> = spans
        .iter()
        .map(|context| context.span.span_id.as_slice())
        .collect();
    let has_orphans = spans.iter().any(|context| {
        !context.span.parent_span_id.is_empty()
            && !ids.contains(context.span.parent_span_id.as_slice())
    });
    let root = spans
        .iter()
        .filter(|context| context.span.parent_span_id.is_empty())
        .min_by_key(|context| {
            (
                context.span.start_time_unix_nano,
                context.span.span_id.as_slice(),
            )
        });
    let root_name: Option<Arc<str>> = root.map(|context| Arc::from(context.span.name.as_str()));
    let root_service = root.and_then(|context| service_name(context.resource));
    let numbers = structure.then(|| {
        let keys: Vec<SpanKey<'_>> = spans
            .iter()
            .map(|context| SpanKey {
                span_id: &context.span.span_id,
                parent_span_id: &context.span.parent_span_id,
                start_time_unix_nano: context.span.start_time_unix_nano,
            })
            .collect();
        numbers(&keys)
    });
    if let Some(numbers) = &numbers {
        for (context, numbers) in spans.iter_mut().zip(numbers) {
            context.child_count = numbers.child_count;
        }
    }
    Prepared {
        start: spans
            .iter()
            .map(|context| context.span.start_time_unix_nano)
            .min()
            .unwrap_or(0),
        end: spans
            .iter()
            .map(|context| context.span.end_time_unix_nano)
            .max()
            .unwrap_or(0),
        root_name,
        root_service,
        has_orphans,
        numbers,
        trace: Value::String(Arc::from(trace.trace_id.to_hex().as_str())),
        spans,
    }
}

/// A condition ready to check.
pub(crate) struct Check {
    pub(crate) attribute: Attribute,
    pub(crate) keys: Vec<Attribute>,
    pub(crate) test: Test,
}

fn is_id(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::TraceId
                | Intrinsic::SpanId
                | Intrinsic::SpanParentId
                | Intrinsic::LinkTraceId
                | Intrinsic::LinkSpanId
        )
    )
}

pub(crate) fn test_of(attribute: &Attribute, op: &ConditionOp) -> Test {
    match op {
        ConditionOp::Compare {
            op,
            value: Static::String(text),
        } if is_id(attribute)
            && matches!(
                op,
                crate::value::CompareOp::Eq | crate::value::CompareOp::Ne
            ) =>
        {
            Test::IdEquals {
                literal: text.clone(),
                normalized: text
                    .chars()
                    .all(|c| c.is_ascii_hexdigit())
                    .then(|| normalize_hex_id(text)),
                negated: *op == crate::value::CompareOp::Ne,
            }
        }
        ConditionOp::Compare { op, value } => Test::Compare {
            op: *op,
            value: Value::from_static(value),
        },
        ConditionOp::Regex { pattern, negated } => match compile_regex(pattern) {
            Ok(regex) => Test::Regex {
                pattern: pattern.clone(),
                regex: Arc::new(regex),
                negated: *negated,
            },
            // an invalid pattern selects nothing (the planner rejects them before)
            Err(_) => Test::Compare {
                op: crate::value::CompareOp::Eq,
                value: Value::Nil,
            },
        },
        ConditionOp::Exists => Test::Exists,
        ConditionOp::Missing => Test::Missing,
    }
}

fn is_trace_level(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::TraceDuration | Intrinsic::TraceRootName | Intrinsic::TraceRootService
        )
    )
}

fn trace_value(prepared: &Prepared<'_>, attribute: &Attribute) -> Value {
    let text = |value: &Option<Arc<str>>| value.clone().map_or(Value::Nil, Value::String);
    match attribute {
        Attribute::Intrinsic(Intrinsic::TraceDuration) => {
            Value::Duration(prepared.end.saturating_sub(prepared.start) as i64)
        }
        Attribute::Intrinsic(Intrinsic::TraceRootName) => text(&prepared.root_name),
        Attribute::Intrinsic(Intrinsic::TraceRootService) => text(&prepared.root_service),
        Attribute::Intrinsic(Intrinsic::TraceId) => prepared.trace.clone(),
        _ => Value::Nil,
    }
}

fn nested_number(prepared: &Prepared<'_>, index: usize, attribute: &Attribute) -> Option<Value> {
    let numbers = prepared.numbers.as_ref()?.get(index)?;
    Some(Value::Int(i64::from(match attribute {
        Attribute::Intrinsic(Intrinsic::NestedSetLeft) => numbers.left,
        Attribute::Intrinsic(Intrinsic::NestedSetRight) => numbers.right,
        Attribute::Intrinsic(Intrinsic::NestedSetParent) => numbers.parent,
        _ => return None,
    })))
}

fn key_holds(test: &Test, context: &SpanContext<'_>, key: &Attribute) -> bool {
    match placement(key) {
        Placement::Span => test_holds(test, &span_value(context, key)),
        Placement::Event if context.span.events.is_empty() => test_holds(test, &Value::Nil),
        Placement::Event => context
            .span
            .events
            .iter()
            .any(|event| test_holds(test, &event_value(context.span, event, key))),
        Placement::Link if context.span.links.is_empty() => test_holds(test, &Value::Nil),
        Placement::Link => context
            .span
            .links
            .iter()
            .any(|link| test_holds(test, &link_value(link, key))),
    }
}

pub(crate) fn check_holds(check: &Check, prepared: &Prepared<'_>, index: usize) -> bool {
    let attribute = &check.attribute;
    if is_trace_level(attribute) || *attribute == Attribute::Intrinsic(Intrinsic::TraceId) {
        // a portion with orphans may be part of a trace that satisfies it as a whole
        return (prepared.has_orphans && is_trace_level(attribute))
            || test_holds(&check.test, &trace_value(prepared, attribute));
    }
    if let Some(value) = nested_number(prepared, index, attribute) {
        return test_holds(&check.test, &value);
    }
    let context = &prepared.spans[index];
    if matches!(
        attribute,
        Attribute::Custom {
            scope: AttributeScope::Unscoped,
            ..
        }
    ) {
        if matches!(check.test, Test::Missing) {
            return check
                .keys
                .iter()
                .all(|key| !key_holds(&Test::Exists, context, key));
        }
        return check
            .keys
            .iter()
            .any(|key| key_holds(&check.test, context, key));
    }
    key_holds(&check.test, context, &check.keys[0])
}
