//! One trace held in memory.

use contrail_proto::TraceId;
use contrail_proto::otlp::trace::v1::ResourceSpans;

/// One trace: its ID and its spans as OTLP.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryTrace {
    pub trace_id: TraceId,
    pub resource_spans: Vec<ResourceSpans>,
}
