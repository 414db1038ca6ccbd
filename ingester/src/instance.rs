//! One tenant's recent data: live traces (still receiving spans), the head block (idle traces
//! waiting for the cut), cut blocks being written and uploaded, and complete blocks kept on
//! local disk for `complete_block_timeout`. Everything but the complete blocks is held as the
//! undecoded segment bytes ([`TraceChunks`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use contrail_proto::internal::v1::PushErrorReason;
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::BlockReader;
use uuid::Uuid;

use crate::trace::{Chunk, TraceChunks};

/// A trace still receiving spans.
#[derive(Debug, Clone)]
pub(crate) struct LiveTrace {
    pub(crate) data: TraceChunks,
    pub(crate) first_append_unix_nano: u64,
    pub(crate) last_append_unix_nano: u64,
}

/// Idle traces waiting for the cut.
#[derive(Debug, Default)]
struct HeadBlock {
    traces: HashMap<TraceId, TraceChunks>,
    bytes: usize,
    created_unix_nano: u64,
}

/// A head block that was cut: sorted by trace ID, being written and uploaded.
#[derive(Debug)]
pub(crate) struct CutBlock {
    pub(crate) tenant: TenantId,
    pub(crate) block_id: Uuid,
    pub(crate) traces: Vec<(TraceId, TraceChunks)>,
    pub(crate) spans: u64,
}

impl CutBlock {
    fn find(&self, trace_id: &TraceId) -> Option<&TraceChunks> {
        self.traces
            .binary_search_by(|(id, _)| id.cmp(trace_id))
            .ok()
            .map(|index| &self.traces[index].1)
    }
}

/// A block in the object store, still readable from local disk.
#[derive(Debug, Clone)]
pub(crate) struct CompleteBlock {
    pub(crate) reader: Arc<BlockReader>,
    pub(crate) uploaded_unix_nano: u64,
    /// The block's trace IDs, sorted, when this ingester wrote it (`None`: found on disk at
    /// start-up).
    pub(crate) trace_ids: Option<Arc<[TraceId]>>,
}

#[derive(Debug, Default)]
struct InstanceState {
    live: HashMap<TraceId, LiveTrace>,
    head: HeadBlock,
    flushing: Vec<Arc<CutBlock>>,
    complete: Vec<CompleteBlock>,
}

/// When traces move and blocks are cut (from the ingester config, in nanoseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutPolicy {
    pub(crate) idle_nanos: u64,
    pub(crate) max_live_nanos: u64,
    pub(crate) max_block_bytes: usize,
    pub(crate) max_block_nanos: u64,
    pub(crate) complete_block_nanos: u64,
}

/// What a sweep did.
#[derive(Debug)]
pub(crate) struct Sweep {
    /// The head blocks cut, oldest first: one each time the idle traces moved in passed
    /// `max_block_bytes`, then the rest if the head is due.
    pub(crate) cut: Vec<Arc<CutBlock>>,
    /// Complete blocks past `complete_block_timeout` (their local files can go).
    pub(crate) expired: Vec<CompleteBlock>,
    /// Live traces left.
    pub(crate) live_traces: usize,
}

/// Per-tenant limits for one push.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushLimits {
    pub(crate) max_live_traces: usize,
    pub(crate) max_bytes_per_trace: usize,
}

/// What a push found when checked against the limits.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// One reason per segment (`Unspecified` = accepted).
    pub(crate) reasons: Vec<PushErrorReason>,
    pub(crate) accepted_bytes: usize,
}

/// A snapshot of one trace's recent data, for reads.
#[derive(Debug, Default)]
pub(crate) struct TraceViews {
    pub(crate) chunks: Vec<crate::packed::ChunkBytes>,
    pub(crate) blocks: Vec<Arc<BlockReader>>,
}

/// One tenant.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) tenant: TenantId,
    state: Mutex<InstanceState>,
}

impl Instance {
    pub(crate) fn new(tenant: TenantId) -> Self {
        Instance {
            tenant,
            state: Mutex::new(InstanceState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, InstanceState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks each segment against the limits (before anything is written).
    pub(crate) fn admit(&self, segments: &[(TraceId, usize)], limits: PushLimits) -> Admission {
        let state = self.lock();
        let mut admission = Admission::default();
        let mut new_traces = 0usize;
        let mut batch_bytes: HashMap<TraceId, usize> = HashMap::new();
        for (trace_id, bytes) in segments {
            let live = state.live.get(trace_id);
            let held = live.map_or(0, |trace| trace.data.bytes)
                + state
                    .head
                    .traces
                    .get(trace_id)
                    .map_or(0, |trace| trace.bytes);
            let in_batch = batch_bytes.entry(*trace_id).or_insert(0);
            let is_new = live.is_none() && *in_batch == 0;
            let reason = if limits.max_bytes_per_trace > 0
                && held + *in_batch + bytes > limits.max_bytes_per_trace
            {
                PushErrorReason::TraceTooLarge
            } else if is_new
                && limits.max_live_traces > 0
                && state.live.len() + new_traces >= limits.max_live_traces
            {
                PushErrorReason::MaxLiveTraces
            } else {
                PushErrorReason::Unspecified
            };
            if reason == PushErrorReason::Unspecified {
                *in_batch += bytes;
                new_traces += usize::from(is_new);
                admission.accepted_bytes += bytes;
            }
            admission.reasons.push(reason);
        }
        admission
    }

    /// Adds accepted segments, durable in WAL segment `seq`, to the live traces.
    pub(crate) fn insert(&self, chunks: Vec<(TraceId, Chunk)>, seq: u64, now_unix_nano: u64) {
        let mut state = self.lock();
        for (trace_id, chunk) in chunks {
            let live = state.live.entry(trace_id).or_insert_with(|| LiveTrace {
                data: TraceChunks::default(),
                first_append_unix_nano: now_unix_nano,
                last_append_unix_nano: now_unix_nano,
            });
            live.data.push(chunk, seq);
            live.last_append_unix_nano = now_unix_nano;
        }
    }

    /// Moves idle (or all, with `force`) live traces to the head block and cuts the head block
    /// when it is due (or not empty, with `force`). Drops complete blocks past their timeout.
    pub(crate) fn sweep(&self, now_unix_nano: u64, policy: CutPolicy, force: bool) -> Sweep {
        let mut state = self.lock();
        let state = &mut *state;
        let due: Vec<TraceId> = state
            .live
            .iter()
            .filter(|(_, trace)| {
                force
                    || now_unix_nano.saturating_sub(trace.last_append_unix_nano)
                        >= policy.idle_nanos
                    || now_unix_nano.saturating_sub(trace.first_append_unix_nano)
                        >= policy.max_live_nanos
            })
            .map(|(trace_id, _)| *trace_id)
            .collect();
        let mut cut = Vec::new();
        for trace_id in due {
            let Some(live) = state.live.remove(&trace_id) else {
                continue;
            };
            if state.head.traces.is_empty() {
                state.head.created_unix_nano = now_unix_nano;
            }
            state.head.bytes += live.data.bytes;
            state
                .head
                .traces
                .entry(trace_id)
                .or_default()
                .absorb(live.data);
            // Blocks stay near max_block_bytes however much goes idle at once: a block write
            // holds its block's bytes unpacked.
            if state.head.bytes >= policy.max_block_bytes {
                cut.push(self.cut_head(state));
            }
        }
        let (kept, expired): (Vec<_>, Vec<_>) = std::mem::take(&mut state.complete)
            .into_iter()
            .partition(|block| {
                now_unix_nano.saturating_sub(block.uploaded_unix_nano) < policy.complete_block_nanos
            });
        state.complete = kept;
        let head = &state.head;
        if !head.traces.is_empty()
            && (force
                || head.bytes >= policy.max_block_bytes
                || now_unix_nano.saturating_sub(head.created_unix_nano) >= policy.max_block_nanos)
        {
            cut.push(self.cut_head(state));
        }
        Sweep {
            cut,
            expired,
            live_traces: state.live.len(),
        }
    }

    /// Cuts the head block into a block being flushed.
    fn cut_head(&self, state: &mut InstanceState) -> Arc<CutBlock> {
        let head = std::mem::take(&mut state.head);
        let mut traces: Vec<(TraceId, TraceChunks)> = head.traces.into_iter().collect();
        traces.sort_unstable_by_key(|(trace_id, _)| *trace_id);
        let spans = traces.iter().map(|(_, trace)| trace.spans).sum();
        let block = Arc::new(CutBlock {
            tenant: self.tenant.clone(),
            block_id: Uuid::new_v4(),
            traces,
            spans,
        });
        state.flushing.push(block.clone());
        block
    }

    /// Forgets a cut block that left nothing to write (every span invalid).
    pub(crate) fn discard(&self, block_id: Uuid) {
        self.lock()
            .flushing
            .retain(|block| block.block_id != block_id);
    }

    /// Adds a complete block found on local disk at start-up (already in the object store).
    pub(crate) fn add_complete(&self, complete: CompleteBlock) {
        self.lock().complete.push(complete);
    }

    /// Replaces a flushed cut block by its complete (local) block.
    pub(crate) fn complete(&self, block_id: Uuid, complete: CompleteBlock) {
        let mut state = self.lock();
        state.flushing.retain(|block| block.block_id != block_id);
        state.complete.push(complete);
    }

    /// Everything held for `trace_id`: chunks from live, head and cut blocks, and the local
    /// complete blocks that may hold it.
    pub(crate) fn trace_views(&self, trace_id: &TraceId) -> TraceViews {
        let state = self.lock();
        let mut views = TraceViews::default();
        if let Some(live) = state.live.get(trace_id) {
            views.chunks.extend(live.data.chunks.iter().cloned());
        }
        if let Some(head) = state.head.traces.get(trace_id) {
            views.chunks.extend(head.chunks.iter().cloned());
        }
        for block in &state.flushing {
            if let Some(found) = block.find(trace_id) {
                views.chunks.extend(found.chunks.iter().cloned());
            }
        }
        views.blocks = state
            .complete
            .iter()
            .filter(|block| block.reader.meta().may_contain(trace_id))
            .map(|block| block.reader.clone())
            .collect();
        views
    }

    /// Recent traces overlapping `[start, end]` (0 = open), newest first, and the complete
    /// blocks whose time range overlaps it.
    pub(crate) fn recent(
        &self,
        start_unix_nano: u64,
        end_unix_nano: u64,
    ) -> (Vec<(TraceId, TraceChunks)>, Vec<CompleteBlock>) {
        let state = self.lock();
        let mut traces: Vec<(TraceId, TraceChunks)> = Vec::new();
        let mut add = |trace_id: &TraceId, data: &TraceChunks| {
            if data.overlaps(start_unix_nano, end_unix_nano) {
                traces.push((*trace_id, data.clone()));
            }
        };
        for (trace_id, live) in &state.live {
            add(trace_id, &live.data);
        }
        for (trace_id, data) in &state.head.traces {
            add(trace_id, data);
        }
        for block in &state.flushing {
            for (trace_id, data) in &block.traces {
                add(trace_id, data);
            }
        }
        traces.sort_by_key(|(_, data)| std::cmp::Reverse(data.start_unix_nano));
        let blocks = state
            .complete
            .iter()
            .filter(|block| {
                let meta = block.reader.meta();
                let block_start = meta.start_time.timestamp_nanos_opt().unwrap_or(0) as u64;
                let block_end = meta.end_time.timestamp_nanos_opt().unwrap_or(i64::MAX) as u64;
                (end_unix_nano == 0 || block_start <= end_unix_nano) && block_end >= start_unix_nano
            })
            .cloned()
            .collect();
        (traces, blocks)
    }
}
