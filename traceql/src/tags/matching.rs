//! The `q` filter of the tag endpoints as a set of spans: the query is planned like a search
//! (same pushdown), each unit's first-pass batches are evaluated on the CPU pool, and every
//! span of every matching spanset is kept, with no limit. Tag scans then read only those spans
//! (blocks by row reference, OTLP traces by trace and span ID).

use std::collections::HashSet;
use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};

use crate::cpu::{CpuRunner, run_cpu};
use crate::error::{Error, Result};
use crate::fetch::{MemoryBudget, SpanSource};
use crate::plan::{Plan, SearchOptions, plan_search};
use crate::search::batch::evaluate_batch;

/// A parsed and planned `q` filter.
#[derive(Debug, Clone)]
pub struct SpanFilter {
    plan: Arc<Plan>,
}

/// The spans of one unit that match a [`SpanFilter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchedSpans {
    /// The units' row references of the spans (ascending, no duplicates).
    pub rows: Vec<u64>,
    /// The spans by trace and span ID.
    pub spans: HashSet<(TraceId, SpanId)>,
    /// The traces that have a matching span.
    pub traces: HashSet<TraceId>,
}

impl MatchedSpans {
    /// Whether `span_id` of `trace_id` matched.
    pub fn contains(&self, trace_id: &TraceId, span_id: &SpanId) -> bool {
        self.spans.contains(&(*trace_id, *span_id))
    }
}

impl SpanFilter {
    /// The filter `query` over traces overlapping `[start, end]` (unix nanoseconds,
    /// inclusive). `None` when it selects every span (`{}`, `{ true }`): no filter.
    pub fn new(query: &str, start_unix_nano: u64, end_unix_nano: u64) -> Result<Option<Self>> {
        let root = crate::parse_and_validate(query)?;
        let options = SearchOptions {
            start_unix_nano,
            end_unix_nano,
            limit: usize::MAX,
            spans_per_spanset: 0,
            most_recent: false,
        };
        if is_match_all(&root) {
            return Ok(None);
        }
        let plan = plan_search(&root, options)?;
        Ok(Some(SpanFilter {
            plan: Arc::new(plan),
        }))
    }

    /// The spans of `source` that match, evaluated on `runner`.
    pub async fn matching(
        &self,
        source: &dyn SpanSource,
        runner: &dyn CpuRunner,
        budget: &MemoryBudget,
    ) -> Result<MatchedSpans> {
        let mut matched = MatchedSpans::default();
        let Some(request) = self.plan.fetch.as_ref() else {
            return Ok(matched);
        };
        let output = source.fetch(request, budget).await?;
        for batch in output.batches {
            let plan = Arc::clone(&self.plan);
            let outcome = run_cpu(runner, move || {
                evaluate_batch(&plan.program, &batch, 0, usize::MAX, None, false)
            })
            .await?
            .map_err(|error| Error::Query {
                message: error.message,
            })?;
            for trace in outcome.settled {
                for spanset in &trace.spansets {
                    for span in &spanset.spans {
                        matched.rows.push(span.origin.row_ref);
                        matched.spans.insert((trace.trace_id, span.span_id));
                        matched.traces.insert(trace.trace_id);
                    }
                }
            }
        }
        matched.rows.sort_unstable();
        matched.rows.dedup();
        Ok(matched)
    }
}

/// `{}` or `{ true }`: a query every span matches.
fn is_match_all(root: &crate::RootExpr) -> bool {
    let printed = root.to_string();
    let compact: String = printed.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "{}" || compact == "{true}"
}
