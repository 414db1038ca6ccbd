//! One trace's spans as OTLP, the unit the block writer and reader exchange.

use contrail_proto::TraceId;
use contrail_proto::otlp::trace::v1::ResourceSpans;

/// The spans of one trace, as OTLP.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace ID shared by every span.
    pub trace_id: TraceId,
    /// The spans, grouped by resource and scope.
    pub resource_spans: Vec<ResourceSpans>,
}

impl Trace {
    /// Number of spans in the trace.
    pub fn span_count(&self) -> usize {
        span_count(&self.resource_spans)
    }
}

/// Number of spans in `resource_spans`.
pub fn span_count(resource_spans: &[ResourceSpans]) -> usize {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}
