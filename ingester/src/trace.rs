//! One trace as the ingester holds it: the segment bytes exactly as pushed ([`TraceChunks`],
//! ranges of held WAL records: see `packed`), decoded only when a block is written or a query
//! needs it. Decoding merges the chunks and
//! drops duplicate spans (same span ID, e.g. a client retry), keeping the first.

use std::collections::HashSet;

use bytes::Bytes;
use contrail_proto::TraceId;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};
use contrail_proto::tempopb;
use contrail_storage::convert::Trace;
use prost::Message;

use crate::packed::{ChunkBytes, Unpacker};
use crate::wal::segment::{SegmentRefs, push_ref};

/// The segments received for one trace, undecoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceChunks {
    /// Encoded `tempopb.Trace` messages, in arrival order.
    pub(crate) chunks: Vec<ChunkBytes>,
    /// Sum of the chunks' lengths.
    pub(crate) bytes: usize,
    /// Spans in the chunks (duplicates included).
    pub(crate) spans: u64,
    /// Earliest span start, unix nanoseconds.
    pub(crate) start_unix_nano: u64,
    /// Latest span end, unix nanoseconds.
    pub(crate) end_unix_nano: u64,
    /// WAL segments holding the chunks.
    pub(crate) refs: SegmentRefs,
    /// Every chunk came checked from this process's distributor ([`Chunk::checked`]).
    pub(crate) checked: bool,
}

/// What the ingester needs of one pushed segment.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) bytes: ChunkBytes,
    pub(crate) spans: u32,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    /// Pushed in-process by a distributor that checked it (`PushBatch::checked`); false for
    /// remote pushes and WAL replay.
    pub(crate) checked: bool,
}

impl TraceChunks {
    /// Adds a segment appended to WAL segment `seq`.
    pub(crate) fn push(&mut self, chunk: Chunk, seq: u64) {
        if self.chunks.is_empty() {
            self.start_unix_nano = chunk.start_unix_nano;
            self.end_unix_nano = chunk.end_unix_nano;
            self.checked = chunk.checked;
        } else {
            self.start_unix_nano = self.start_unix_nano.min(chunk.start_unix_nano);
            self.end_unix_nano = self.end_unix_nano.max(chunk.end_unix_nano);
            self.checked &= chunk.checked;
        }
        self.bytes += chunk.bytes.len();
        self.spans += u64::from(chunk.spans);
        self.chunks.push(chunk.bytes);
        push_ref(&mut self.refs, seq);
    }

    /// Moves every chunk of `other` into `self`.
    pub(crate) fn absorb(&mut self, other: TraceChunks) {
        if self.chunks.is_empty() {
            *self = other;
            return;
        }
        self.start_unix_nano = self.start_unix_nano.min(other.start_unix_nano);
        self.end_unix_nano = self.end_unix_nano.max(other.end_unix_nano);
        self.bytes += other.bytes;
        self.spans += other.spans;
        self.checked &= other.checked;
        self.chunks.extend(other.chunks);
        for (seq, count) in other.refs {
            match self.refs.iter_mut().find(|(existing, _)| *existing == seq) {
                Some((_, existing)) => *existing += count,
                None => self.refs.push((seq, count)),
            }
        }
    }

    /// Whether the trace overlaps `[start, end]` (unix nanoseconds; 0 = open).
    pub(crate) fn overlaps(&self, start_unix_nano: u64, end_unix_nano: u64) -> bool {
        (end_unix_nano == 0 || self.start_unix_nano <= end_unix_nano)
            && self.end_unix_nano >= start_unix_nano
    }
}

/// Spans dropped while decoding (undecodable chunk, wrong trace ID, span ID not 8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) invalid_spans: u64,
    pub(crate) undecodable_chunks: u64,
}

/// Span IDs already kept while merging one trace.
#[derive(Default)]
pub(crate) struct SpanDedupe {
    seen: HashSet<[u8; 8]>,
}

impl SpanDedupe {
    /// Appends the spans of `parts` to `out`, keeping each span ID once and only spans that
    /// belong to `trace_id` with an 8-byte span ID.
    pub(crate) fn extend(
        &mut self,
        trace_id: &TraceId,
        parts: Vec<ResourceSpans>,
        out: &mut Vec<ResourceSpans>,
        dropped: &mut Dropped,
    ) {
        for mut resource_spans in parts {
            let scope_spans = std::mem::take(&mut resource_spans.scope_spans);
            let mut kept_scopes: Vec<ScopeSpans> = Vec::with_capacity(scope_spans.len());
            for mut scope in scope_spans {
                let mut invalid = 0u64;
                scope.spans.retain(|span| {
                    let span_id = <[u8; 8]>::try_from(span.span_id.as_slice());
                    match span_id {
                        Ok(span_id) if span.trace_id.as_slice() == trace_id.as_bytes() => {
                            // A span ID seen before is a duplicate (client retry): dropped.
                            self.seen.insert(span_id)
                        }
                        _ => {
                            invalid += 1;
                            false
                        }
                    }
                });
                dropped.invalid_spans += invalid;
                if !scope.spans.is_empty() {
                    kept_scopes.push(scope);
                }
            }
            if !kept_scopes.is_empty() {
                resource_spans.scope_spans = kept_scopes;
                out.push(resource_spans);
            }
        }
    }
}

/// Decodes the chunks of one trace into one [`Trace`] without duplicate spans. Returns `None`
/// when no valid span is left.
pub(crate) fn decode_chunks(
    trace_id: TraceId,
    chunks: &[Bytes],
    dropped: &mut Dropped,
) -> Option<Trace> {
    let mut dedupe = SpanDedupe::default();
    let mut resource_spans = Vec::new();
    for chunk in chunks {
        match tempopb::Trace::decode(chunk.clone()) {
            Ok(decoded) => dedupe.extend(
                &trace_id,
                decoded.resource_spans,
                &mut resource_spans,
                dropped,
            ),
            Err(error) => {
                tracing::warn!(trace_id = %trace_id, error = %error, "dropping undecodable trace segment");
                dropped.undecodable_chunks += 1;
            }
        }
    }
    (!resource_spans.is_empty()).then_some(Trace {
        trace_id,
        resource_spans,
    })
}

/// [`decode_chunks`] of held chunks, unpacked with `unpacker` (a chunk that cannot be
/// unpacked counts as undecodable).
pub(crate) fn decode_held(
    trace_id: TraceId,
    chunks: &[ChunkBytes],
    unpacker: &mut Unpacker,
    dropped: &mut Dropped,
) -> Option<Trace> {
    let bytes = unpacker.all(chunks, &mut dropped.undecodable_chunks);
    decode_chunks(trace_id, &bytes, dropped)
}

/// Merges several views of one trace (live, head, local blocks), keeping each span ID once.
pub(crate) fn merge_views(trace_id: TraceId, views: Vec<Vec<ResourceSpans>>) -> Option<Trace> {
    let mut dedupe = SpanDedupe::default();
    let mut dropped = Dropped::default();
    let mut resource_spans = Vec::new();
    for view in views {
        dedupe.extend(&trace_id, view, &mut resource_spans, &mut dropped);
    }
    (!resource_spans.is_empty()).then_some(Trace {
        trace_id,
        resource_spans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(checked: bool) -> Chunk {
        Chunk {
            bytes: Bytes::from_static(b"x").into(),
            spans: 1,
            start_unix_nano: 1,
            end_unix_nano: 2,
            checked,
        }
    }

    /// A trace is indexed without the flush's full check only if every chunk came checked.
    #[test]
    fn one_unchecked_chunk_makes_the_trace_unchecked() {
        let mut trace = TraceChunks::default();
        trace.push(chunk(true), 1);
        assert!(trace.checked);
        trace.push(chunk(false), 1);
        assert!(!trace.checked);
        trace.push(chunk(true), 2);
        assert!(!trace.checked, "a later checked chunk does not restore it");

        let mut checked = TraceChunks::default();
        checked.push(chunk(true), 3);
        let mut replayed = TraceChunks::default();
        replayed.push(chunk(false), 4);
        checked.absorb(replayed);
        assert!(!checked.checked);

        let mut empty = TraceChunks::default();
        let mut other = TraceChunks::default();
        other.push(chunk(true), 5);
        empty.absorb(other);
        assert!(empty.checked);
    }
}
