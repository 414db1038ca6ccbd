//! The second pass of a search: for the spans the answer shows (the first `spss` of each
//! spanset) their names and `select()` attributes, and for its traces the per-service span and
//! error counts, summed over every source holding a portion.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::ast::{Attribute, Intrinsic};
use crate::error::Result;
use crate::fetch::{MemoryBudget, SecondPassRequest, ServiceStats, SpanSource};
use crate::plan::{Plan, shown_key};
use crate::search::result::TraceResult;

/// Names, `select()` attributes and service statistics for the answer.
pub(crate) async fn second_pass(
    plan: &Plan,
    sources: &[Arc<dyn SpanSource>],
    budget: &MemoryBudget,
    results: &mut [TraceResult],
) -> Result<()> {
    let spss = plan.options.spans_per_spanset;
    let mut rows: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut stats_for: BTreeMap<usize, Vec<contrail_proto::TraceId>> = BTreeMap::new();
    for result in results.iter() {
        for source in &result.sources {
            stats_for.entry(*source).or_default().push(result.trace_id);
        }
        for set in &result.spansets {
            let shown = if spss == 0 {
                set.spans.len()
            } else {
                spss.min(set.spans.len())
            };
            for span in &set.spans[..shown] {
                rows.entry(span.origin.source)
                    .or_default()
                    .push(span.origin.row_ref);
            }
        }
    }
    let holders: HashSet<usize> = rows.keys().chain(stats_for.keys()).copied().collect();
    let mut holders: Vec<usize> = holders.into_iter().collect();
    holders.sort_unstable();
    let mut service_stats: BTreeMap<contrail_proto::TraceId, BTreeMap<String, ServiceStats>> =
        BTreeMap::new();
    for source in holders {
        let mut wanted = rows.remove(&source).unwrap_or_default();
        wanted.sort_unstable();
        wanted.dedup();
        let mut traces = stats_for.remove(&source).unwrap_or_default();
        traces.sort_unstable();
        let request = SecondPassRequest {
            rows: wanted,
            attributes: plan.second_pass.clone(),
            service_stats_for: traces,
        };
        let answer = sources[source].fetch_second_pass(&request, budget).await?;
        for (trace_id, stats) in answer.service_stats {
            let per_service = service_stats.entry(trace_id).or_default();
            for stat in stats {
                let entry =
                    per_service
                        .entry(stat.service_name.to_string())
                        .or_insert(ServiceStats {
                            service_name: stat.service_name.clone(),
                            span_count: 0,
                            error_count: 0,
                        });
                entry.span_count += stat.span_count;
                entry.error_count += stat.error_count;
            }
        }
        let position: std::collections::HashMap<u64, usize> = answer
            .rows
            .iter()
            .enumerate()
            .map(|(index, row)| (*row, index))
            .collect();
        for result in results.iter_mut() {
            for set in &mut result.spansets {
                for span in set
                    .spans
                    .iter_mut()
                    .filter(|span| span.origin.source == source)
                {
                    let Some(index) = position.get(&span.origin.row_ref) else {
                        continue;
                    };
                    for (attribute, column) in &answer.span_values {
                        let value = column.get(*index);
                        if *attribute == Attribute::Intrinsic(Intrinsic::Name) {
                            if let crate::value::Value::String(name) = value {
                                span.name = Some(name.clone());
                            }
                            continue;
                        }
                        let Some(key) = shown_key(attribute) else {
                            continue;
                        };
                        if value.is_nil()
                            || span.attributes.iter().any(|(known, _)| **known == *key)
                        {
                            continue;
                        }
                        span.attributes
                            .push((Arc::from(key.as_str()), value.clone()));
                    }
                    for (attribute, column) in
                        answer.events.columns.iter().chain(&answer.links.columns)
                    {
                        let nested = if answer
                            .events
                            .columns
                            .iter()
                            .any(|(known, _)| known == attribute)
                        {
                            &answer.events
                        } else {
                            &answer.links
                        };
                        let Some(key) = shown_key(attribute) else {
                            continue;
                        };
                        if span.attributes.iter().any(|(known, _)| **known == *key) {
                            continue;
                        }
                        if let Some(value) = nested
                            .items_of(*index)
                            .map(|item| column.get(item))
                            .find(|value| !value.is_nil())
                        {
                            span.attributes
                                .push((Arc::from(key.as_str()), value.clone()));
                        }
                    }
                }
            }
        }
    }
    for result in results.iter_mut() {
        if let Some(per_service) = service_stats.remove(&result.trace_id) {
            result.service_stats = per_service.into_values().collect();
        }
    }
    Ok(())
}
