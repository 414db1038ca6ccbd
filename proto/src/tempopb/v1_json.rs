//! The v1 trace-by-ID JSON shape (`GET /api/traces/{id}`, spec §4.4): the [`Trace`] message in
//! `jsonpb` form with its top-level `resourceSpans` key renamed to `batches`.

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::{Deserialize, Serialize};

use super::Trace;
use super::otlp_jsonpb::resource_spans;

#[derive(Serialize)]
struct V1TraceRef<'a> {
    #[serde(
        with = "resource_spans",
        skip_serializing_if = "<[ResourceSpans]>::is_empty"
    )]
    batches: &'a [ResourceSpans],
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct V1TraceOwned {
    #[serde(
        with = "resource_spans",
        alias = "resourceSpans",
        alias = "resource_spans"
    )]
    batches: Vec<ResourceSpans>,
}

/// Encodes a trace as the v1 endpoint's JSON: `{"batches":[...]}` (`{}` for an empty trace).
pub fn trace_to_v1_json(trace: &Trace) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&V1TraceRef {
        batches: &trace.resource_spans,
    })
}

/// Decodes the v1 endpoint's JSON; also accepts the v2 key `resourceSpans`.
pub fn trace_from_v1_json(json: &[u8]) -> Result<Trace, serde_json::Error> {
    let owned: V1TraceOwned = serde_json::from_slice(json)?;
    Ok(Trace {
        resource_spans: owned.batches,
    })
}
