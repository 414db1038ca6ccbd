//! Packing generated spans into OTLP requests: one `ResourceSpans` per service instance and one
//! `ScopeSpans` per instrumentation library, whole traces per request.

use std::collections::BTreeMap;

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::Generator;
use super::builder::GenSpan;
use super::topology::{ScopeKind, Service, Topology};

/// Groups spans the way an SDK or Collector exports them, in a deterministic order.
pub(crate) fn group(topology: &Topology, spans: Vec<GenSpan>) -> Vec<ResourceSpans> {
    let mut by_resource: BTreeMap<(Service, usize), BTreeMap<ScopeKind, Vec<Span>>> =
        BTreeMap::new();
    for GenSpan {
        service,
        instance,
        scope,
        span,
    } in spans
    {
        by_resource
            .entry((service, instance))
            .or_default()
            .entry(scope)
            .or_default()
            .push(span);
    }
    by_resource
        .into_iter()
        .map(|((service, instance), scopes)| ResourceSpans {
            resource: Some(topology.resource(service, instance).clone()),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: Some(topology.scope(service, scope).clone()),
                    spans,
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
                })
                .collect(),
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
        })
        .collect()
}

/// Iterator over requests of whole traces; see [`Generator::batches`].
pub struct Batches<'g> {
    generator: &'g mut Generator,
    traces_left: usize,
    spans_per_batch: usize,
    pending_opt: Option<Vec<GenSpan>>,
}

impl std::fmt::Debug for Batches<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Batches")
            .field("traces_left", &self.traces_left)
            .field("spans_per_batch", &self.spans_per_batch)
            .finish()
    }
}

impl<'g> Batches<'g> {
    pub(crate) fn new(generator: &'g mut Generator, traces: usize, spans_per_batch: usize) -> Self {
        Self {
            generator,
            traces_left: traces,
            spans_per_batch: spans_per_batch.max(1),
            pending_opt: None,
        }
    }

    fn take_trace(&mut self) -> Option<Vec<GenSpan>> {
        if let Some(pending) = self.pending_opt.take() {
            return Some(pending);
        }
        if self.traces_left == 0 {
            return None;
        }
        self.traces_left -= 1;
        Some(self.generator.next_trace_spans())
    }
}

impl Iterator for Batches<'_> {
    type Item = ExportTraceServiceRequest;

    fn next(&mut self) -> Option<Self::Item> {
        let mut batch: Vec<GenSpan> = Vec::new();
        while batch.len() < self.spans_per_batch {
            let Some(trace) = self.take_trace() else {
                break;
            };
            if !batch.is_empty() && batch.len() + trace.len() > self.spans_per_batch {
                self.pending_opt = Some(trace);
                break;
            }
            batch.extend(trace);
        }
        if batch.is_empty() {
            return None;
        }
        Some(ExportTraceServiceRequest {
            resource_spans: group(&self.generator.topology, batch),
        })
    }
}
