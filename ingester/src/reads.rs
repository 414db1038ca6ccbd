//! Reads of recent data for the querier: trace by ID over live traces, the head block, blocks
//! being flushed and local complete blocks (each span ID once), and cheap snapshots of recent
//! traces for search (decoded on demand).

use std::sync::Arc;

use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::BlockReader;
use contrail_storage::convert::Trace;

use crate::error::Result;
use crate::packed::{ChunkBytes, Unpacker};
use crate::service::Ingester;
use crate::trace::{Dropped, TraceChunks, decode_held, merge_views};

/// One recent trace, undecoded until asked.
#[derive(Debug, Clone)]
pub struct RecentTrace {
    /// The trace's ID.
    pub trace_id: TraceId,
    /// Earliest span start held, unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end held, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Spans held (duplicates of retries included).
    pub span_count: u64,
    chunks: Vec<ChunkBytes>,
}

impl RecentTrace {
    /// The spans as OTLP, duplicates dropped (CPU work: call it off the async runtime).
    /// `None` if nothing valid is held.
    pub fn decode(&self) -> Option<Trace> {
        decode_held(
            self.trace_id,
            &self.chunks,
            &mut Unpacker::for_query(),
            &mut Dropped::default(),
        )
    }

    /// A recent trace over `chunks` (tests).
    #[cfg(test)]
    pub(crate) fn from_chunks(
        trace_id: TraceId,
        chunks: Vec<bytes::Bytes>,
        start: u64,
        end: u64,
        spans: u64,
    ) -> Self {
        RecentTrace {
            trace_id,
            start_unix_nano: start,
            end_unix_nano: end,
            span_count: spans,
            chunks: chunks.into_iter().map(ChunkBytes::from).collect(),
        }
    }

    /// The pushed `tempopb.Trace` messages, undecoded.
    pub(crate) fn chunks(&self) -> &[ChunkBytes] {
        &self.chunks
    }
}

impl RecentSnapshot {
    /// Every trace of `traces` as OTLP, the portions of one trace ID (live, head, flushing)
    /// decoded together so duplicates between them are dropped (CPU work: call it off the
    /// async runtime).
    pub fn decode_merged(&self) -> Vec<Trace> {
        let mut by_id: std::collections::HashMap<TraceId, Vec<ChunkBytes>> =
            std::collections::HashMap::with_capacity(self.traces.len());
        let mut order: Vec<TraceId> = Vec::with_capacity(self.traces.len());
        for trace in &self.traces {
            let chunks = by_id.entry(trace.trace_id).or_insert_with(|| {
                order.push(trace.trace_id);
                Vec::new()
            });
            chunks.extend(trace.chunks.iter().cloned());
        }
        let mut unpacker = Unpacker::for_query();
        order
            .into_iter()
            .filter_map(|trace_id| {
                let chunks = by_id.remove(&trace_id)?;
                decode_held(trace_id, &chunks, &mut unpacker, &mut Dropped::default())
            })
            .collect()
    }
}

/// A tenant's recent data for search: traces not yet in a complete block (newest first) and
/// the complete blocks still on local disk.
#[derive(Debug, Clone, Default)]
pub struct RecentSnapshot {
    /// Live, head and flushing traces overlapping the asked time range, newest first.
    pub traces: Vec<RecentTrace>,
    /// Local complete blocks whose time range overlaps it.
    pub blocks: Vec<Arc<BlockReader>>,
    /// The trace IDs of each of `blocks` (sorted), when known (blocks this process wrote).
    pub block_trace_ids: Vec<Option<Arc<[TraceId]>>>,
}

impl Ingester {
    /// Every span held for `trace_id` in live traces, head and flushing blocks and local
    /// complete blocks, each span ID once. `None` when nothing is held.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, trace_id = %trace_id))]
    pub async fn find_trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Result<Option<Trace>> {
        let Some(instance) = self.instance(tenant) else {
            return Ok(None);
        };
        let views = instance.trace_views(trace_id);
        let id = *trace_id;
        let chunks = views.chunks;
        let in_memory = self
            .inner
            .cpu
            .run(move || {
                let mut unpacker = Unpacker::for_query();
                decode_held(id, &chunks, &mut unpacker, &mut Dropped::default())
            })
            .await?;
        let mut parts = Vec::new();
        if let Some(trace) = in_memory {
            parts.push(trace.resource_spans);
        }
        for reader in views.blocks {
            match reader.find_trace(trace_id).await {
                Ok(Some(trace)) => parts.push(trace.resource_spans),
                Ok(None) => {}
                // An expired local block may vanish mid-read; it is in the object store.
                Err(error) => tracing::warn!(error = %error, "cannot read local block"),
            }
        }
        let merged = self.inner.cpu.run(move || merge_views(id, parts)).await?;
        Ok(merged)
    }

    /// A cheap snapshot of the tenant's recent data overlapping `[start, end]` (unix
    /// nanoseconds, 0 = open), for search: nothing is decoded here.
    pub fn recent(
        &self,
        tenant: &TenantId,
        start_unix_nano: u64,
        end_unix_nano: u64,
    ) -> RecentSnapshot {
        let Some(instance) = self.instance(tenant) else {
            return RecentSnapshot::default();
        };
        let (traces, blocks) = instance.recent(start_unix_nano, end_unix_nano);
        RecentSnapshot {
            traces: traces
                .into_iter()
                .map(|(trace_id, data): (TraceId, TraceChunks)| RecentTrace {
                    trace_id,
                    start_unix_nano: data.start_unix_nano,
                    end_unix_nano: data.end_unix_nano,
                    span_count: data.spans,
                    chunks: data.chunks,
                })
                .collect(),
            block_trace_ids: blocks.iter().map(|block| block.trace_ids.clone()).collect(),
            blocks: blocks.into_iter().map(|block| block.reader).collect(),
        }
    }
}
