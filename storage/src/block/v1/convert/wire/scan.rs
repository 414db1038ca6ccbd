//! [`EncodedTrace::scan`]: one walk of a trace's segments that checks, filters and indexes the
//! spans (see the module docs of `wire`).

use std::collections::HashSet;
use std::ops::Range;

use bytes::Bytes;
use contrail_proto::TraceId;

use super::fields::Malformed;
use super::validate::{self, each_field};

/// One kept (resource, scope) pair of a segment.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) chunk: usize,
    /// The encoded `Resource`, if the field was present.
    pub(crate) resource: Option<Range<usize>>,
    pub(crate) resource_schema_url: Range<usize>,
    /// The encoded `InstrumentationScope`, if the field was present.
    pub(crate) scope: Option<Range<usize>>,
    pub(crate) scope_schema_url: Range<usize>,
}

/// One kept span: where its encoding is and what the numbering needs.
#[derive(Debug, Clone)]
pub(crate) struct SpanAt {
    pub(crate) group: usize,
    pub(crate) bytes: Range<usize>,
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Range<usize>,
    pub(crate) name: Range<usize>,
    pub(crate) start_time_unix_nano: u64,
    pub(crate) end_time_unix_nano: u64,
}

/// The spans of one trace as encoded segments, checked and indexed (see the module docs).
#[derive(Debug, Clone)]
pub struct EncodedTrace {
    pub(crate) trace_id: TraceId,
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) groups: Vec<Group>,
    pub(crate) spans: Vec<SpanAt>,
}

/// What [`EncodedTrace::scan`] made of a trace's segments.
#[derive(Debug, Clone)]
pub enum Scanned {
    /// Read by the wire path: the kept spans (`None` when none was valid) and how many spans
    /// were dropped as invalid (another trace's ID, a span ID that is not 8 bytes).
    Ready {
        /// The indexed trace.
        trace: Option<EncodedTrace>,
        /// Spans dropped as invalid.
        invalid_spans: u64,
    },
    /// A segment the wire path does not read: decode the segments with `prost`.
    Decode,
}

/// Offsets of `part` (a sub-slice of `whole`) in `whole`.
fn range_in(whole: &[u8], part: &[u8]) -> Range<usize> {
    if part.is_empty() {
        // An empty value may not point into `whole` (a default).
        return 0..0;
    }
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

struct ScanState<'t> {
    trace_id: &'t TraceId,
    /// The segments were checked before (see [`EncodedTrace::scan_checked`]).
    checked: bool,
    seen: HashSet<[u8; 8]>,
    invalid_spans: u64,
    groups: Vec<Group>,
    spans: Vec<SpanAt>,
}

impl EncodedTrace {
    /// Checks and indexes the segments (encoded `tempopb.Trace` messages) of `trace_id`.
    pub fn scan(trace_id: TraceId, chunks: Vec<Bytes>) -> Scanned {
        Self::scan_with(trace_id, chunks, false)
    }

    /// Indexes segments that were checked before they reached the caller: every field as
    /// [`EncodedTrace::scan`] checks it, and none of the encodings it leaves to `prost` (see
    /// docs/adr/007-block-writer-speed.md). Only span-level fields are read. Attributes, events,
    /// links, resources and scopes are not walked. On such segments the result equals
    /// `scan`'s. On others, the rows built from it may fail.
    pub fn scan_checked(trace_id: TraceId, chunks: Vec<Bytes>) -> Scanned {
        Self::scan_with(trace_id, chunks, true)
    }

    /// [`EncodedTrace::scan_checked`] when `checked`, otherwise [`EncodedTrace::scan`].
    pub fn scan_with(trace_id: TraceId, chunks: Vec<Bytes>, checked: bool) -> Scanned {
        let mut state = ScanState {
            trace_id: &trace_id,
            checked,
            seen: HashSet::new(),
            invalid_spans: 0,
            groups: Vec::new(),
            spans: Vec::new(),
        };
        for (index, chunk) in chunks.iter().enumerate() {
            if state.scan_chunk(index, chunk).is_err() {
                return Scanned::Decode;
            }
        }
        let ScanState {
            invalid_spans,
            groups,
            spans,
            ..
        } = state;
        let trace = (!spans.is_empty()).then(|| EncodedTrace {
            trace_id,
            chunks,
            groups,
            spans,
        });
        Scanned::Ready {
            trace,
            invalid_spans,
        }
    }

    /// The trace ID.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// Number of kept spans.
    pub fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// Earliest span start and latest span end, unix nanoseconds.
    pub fn time_range(&self) -> (u64, u64) {
        let start = self.spans.iter().map(|s| s.start_time_unix_nano).min();
        let end = self.spans.iter().map(|s| s.end_time_unix_nano).max();
        (start.unwrap_or(0), end.unwrap_or(0))
    }
}

impl ScanState<'_> {
    fn scan_chunk(&mut self, index: usize, chunk: &[u8]) -> Result<(), Malformed> {
        // A segment that fails sends the whole trace to `prost`: nothing kept so far is used.
        each_field(chunk, |number, value| match number {
            1 => self.scan_resource_spans(index, chunk, value.bytes()?),
            _ => Ok(()),
        })
    }

    fn scan_resource_spans(
        &mut self,
        index: usize,
        chunk: &[u8],
        message: &[u8],
    ) -> Result<(), Malformed> {
        let mut resource = None;
        let mut schema_url: &[u8] = &[];
        let mut scope_spans = Vec::new();
        each_field(message, |number, value| {
            match number {
                1 if resource.is_some() => return Err(Malformed),
                1 => {
                    let bytes = value.bytes()?;
                    if !self.checked {
                        validate::resource(bytes)?;
                    }
                    resource = Some(bytes);
                }
                2 => scope_spans.push(value.bytes()?),
                3 => schema_url = value.string()?.as_bytes(),
                _ => {}
            }
            Ok(())
        })?;
        for message in scope_spans {
            let group = Group {
                chunk: index,
                resource: resource.map(|bytes| range_in(chunk, bytes)),
                resource_schema_url: range_in(chunk, schema_url),
                scope: None,
                scope_schema_url: 0..0,
            };
            self.scan_scope_spans(chunk, message, group)?;
        }
        Ok(())
    }

    fn scan_scope_spans(
        &mut self,
        chunk: &[u8],
        message: &[u8],
        mut group: Group,
    ) -> Result<(), Malformed> {
        let mut spans = Vec::new();
        let mut scope = None;
        let mut schema_url: &[u8] = &[];
        each_field(message, |number, value| {
            match number {
                1 if scope.is_some() => return Err(Malformed),
                1 => {
                    let bytes = value.bytes()?;
                    if !self.checked {
                        validate::scope(bytes)?;
                    }
                    scope = Some(bytes);
                }
                2 => spans.push(value.bytes()?),
                3 => schema_url = value.string()?.as_bytes(),
                _ => {}
            }
            Ok(())
        })?;
        group.scope = scope.map(|bytes| range_in(chunk, bytes));
        group.scope_schema_url = range_in(chunk, schema_url);
        let group_index = self.groups.len();
        let mut kept = false;
        for message in spans {
            let facts = if self.checked {
                validate::span_facts(message)?
            } else {
                validate::span(message)?
            };
            let span_id = match <[u8; 8]>::try_from(facts.span_id) {
                Ok(span_id) if facts.trace_id == self.trace_id.as_bytes() => span_id,
                _ => {
                    self.invalid_spans += 1;
                    continue;
                }
            };
            // A span ID seen before is a duplicate (client retry): dropped.
            if !self.seen.insert(span_id) {
                continue;
            }
            kept = true;
            self.spans.push(SpanAt {
                group: group_index,
                bytes: range_in(chunk, message),
                span_id,
                parent_span_id: range_in(chunk, facts.parent_span_id),
                name: range_in(chunk, facts.name.as_bytes()),
                start_time_unix_nano: facts.start_time_unix_nano,
                end_time_unix_nano: facts.end_time_unix_nano,
            });
        }
        if kept {
            self.groups.push(group);
        }
        Ok(())
    }
}
