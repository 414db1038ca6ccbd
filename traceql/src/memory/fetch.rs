//! The first and second pass over in-memory OTLP traces, with the semantics of
//! [`crate::fetch`]: conditions are checked on the OTLP structs with the rules of
//! [`crate::value`] (through the same [`Test`]s the evaluator uses) and only the selected
//! spans are materialised into columns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};

use crate::ast::{Attribute, AttributeScope, Intrinsic, Static, Status};
use crate::eval::field::test_holds;
use crate::eval::program::Test;
use crate::fetch::{
    Combine, ConditionOp, FetchOutput, FetchRequest, NestedValues, SecondPassBatch,
    SecondPassRequest, ServiceStats, SpanBatch, TraceInfo, ValueColumn,
};
use crate::memory::MemoryTrace;
use crate::memory::otlp::{
    Placement, SpanContext, event_value, link_value, placement, scoped_keys, service_name,
    span_value, status,
};
use crate::structure::{SpanKey, SpanNumbers, numbers};
use crate::value::{Value, compile_regex, normalize_hex_id};

/// Rows per batch before a new batch is started (traces are never split).
const BATCH_ROWS: usize = 8192;

/// A trace flattened for one request.
struct Prepared<'t> {
    spans: Vec<SpanContext<'t>>,
    start: u64,
    end: u64,
    root_name: Option<Arc<str>>,
    root_service: Option<Arc<str>>,
    has_orphans: bool,
    numbers: Option<Vec<SpanNumbers>>,
    trace: Value,
}

fn prepare(trace: &MemoryTrace, structure: bool) -> Prepared<'_> {
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
struct Check {
    attribute: Attribute,
    keys: Vec<Attribute>,
    test: Test,
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

fn test_of(attribute: &Attribute, op: &ConditionOp) -> Test {
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

fn check_holds(check: &Check, prepared: &Prepared<'_>, index: usize) -> bool {
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

fn stored(key: &Attribute) -> bool {
    !matches!(
        key,
        Attribute::Intrinsic(
            Intrinsic::Duration
                | Intrinsic::SpanId
                | Intrinsic::NestedSetLeft
                | Intrinsic::NestedSetRight
                | Intrinsic::NestedSetParent
                | Intrinsic::TraceDuration
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
                | Intrinsic::TraceId
                | Intrinsic::Parent
        )
    )
}

/// The scoped keys to return for `attributes`, split by placement.
fn columns_for(attributes: &[Attribute]) -> [Vec<Attribute>; 3] {
    let mut out: [Vec<Attribute>; 3] = Default::default();
    for attribute in attributes {
        for key in scoped_keys(attribute) {
            if !stored(&key) {
                continue;
            }
            let slot = match placement(&key) {
                Placement::Span => 0,
                Placement::Event => 1,
                Placement::Link => 2,
            };
            if !out[slot].contains(&key) {
                out[slot].push(key);
            }
        }
    }
    out
}

/// Columns being built for a batch.
struct Builder {
    keys: [Vec<Attribute>; 3],
    span_values: Vec<Vec<Value>>,
    events: (Vec<u32>, Vec<Vec<Value>>),
    links: (Vec<u32>, Vec<Vec<Value>>),
}

impl Builder {
    fn new(keys: [Vec<Attribute>; 3]) -> Self {
        Builder {
            span_values: vec![Vec::new(); keys[0].len()],
            events: (vec![0], vec![Vec::new(); keys[1].len()]),
            links: (vec![0], vec![Vec::new(); keys[2].len()]),
            keys,
        }
    }

    fn push(&mut self, context: &SpanContext<'_>) {
        for (column, key) in self.span_values.iter_mut().zip(&self.keys[0]) {
            column.push(span_value(context, key));
        }
        for (column, key) in self.events.1.iter_mut().zip(&self.keys[1]) {
            column.extend(
                context
                    .span
                    .events
                    .iter()
                    .map(|event| event_value(context.span, event, key)),
            );
        }
        let last = *self.events.0.last().unwrap_or(&0);
        self.events.0.push(last + context.span.events.len() as u32);
        for (column, key) in self.links.1.iter_mut().zip(&self.keys[2]) {
            column.extend(context.span.links.iter().map(|link| link_value(link, key)));
        }
        let last = *self.links.0.last().unwrap_or(&0);
        self.links.0.push(last + context.span.links.len() as u32);
    }

    fn finish(self) -> (Vec<(Attribute, ValueColumn)>, NestedValues, NestedValues) {
        let [span_keys, event_keys, link_keys] = self.keys;
        let nested = |keys: Vec<Attribute>, (offsets, columns): (Vec<u32>, Vec<Vec<Value>>)| {
            if keys.is_empty() {
                return NestedValues::default();
            }
            NestedValues {
                offsets,
                columns: keys
                    .into_iter()
                    .zip(columns.into_iter().map(ValueColumn::Plain))
                    .collect(),
            }
        };
        (
            span_keys
                .into_iter()
                .zip(self.span_values.into_iter().map(ValueColumn::Plain))
                .collect(),
            nested(event_keys, self.events),
            nested(link_keys, self.links),
        )
    }
}

fn row_ref(trace: usize, span: usize) -> u64 {
    ((trace as u64) << 32) | span as u64
}

/// The first pass over `traces`.
pub(crate) fn fetch(traces: &[MemoryTrace], request: &FetchRequest) -> FetchOutput {
    let checks: Vec<Check> = request
        .conditions
        .iter()
        .filter_map(|condition| {
            condition.op.as_ref().map(|op| Check {
                attribute: condition.attribute.clone(),
                keys: scoped_keys(&condition.attribute),
                test: test_of(&condition.attribute, op),
            })
        })
        .collect();
    let requested: Vec<Attribute> = request
        .conditions
        .iter()
        .map(|condition| condition.attribute.clone())
        .collect();
    let structure = request.need_structure
        || requested.contains(&Attribute::Intrinsic(Intrinsic::SpanChildCount))
        || checks
            .iter()
            .any(|check| nested_number_attribute(&check.attribute));
    let wanted: Option<HashSet<TraceId>> = request
        .trace_ids
        .as_ref()
        .map(|ids| ids.iter().copied().collect());
    let mut output = FetchOutput::default();
    let mut batch = SpanBatch::default();
    let mut builder = Builder::new(columns_for(&requested));
    for (trace_index, trace) in traces.iter().enumerate() {
        if wanted
            .as_ref()
            .is_some_and(|wanted| !wanted.contains(&trace.trace_id))
        {
            continue;
        }
        let prepared = prepare(trace, structure);
        if prepared.spans.is_empty()
            || prepared.end < request.start_unix_nano
            || prepared.start > request.end_unix_nano
        {
            continue;
        }
        output.stats.inspected_traces += 1;
        output.stats.inspected_spans += prepared.spans.len() as u64;
        let selected: Vec<usize> = (0..prepared.spans.len())
            .filter(|index| {
                checks.is_empty()
                    || match request.combine {
                        Combine::All => checks
                            .iter()
                            .all(|check| check_holds(check, &prepared, *index)),
                        Combine::Any => checks
                            .iter()
                            .any(|check| check_holds(check, &prepared, *index)),
                    }
            })
            .collect();
        if selected.is_empty() && !prepared.has_orphans {
            continue;
        }
        let first_row = batch.spans.start_unix_nano.len();
        for index in &selected {
            let context = &prepared.spans[*index];
            let span = context.span;
            let spans = &mut batch.spans;
            if request.need_span_ids {
                spans
                    .span_id
                    .push(SpanId::from_bytes(&span.span_id).unwrap_or_default());
            }
            spans.start_unix_nano.push(span.start_time_unix_nano);
            spans.duration_nano.push(
                span.end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano),
            );
            if request.need_structure
                && let Some(numbers) = &prepared.numbers
            {
                spans.nested_set_left.push(numbers[*index].left);
                spans.nested_set_right.push(numbers[*index].right);
                spans.nested_set_parent.push(numbers[*index].parent);
            }
            spans.row_ref.push(row_ref(trace_index, *index));
            builder.push(context);
        }
        let rows = first_row..batch.spans.start_unix_nano.len();
        batch.traces.push(TraceInfo {
            trace_id: trace.trace_id,
            start_unix_nano: prepared.start,
            end_unix_nano: prepared.end,
            root_service_name: prepared.root_service.clone(),
            root_span_name: prepared.root_name.clone(),
            rows,
            has_orphans: prepared.has_orphans,
            span_count: prepared.spans.len() as u32,
        });
        if batch.spans.start_unix_nano.len() >= BATCH_ROWS {
            let full = std::mem::replace(&mut builder, Builder::new(columns_for(&requested)));
            output
                .batches
                .push(finish(std::mem::take(&mut batch), full));
        }
    }
    if !batch.traces.is_empty() {
        output.batches.push(finish(batch, builder));
    }
    output.stats.inspected_bytes = output
        .batches
        .iter()
        .map(|batch| batch.memory_size() as u64)
        .sum();
    output
}

fn nested_number_attribute(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent
        )
    )
}

fn finish(mut batch: SpanBatch, builder: Builder) -> SpanBatch {
    let (span_values, events, links) = builder.finish();
    batch.span_values = span_values;
    batch.events = events;
    batch.links = links;
    batch
}

/// The second pass over `traces`.
pub(crate) fn second_pass(traces: &[MemoryTrace], request: &SecondPassRequest) -> SecondPassBatch {
    let mut builder = Builder::new(columns_for(&request.attributes));
    let mut prepared: BTreeMap<usize, Prepared<'_>> = BTreeMap::new();
    let needs_children = request
        .attributes
        .contains(&Attribute::Intrinsic(Intrinsic::SpanChildCount));
    let mut rows = Vec::with_capacity(request.rows.len());
    for row in &request.rows {
        let (trace_index, span_index) =
            ((row >> 32) as usize, (row & u64::from(u32::MAX)) as usize);
        let Some(trace) = traces.get(trace_index) else {
            continue;
        };
        let entry = prepared
            .entry(trace_index)
            .or_insert_with(|| prepare(trace, needs_children));
        let Some(context) = entry.spans.get(span_index) else {
            continue;
        };
        builder.push(context);
        rows.push(*row);
    }
    let (span_values, events, links) = builder.finish();
    let wanted: HashSet<TraceId> = request.service_stats_for.iter().copied().collect();
    let service_stats = traces
        .iter()
        .filter(|trace| wanted.contains(&trace.trace_id))
        .map(|trace| (trace.trace_id, service_stats(trace)))
        .collect();
    SecondPassBatch {
        rows,
        span_values,
        events,
        links,
        service_stats,
    }
}

fn service_stats(trace: &MemoryTrace) -> Vec<ServiceStats> {
    let mut per_service: HashMap<Arc<str>, (u32, u32)> = HashMap::new();
    for resource_spans in &trace.resource_spans {
        let name = service_name(resource_spans.resource.as_ref()).unwrap_or_else(|| Arc::from(""));
        let entry = per_service.entry(name).or_default();
        for span in resource_spans
            .scope_spans
            .iter()
            .flat_map(|scope| &scope.spans)
        {
            entry.0 += 1;
            entry.1 += u32::from(status(span) == Status::Error);
        }
    }
    let mut stats: Vec<ServiceStats> = per_service
        .into_iter()
        .map(|(service_name, (span_count, error_count))| ServiceStats {
            service_name,
            span_count,
            error_count,
        })
        .collect();
    stats.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    stats
}
