//! The first and second pass over in-memory OTLP traces, with the semantics of
//! [`crate::fetch`]: conditions are checked on the OTLP structs with the rules of
//! [`crate::value`] (through the same [`Test`]s the evaluator uses) and only the selected
//! spans are materialised into columns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};

use crate::ast::{Attribute, Intrinsic, Status};
use crate::fetch::{
    Combine, FetchOutput, FetchRequest, NestedValues, SecondPassBatch, SecondPassRequest,
    ServiceStats, SpanBatch, TraceInfo, ValueColumn,
};
use crate::memory::check::{Check, Prepared, check_holds, prepare, test_of};
use crate::memory::otlp::{
    Placement, SpanContext, event_value, link_value, placement, scoped_keys, service_name,
    span_value, status,
};
use crate::memory::trace::MemoryTrace;
use crate::value::Value;

/// Rows per batch before a new batch is started (traces are never split).
const BATCH_ROWS: usize = 8192;

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
    let mut requested: Vec<Attribute> = request
        .conditions
        .iter()
        .map(|condition| condition.attribute.clone())
        .collect();
    if request.all_attributes {
        for attribute in every_attribute(traces) {
            if !requested.contains(&attribute) {
                requested.push(attribute);
            }
        }
    }
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

/// `compare()`'s columns: the span-level intrinsics and every span, resource and
/// instrumentation attribute the traces have.
fn every_attribute(traces: &[MemoryTrace]) -> Vec<Attribute> {
    use crate::ast::AttributeScope;
    let mut out: Vec<Attribute> = [
        Intrinsic::Name,
        Intrinsic::Status,
        Intrinsic::StatusMessage,
        Intrinsic::Kind,
        Intrinsic::InstrumentationName,
        Intrinsic::InstrumentationVersion,
    ]
    .into_iter()
    .map(Attribute::Intrinsic)
    .collect();
    let mut seen: HashSet<(u8, String)> = HashSet::new();
    let mut add = |scope: AttributeScope, tag: u8, key: &str, out: &mut Vec<Attribute>| {
        if seen.insert((tag, key.to_owned())) {
            out.push(Attribute::Custom {
                scope,
                name: key.to_owned(),
            });
        }
    };
    for resource in traces.iter().flat_map(|trace| &trace.resource_spans) {
        for key_value in resource
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
        {
            add(AttributeScope::Resource, 0, &key_value.key, &mut out);
        }
        for scope in &resource.scope_spans {
            for key_value in scope.scope.iter().flat_map(|scope| &scope.attributes) {
                add(AttributeScope::Instrumentation, 1, &key_value.key, &mut out);
            }
            for key_value in scope.spans.iter().flat_map(|span| &span.attributes) {
                add(AttributeScope::Span, 2, &key_value.key, &mut out);
            }
        }
    }
    out
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
