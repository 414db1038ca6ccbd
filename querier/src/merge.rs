//! Merging partial answers: the spans of one trace found in several places (ingesters, blocks,
//! a trace split across blocks) and the search results of several jobs.
//!
//! Spans are deduplicated by span ID and kind, as Tempo does (a client and a server span may
//! share an ID in Zipkin-style traces); the first copy seen wins. Spans regroup under one
//! `ResourceSpans` per distinct resource and one `ScopeSpans` per distinct scope.

use std::collections::{HashMap, HashSet};

use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::tempopb::{SpanSet, TraceSearchMetadata};
use prost::Message;

/// The root service name Tempo reports while the root span is unknown.
pub const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// Combines the parts of one trace, deduplicating spans and stopping before the encoded trace
/// would pass `max_bytes` (0: no limit). Returns the trace and whether spans were dropped for
/// the limit.
pub fn combine_trace_parts(
    parts: Vec<Vec<ResourceSpans>>,
    max_bytes: u64,
) -> (Vec<ResourceSpans>, bool) {
    let mut seen: HashSet<([u8; 8], i32)> = HashSet::new();
    let mut resources: Vec<ResourceSpans> = Vec::new();
    let mut resource_index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut scope_index: HashMap<(usize, Vec<u8>), usize> = HashMap::new();
    let mut total_bytes: u64 = 0;
    let mut truncated = false;
    for resource_spans in parts.into_iter().flatten() {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = resource_spans;
        let resource_key = {
            let mut key = resource
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default();
            key.extend_from_slice(schema_url.as_bytes());
            key
        };
        for scope_spans in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url: scope_schema_url,
            } = scope_spans;
            let mut scope_key = scope
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default();
            scope_key.extend_from_slice(scope_schema_url.as_bytes());
            for span in spans {
                if !seen.insert((span_key(&span), span.kind)) {
                    continue;
                }
                let span_bytes = span.encoded_len() as u64 + 4;
                if max_bytes > 0 && total_bytes + span_bytes > max_bytes {
                    truncated = true;
                    continue;
                }
                total_bytes += span_bytes;
                let resource_position =
                    *resource_index
                        .entry(resource_key.clone())
                        .or_insert_with(|| {
                            resources.push(ResourceSpans {
                                resource: resource.clone(),
                                scope_spans: Vec::new(),
                                schema_url: schema_url.clone(),
                            });
                            resources.len() - 1
                        });
                let scope_position = *scope_index
                    .entry((resource_position, scope_key.clone()))
                    .or_insert_with(|| {
                        let scopes = &mut resources[resource_position].scope_spans;
                        scopes.push(ScopeSpans {
                            scope: scope.clone(),
                            spans: Vec::new(),
                            schema_url: scope_schema_url.clone(),
                        });
                        scopes.len() - 1
                    });
                resources[resource_position].scope_spans[scope_position]
                    .spans
                    .push(span);
            }
        }
    }
    (resources, truncated)
}

fn span_key(span: &Span) -> [u8; 8] {
    let mut key = [0u8; 8];
    let id = &span.span_id;
    let take = id.len().min(8);
    key[8 - take..].copy_from_slice(&id[id.len() - take..]);
    key
}

/// Merges two search results for the same trace (found by two jobs). Times widen to cover both,
/// a known root replaces an unknown one, span sets merge by their attributes (spans by span ID,
/// at most `spans_per_span_set` kept), service statistics keep the larger counts.
pub fn merge_trace_metadata(
    into: &mut TraceSearchMetadata,
    other: TraceSearchMetadata,
    spans_per_span_set: usize,
) {
    let into_end = end_nanos(into);
    let other_end = end_nanos(&other);
    if into.start_time_unix_nano == 0
        || (other.start_time_unix_nano != 0
            && other.start_time_unix_nano < into.start_time_unix_nano)
    {
        into.start_time_unix_nano = other.start_time_unix_nano;
    }
    let end = into_end.max(other_end);
    into.duration_ms = u32::try_from(end.saturating_sub(into.start_time_unix_nano) / 1_000_000)
        .unwrap_or(u32::MAX);
    let unknown = |name: &str| name.is_empty() || name == ROOT_SPAN_NOT_YET_RECEIVED;
    if unknown(&into.root_service_name) && !unknown(&other.root_service_name) {
        into.root_service_name = other.root_service_name;
        into.root_trace_name = other.root_trace_name;
    }
    for (service, stats) in other.service_stats {
        let entry = into.service_stats.entry(service).or_default();
        entry.span_count = entry.span_count.max(stats.span_count);
        entry.error_count = entry.error_count.max(stats.error_count);
    }
    let mut span_sets = std::mem::take(&mut into.span_sets);
    for other_set in other.span_sets {
        match span_sets
            .iter_mut()
            .find(|set| set.attributes == other_set.attributes)
        {
            Some(set) => merge_span_set(set, other_set, spans_per_span_set),
            None => span_sets.push(other_set),
        }
    }
    into.set_span_sets(span_sets);
}

fn end_nanos(trace: &TraceSearchMetadata) -> u64 {
    trace.start_time_unix_nano + u64::from(trace.duration_ms) * 1_000_000
}

fn merge_span_set(into: &mut SpanSet, other: SpanSet, spans_per_span_set: usize) {
    let known: HashSet<String> = into.spans.iter().map(|span| span.span_id.clone()).collect();
    let mut overlap = 0u32;
    for span in other.spans {
        if known.contains(&span.span_id) {
            overlap += 1;
        } else if into.spans.len() < spans_per_span_set {
            into.spans.push(span);
        }
    }
    // Spans both sides returned were counted by both.
    into.matched = (into.matched + other.matched).saturating_sub(overlap);
}

#[cfg(test)]
mod tests;
