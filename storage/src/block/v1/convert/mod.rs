//! OTLP ↔ block rows, lossless for everything OTLP carries.
//!
//! `to_rows` flattens the `ResourceSpans` of one trace into span rows (Arrow `RecordBatch`es of
//! the `vc1` schema), interning resources and scopes into block-wide tables (`tables`); `wire`
//! builds the same rows straight from a trace's encoded segments (the ingester's flush);
//! `from_rows` rebuilds the `ResourceSpans` from rows plus those tables. `contrail_traceql::structure`
//! orders the spans of a trace depth-first and numbers them for the structural operators.
//!
//! What is normalised: OTLP's grouping (spans of one trace come back grouped by resource and
//! scope, identical resources merged) and the order of spans and attributes; everything else,
//! including `None` versus empty messages, duplicate keys and every `AnyValue` type, is kept.

pub(crate) mod attrs;
mod builders;
mod columns;
mod error;
pub(crate) mod from_rows;
mod lists;
pub(crate) mod tables;
pub(crate) mod to_rows;
mod trace;
pub(crate) mod wire;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use contrail_proto::TraceId;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};

pub(crate) use columns::{column, downcast, struct_column};
pub use error::RowsError;
pub use from_rows::batch_to_traces;
pub use tables::RefTables;
pub use trace::{Trace, span_count};
pub use wire::{EncodedTrace, Scanned};

/// Encodes whole traces, sorted by trace ID, as one batch of the `vc1` schema, interning their
/// resources and scopes into `tables` (what the block writer does per batch).
pub fn encode_traces(traces: &[Trace], tables: &mut RefTables) -> Result<RecordBatch, RowsError> {
    let mut builder = to_rows::SpanBatchBuilder::default();
    for trace in traces {
        builder.append_trace(&trace.trace_id, &trace.resource_spans, tables)?;
    }
    builder.finish()
}

/// Builds one attribute-list column (the `attrs` type of the `vc1` schema), one row per list.
pub fn attribute_lists(
    lists: &[&[contrail_proto::otlp::common::v1::KeyValue]],
) -> Result<arrow::array::ArrayRef, RowsError> {
    let mut builder = attrs::AttrListBuilder::default();
    for list in lists {
        builder.append_list(list.iter());
    }
    builder.finish()
}

/// Splits OTLP `ResourceSpans` (spans of any traces) into one [`Trace`] per trace ID, sorted by
/// trace ID. Spans of a trace that arrive in several groups are appended in input order.
/// A trace ID that is not 16 bytes is an error.
pub fn split_by_trace(
    resource_spans: Vec<ResourceSpans>,
) -> Result<BTreeMap<TraceId, Vec<ResourceSpans>>, RowsError> {
    let mut traces: BTreeMap<TraceId, Vec<ResourceSpans>> = BTreeMap::new();
    for resource_span in resource_spans {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = resource_span;
        for scope_span in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url: scope_schema_url,
            } = scope_span;
            let mut by_trace: BTreeMap<TraceId, Vec<_>> = BTreeMap::new();
            for span in spans {
                let trace_id = TraceId::from_ingest_bytes(&span.trace_id)
                    .map_err(|error| RowsError::new(error.to_string()))?;
                by_trace.entry(trace_id).or_default().push(span);
            }
            for (trace_id, spans) in by_trace {
                traces.entry(trace_id).or_default().push(ResourceSpans {
                    resource: resource.clone(),
                    schema_url: schema_url.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: scope.clone(),
                        spans,
                        schema_url: scope_schema_url.clone(),
                    }],
                });
            }
        }
    }
    Ok(traces)
}
