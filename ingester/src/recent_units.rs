//! The in-memory part of a search over recent data, as search units that decode lazily.
//!
//! The live, head and flushing traces are held as the pushed OTLP bytes (ranges of held WAL
//! records, unpacked here with a small cache: see `packed`); decoding all of them
//! for every query made a search under load (50k spans/s, a million spans in memory) take tens
//! of seconds. Two things keep a search to what it needs:
//! - [`Needles`]: a trace whose bytes lack the literal of a string equality the query requires
//!   (`{ span.order.id = "42" }`) cannot match and is left out undecoded, unless a local
//!   complete block holds another portion of it (the engine then joins the portions, so
//!   every portion stays): the block's trace IDs as written, or its bloom filter for a
//!   block found on disk at start-up;
//! - the rest is cut into units of about [`UNIT_SPANS`] spans, newest first, each decoded
//!   only when the engine fetches from it: a search that fills its limit from the newest
//!   traces skips the older units without decoding them.
//!
//! The portions of one trace (live, head, flushing) are decoded together, duplicates dropped,
//! so a unit holds each trace once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use contrail_proto::TraceId;
use contrail_traceql::fetch::{
    FetchError, FetchOutput, FetchRequest, MemoryBudget, SecondPassBatch, SecondPassRequest,
    SpanSource,
};
use contrail_traceql::needles::Needles;
use contrail_traceql::{CpuRunner, MemorySource, MemoryTrace, run_cpu};
use memchr::memmem::Finder;
use tokio::sync::OnceCell;

use crate::packed::{ChunkBytes, Unpacker};
use crate::reads::RecentTrace;
use crate::trace::{Dropped, decode_held};

/// Spans per unit (a unit may hold more when one trace is larger).
pub(crate) const UNIT_SPANS: u64 = 32 * 1024;

/// One trace's portions, undecoded.
#[derive(Debug, Clone)]
pub(crate) struct RecentGroup {
    /// Position in the snapshot's newest-first order.
    order: usize,
    trace_id: TraceId,
    chunks: Vec<ChunkBytes>,
    start_unix_nano: u64,
    end_unix_nano: u64,
    spans: u64,
}

/// The groups a search keeps, and those only a block of unknown content may need.
#[derive(Debug, Default)]
pub(crate) struct Grouped {
    /// Newest first.
    pub(crate) kept: Vec<RecentGroup>,
    /// Ruled out by the needles, kept only if a block whose trace IDs are not known (found
    /// on disk at start-up) may hold another portion: see [`readmit`].
    pub(crate) doubtful: Vec<RecentGroup>,
}

/// Groups `traces` (newest first) by trace ID, keeping the newest-first order of each
/// trace's newest portion, and leaves out the traces `needles` rule out that no local block
/// holds (`block_trace_ids`: each block's sorted trace IDs, `None` when unknown).
pub(crate) fn groups(
    traces: &[RecentTrace],
    needles: &Needles,
    block_trace_ids: &[Option<Arc<[TraceId]>>],
) -> Grouped {
    let mut index: HashMap<TraceId, usize> = HashMap::with_capacity(traces.len());
    let mut groups: Vec<RecentGroup> = Vec::with_capacity(traces.len());
    for trace in traces {
        match index.get(&trace.trace_id) {
            Some(&at) => {
                let group = &mut groups[at];
                group.chunks.extend(trace.chunks().iter().cloned());
                group.start_unix_nano = group.start_unix_nano.min(trace.start_unix_nano);
                group.end_unix_nano = group.end_unix_nano.max(trace.end_unix_nano);
                group.spans += trace.span_count;
            }
            None => {
                index.insert(trace.trace_id, groups.len());
                groups.push(RecentGroup {
                    order: groups.len(),
                    trace_id: trace.trace_id,
                    chunks: trace.chunks().to_vec(),
                    start_unix_nano: trace.start_unix_nano,
                    end_unix_nano: trace.end_unix_nano,
                    spans: trace.span_count,
                });
            }
        }
    }
    if matches!(needles, Needles::Unknown) {
        return Grouped {
            kept: groups,
            doubtful: Vec::new(),
        };
    }
    let unknown_blocks = block_trace_ids.iter().any(Option::is_none);
    let finders: Vec<Finder<'_>> = needles.strings().iter().map(Finder::new).collect();
    let mut grouped = Grouped::default();
    // Newest first, so the traces of one held record come together.
    let mut unpacker = Unpacker::for_query();
    let mut failed = 0;
    for group in groups {
        // A kept group keeps its held chunks, not the unpacked bytes: those would keep whole
        // decompressed records alive for as long as the search runs.
        let bytes: Vec<Bytes> = unpacker.all(&group.chunks, &mut failed);
        let admitted = needles.admits(|needle| {
            finders
                .iter()
                .find(|finder| finder.needle() == needle)
                .is_none_or(|finder| bytes.iter().any(|chunk| finder.find(chunk).is_some()))
        });
        let in_a_block = || {
            block_trace_ids
                .iter()
                .flatten()
                .any(|ids| ids.binary_search(&group.trace_id).is_ok())
        };
        if admitted || in_a_block() {
            grouped.kept.push(group);
        } else if unknown_blocks {
            grouped.doubtful.push(group);
        }
    }
    grouped
}

/// Adds to `kept` the doubtful groups whose trace ID is in `may_hold` (IDs that a block of
/// unknown content may hold, by its bloom filter), in newest-first order.
pub(crate) fn readmit(grouped: Grouped, may_hold: &HashSet<TraceId>) -> Vec<RecentGroup> {
    let Grouped { mut kept, doubtful } = grouped;
    let before = kept.len();
    kept.extend(
        doubtful
            .into_iter()
            .filter(|group| may_hold.contains(&group.trace_id)),
    );
    if kept.len() > before {
        kept.sort_by_key(|group| group.order);
    }
    kept
}

impl RecentGroup {
    /// The trace's ID.
    pub(crate) fn trace_id(&self) -> TraceId {
        self.trace_id
    }
}

/// Cuts `groups` (newest first) into units of about [`UNIT_SPANS`] spans.
pub(crate) fn units(groups: Vec<RecentGroup>, runner: Arc<dyn CpuRunner>) -> Vec<RecentUnit> {
    let mut units = Vec::new();
    let mut current: Vec<RecentGroup> = Vec::new();
    let mut spans = 0;
    for group in groups {
        spans += group.spans;
        current.push(group);
        if spans >= UNIT_SPANS {
            units.push(RecentUnit::new(
                std::mem::take(&mut current),
                runner.clone(),
            ));
            spans = 0;
        }
    }
    if !current.is_empty() {
        units.push(RecentUnit::new(current, runner));
    }
    units
}

/// Traces of recent data, decoded on the CPU pool at the first fetch.
pub(crate) struct RecentUnit {
    groups: Arc<Vec<RecentGroup>>,
    /// An upper bound of every span start: the latest span end held.
    latest_end_unix_nano: Option<u64>,
    runner: Arc<dyn CpuRunner>,
    decoded: OnceCell<MemorySource>,
}

impl RecentUnit {
    fn new(groups: Vec<RecentGroup>, runner: Arc<dyn CpuRunner>) -> Self {
        let latest_end_unix_nano = groups.iter().map(|group| group.end_unix_nano).max();
        RecentUnit {
            groups: Arc::new(groups),
            latest_end_unix_nano,
            runner,
            decoded: OnceCell::new(),
        }
    }

    async fn source(&self) -> Result<&MemorySource, FetchError> {
        self.decoded
            .get_or_try_init(|| async {
                let groups = self.groups.clone();
                let traces = run_cpu(self.runner.as_ref(), move || decode(&groups)).await?;
                Ok::<_, FetchError>(MemorySource::new(traces, self.runner.clone()))
            })
            .await
    }

    /// Whether the unit holds none of `trace_ids` (sorted).
    fn holds_none_of(&self, trace_ids: &[TraceId]) -> bool {
        !self
            .groups
            .iter()
            .any(|group| trace_ids.binary_search(&group.trace_id).is_ok())
    }
}

fn decode(groups: &[RecentGroup]) -> Vec<MemoryTrace> {
    let mut unpacker = Unpacker::for_query();
    groups
        .iter()
        .filter_map(|group| {
            decode_held(
                group.trace_id,
                &group.chunks,
                &mut unpacker,
                &mut Dropped::default(),
            )
        })
        .map(|trace| MemoryTrace {
            trace_id: trace.trace_id,
            resource_spans: trace.resource_spans,
        })
        .collect()
}

#[async_trait]
impl SpanSource for RecentUnit {
    async fn fetch(
        &self,
        request: &FetchRequest,
        budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        if let Some(trace_ids) = &request.trace_ids
            && self.holds_none_of(trace_ids)
        {
            return Ok(FetchOutput::default());
        }
        self.source().await?.fetch(request, budget).await
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        self.source()
            .await?
            .fetch_second_pass(request, budget)
            .await
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        self.latest_end_unix_nano
    }
}

#[cfg(test)]
mod tests;
