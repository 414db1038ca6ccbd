//! Traces split across units, evaluated once: the portions every source returned for the
//! deferred trace IDs are joined into one batch (spans deduplicated by span ID), the nested-set
//! numbers and child counts are recomputed over the union from span IDs and `span:parentID`
//! ([`crate::structure::numbers`]), and the trace-level fields combined (earliest start,
//! latest end, the root from the portion that has it).

use std::collections::{BTreeMap, HashSet};

use contrail_proto::{SpanId, TraceId};

use crate::ast::{Attribute, Intrinsic};
use crate::fetch::{NestedValues, SpanBatch, TraceInfo, ValueColumn};
use crate::search::result::Origin;
use crate::structure::{SpanKey, numbers};
use crate::value::Value;

/// A joined batch; `row_ref` of row `i` is `i`, and `origins[i]` says where it came from.
#[derive(Debug, Default)]
pub struct Joined {
    pub batch: SpanBatch,
    pub origins: Vec<Origin>,
}

fn keys(
    batches: &[(usize, &SpanBatch)],
    pick: impl Fn(&SpanBatch) -> &[(Attribute, ValueColumn)],
) -> Vec<Attribute> {
    let mut keys: Vec<Attribute> = Vec::new();
    for (_, batch) in batches {
        for (key, _) in pick(batch) {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

fn column<'b>(columns: &'b [(Attribute, ValueColumn)], key: &Attribute) -> Option<&'b ValueColumn> {
    columns
        .iter()
        .find(|(known, _)| known == key)
        .map(|(_, column)| column)
}

fn append_nested(
    out: &mut NestedValues,
    keys: &[Attribute],
    values: &mut [Vec<Value>],
    from: &NestedValues,
    row: usize,
) {
    let items = from.items_of(row);
    for (index, key) in keys.iter().enumerate() {
        let source = column(&from.columns, key);
        for item in items.clone() {
            values[index].push(source.map_or(Value::Nil, |column| column.get(item).clone()));
        }
    }
    let last = out.offsets.last().copied().unwrap_or(0);
    if out.offsets.is_empty() {
        out.offsets.push(0);
    }
    out.offsets.push(last + items.len() as u32);
}

/// Joins the portions of every deferred trace found in `batches` (source index, batch).
pub fn join(batches: &[(usize, &SpanBatch)], trace_ids: &HashSet<TraceId>) -> Joined {
    let span_keys = keys(batches, |batch| &batch.span_values);
    let event_keys = keys(batches, |batch| &batch.events.columns);
    let link_keys = keys(batches, |batch| &batch.links.columns);
    let mut portions: BTreeMap<TraceId, Vec<(usize, &SpanBatch, &TraceInfo)>> = BTreeMap::new();
    for (source, batch) in batches {
        for info in &batch.traces {
            if trace_ids.contains(&info.trace_id) {
                portions
                    .entry(info.trace_id)
                    .or_default()
                    .push((*source, batch, info));
            }
        }
    }
    let mut joined = Joined::default();
    let mut span_values: Vec<Vec<Value>> = vec![Vec::new(); span_keys.len()];
    let mut event_values: Vec<Vec<Value>> = vec![Vec::new(); event_keys.len()];
    let mut link_values: Vec<Vec<Value>> = vec![Vec::new(); link_keys.len()];
    let parent_key = Attribute::Intrinsic(Intrinsic::SpanParentId);
    let mut parents: Vec<Option<SpanId>> = Vec::new();
    for (trace_id, parts) in portions {
        let first_row = joined.batch.spans.start_unix_nano.len();
        let mut seen: HashSet<SpanId> = HashSet::new();
        let mut info = TraceInfo {
            trace_id,
            start_unix_nano: u64::MAX,
            end_unix_nano: 0,
            root_service_name: None,
            root_span_name: None,
            rows: 0..0,
            has_orphans: false,
            span_count: 0,
        };
        for (source, batch, part) in parts {
            info.start_unix_nano = info.start_unix_nano.min(part.start_unix_nano);
            info.end_unix_nano = info.end_unix_nano.max(part.end_unix_nano);
            if info.root_span_name.is_none() && part.root_span_name.is_some() {
                info.root_span_name = part.root_span_name.clone();
                info.root_service_name = part.root_service_name.clone();
            }
            for row in part.rows.clone() {
                let Some(span_id) = batch.spans.span_id.get(row).copied() else {
                    continue;
                };
                if !seen.insert(span_id) {
                    continue;
                }
                let spans = &mut joined.batch.spans;
                spans.span_id.push(span_id);
                spans.start_unix_nano.push(batch.spans.start_unix_nano[row]);
                spans.duration_nano.push(batch.spans.duration_nano[row]);
                spans.row_ref.push(joined.origins.len() as u64);
                joined.origins.push(Origin {
                    source,
                    row_ref: batch.spans.row_ref.get(row).copied().unwrap_or(row as u64),
                });
                for (index, key) in span_keys.iter().enumerate() {
                    span_values[index].push(
                        column(&batch.span_values, key)
                            .map_or(Value::Nil, |column| column.get(row).clone()),
                    );
                }
                parents.push(
                    match column(&batch.span_values, &parent_key).map(|column| column.get(row)) {
                        Some(Value::String(hex)) => SpanId::from_hex(hex).ok(),
                        _ => None,
                    },
                );
                append_nested(
                    &mut joined.batch.events,
                    &event_keys,
                    &mut event_values,
                    &batch.events,
                    row,
                );
                append_nested(
                    &mut joined.batch.links,
                    &link_keys,
                    &mut link_values,
                    &batch.links,
                    row,
                );
            }
        }
        let last_row = joined.batch.spans.start_unix_nano.len();
        info.rows = first_row..last_row;
        info.span_count = (last_row - first_row) as u32;
        let parent_bytes: Vec<[u8; 8]> = parents[first_row..last_row]
            .iter()
            .map(|parent| parent.map(|id| id.to_array()).unwrap_or_default())
            .collect();
        let span_bytes: Vec<[u8; 8]> = joined.batch.spans.span_id[first_row..last_row]
            .iter()
            .map(|id| id.to_array())
            .collect();
        let span_keys_for_structure: Vec<SpanKey<'_>> = (0..last_row - first_row)
            .map(|index| SpanKey {
                span_id: &span_bytes[index],
                parent_span_id: if parents[first_row + index].is_some() {
                    &parent_bytes[index]
                } else {
                    &[]
                },
                start_time_unix_nano: joined.batch.spans.start_unix_nano[first_row + index],
            })
            .collect();
        let structure = numbers(&span_keys_for_structure);
        let spans = &mut joined.batch.spans;
        for numbers in &structure {
            spans.nested_set_left.push(numbers.left);
            spans.nested_set_right.push(numbers.right);
            spans.nested_set_parent.push(numbers.parent);
            info.has_orphans |= numbers.left == 0;
        }
        if let Some(index) = span_keys
            .iter()
            .position(|key| *key == Attribute::Intrinsic(Intrinsic::SpanChildCount))
        {
            for (offset, numbers) in structure.iter().enumerate() {
                span_values[index][first_row + offset] = Value::Int(i64::from(numbers.child_count));
            }
        }
        joined.batch.traces.push(info);
    }
    joined.batch.span_values = span_keys
        .into_iter()
        .zip(span_values.into_iter().map(ValueColumn::Plain))
        .collect();
    joined.batch.events.columns = event_keys
        .into_iter()
        .zip(event_values.into_iter().map(ValueColumn::Plain))
        .collect();
    joined.batch.links.columns = link_keys
        .into_iter()
        .zip(link_values.into_iter().map(ValueColumn::Plain))
        .collect();
    joined
}
