//! Tests of TraceQL metrics on hand-built span batches. Expected series are written from the
//! spec (../shared/spec/traceql.md §10), not from the implementation's output.

use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};

use crate::ast::{Attribute, AttributeScope, Intrinsic};
use crate::fetch::{SpanBatch, SpanColumns, TraceInfo, ValueColumn};
use crate::metrics::{
    MetricsPlan, MetricsRequest, MetricsResult, QueryPartial, SpanRows, SpanStarts, TimeWindow,
};
use crate::value::Value;

mod arithmetic;
mod compare;
mod fast_path;
mod functions;
mod job;
mod merge;
mod output;
mod second_stage;
mod window;
mod wire;

/// One second in nanoseconds.
pub(super) const SECOND: u64 = 1_000_000_000;
/// A round time to start windows at (a multiple of every step used).
pub(super) const T0: u64 = 1_700_000_000 * SECOND - (1_700_000_000 % 3600) * SECOND;

/// A span for a hand-built batch.
#[derive(Debug, Clone)]
pub(super) struct TestSpan {
    pub trace: u8,
    pub span: u8,
    pub start: u64,
    pub duration: u64,
    pub service: &'static str,
    pub attributes: Vec<(Attribute, Value)>,
    pub root: bool,
}

/// A span of `trace` starting at `start` with `duration`, service `service`.
pub(super) fn span(trace: u8, start: u64, duration: u64, service: &'static str) -> TestSpan {
    TestSpan {
        trace,
        span: 0,
        start,
        duration,
        service,
        attributes: Vec::new(),
        root: false,
    }
}

impl TestSpan {
    /// Adds a span-scoped attribute.
    pub(super) fn with(mut self, name: &str, value: Value) -> Self {
        self.attributes.push((
            Attribute::Custom {
                scope: AttributeScope::Span,
                name: name.to_owned(),
            },
            value,
        ));
        self
    }

    /// Adds an attribute.
    pub(super) fn with_attribute(mut self, attribute: Attribute, value: Value) -> Self {
        self.attributes.push((attribute, value));
        self
    }

    /// Marks the span as its trace's root.
    pub(super) fn root(mut self) -> Self {
        self.root = true;
        self
    }
}

pub(super) fn service_attribute() -> Attribute {
    Attribute::Custom {
        scope: AttributeScope::Resource,
        name: "service.name".to_owned(),
    }
}

pub(super) fn trace_id(trace: u8) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[0] = 0x5b;
    bytes[15] = trace;
    bytes[7] = trace.wrapping_mul(37);
    TraceId::from_array(bytes)
}

pub(super) fn span_id(trace: u8, span: u8) -> SpanId {
    SpanId::from_array([0xee, 0xe1, 0, 0, 0, 0, trace, span])
}

/// A batch of `spans` as a source returns it: grouped by trace (in the given trace order),
/// `resource.service.name` dictionary-encoded, other attributes plain.
pub(super) fn batch(spans: &[TestSpan]) -> SpanBatch {
    let mut order: Vec<u8> = Vec::new();
    for span in spans {
        if !order.contains(&span.trace) {
            order.push(span.trace);
        }
    }
    let mut rows: Vec<&TestSpan> = Vec::new();
    let mut traces = Vec::new();
    for trace in &order {
        let first = rows.len();
        let members: Vec<&TestSpan> = spans.iter().filter(|span| span.trace == *trace).collect();
        let root = members.iter().find(|span| span.root);
        traces.push(TraceInfo {
            trace_id: trace_id(*trace),
            start_unix_nano: members.iter().map(|span| span.start).min().unwrap_or(0),
            end_unix_nano: members
                .iter()
                .map(|span| span.start + span.duration)
                .max()
                .unwrap_or(0),
            root_service_name: root.map(|span| Arc::from(span.service)),
            root_span_name: root.map(|_| Arc::from("root")),
            rows: first..first + members.len(),
            has_orphans: false,
            span_count: members.len() as u32,
        });
        rows.extend(members);
    }
    let mut services: Vec<Value> = Vec::new();
    let keys: Vec<u32> = rows
        .iter()
        .map(|span| {
            let value = Value::string(span.service);
            let position = services.iter().position(|seen| *seen == value);
            position.unwrap_or_else(|| {
                services.push(value);
                services.len() - 1
            }) as u32
        })
        .collect();
    let mut span_values = vec![(
        service_attribute(),
        ValueColumn::Dict {
            keys,
            values: services,
        },
    )];
    let mut names: Vec<Attribute> = Vec::new();
    for span in &rows {
        for (attribute, _) in &span.attributes {
            if !names.contains(attribute) {
                names.push(attribute.clone());
            }
        }
    }
    for attribute in names {
        let values = rows
            .iter()
            .map(|span| {
                span.attributes
                    .iter()
                    .find(|(name, _)| *name == attribute)
                    .map_or(Value::Nil, |(_, value)| value.clone())
            })
            .collect();
        span_values.push((attribute, ValueColumn::Plain(values)));
    }
    SpanBatch {
        traces,
        spans: SpanColumns {
            span_id: rows
                .iter()
                .map(|span| span_id(span.trace, span.span))
                .collect(),
            start_unix_nano: rows.iter().map(|span| span.start).collect(),
            duration_nano: rows.iter().map(|span| span.duration).collect(),
            row_ref: (0..rows.len() as u64).collect(),
            ..Default::default()
        },
        span_values,
        ..Default::default()
    }
}

/// A request over `window` with default limits and no exemplars.
pub(super) fn request(window: TimeWindow) -> MetricsRequest {
    MetricsRequest {
        window,
        max_series: 1000,
        max_exemplars: 0,
        span_starts: SpanStarts::ALL,
    }
}

/// `status = error` per row: the comparison filter of the tests' `compare()` leaves.
pub(super) fn errors(batch: &SpanBatch) -> Vec<bool> {
    let status = batch.span_column(&Attribute::Intrinsic(Intrinsic::Status));
    (0..batch.span_rows())
        .map(|row| {
            status
                .is_some_and(|column| *column.get(row) == Value::Status(crate::ast::Status::Error))
        })
        .collect()
}

/// The partial of one job: every row of every batch survives every leaf (a `compare()` leaf
/// selects the spans with `status = error`).
pub(super) fn job(
    plan: &MetricsPlan,
    request: &MetricsRequest,
    batches: &[SpanBatch],
) -> QueryPartial {
    let mut accumulator = plan.accumulator(request);
    for batch in batches {
        for (leaf, stage) in plan.leaves.iter().enumerate() {
            let rows = SpanRows::all(batch);
            let observed = if stage.needs_all_attributes() {
                accumulator.observe_compare(leaf, &rows, &errors(batch))
            } else {
                accumulator.observe(leaf, &rows)
            };
            observed.expect("observe");
        }
    }
    accumulator.finish()
}

/// Runs `query` over `spans` (all surviving) in one job.
pub(super) fn run(query: &str, window: TimeWindow, spans: &[TestSpan]) -> MetricsResult {
    let plan = MetricsPlan::parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
    let request = request(window);
    let partial = job(&plan, &request, &[batch(spans)]);
    plan.evaluate(&request, &partial).expect("evaluate")
}

/// The values of the series with label text `key` (NaN as `None`).
pub(super) fn values(result: &MetricsResult, key: &str) -> Vec<Option<f64>> {
    let series = result.series.get(key).unwrap_or_else(|| {
        let keys: Vec<String> = result
            .series
            .series
            .iter()
            .map(|series| series.key())
            .collect();
        panic!("no series {key}; have {keys:?}")
    });
    series
        .values
        .iter()
        .map(|value| (!value.is_nan()).then_some(*value))
        .collect()
}

/// The label texts of every series, sorted.
pub(super) fn keys(result: &MetricsResult) -> Vec<String> {
    result
        .series
        .series
        .iter()
        .map(|series| series.key())
        .collect()
}

/// A window of `intervals` steps of `step` seconds from `T0`.
pub(super) fn range(intervals: u64, step_seconds: u64) -> TimeWindow {
    TimeWindow::range(
        T0,
        T0 + intervals * step_seconds * SECOND,
        step_seconds * SECOND,
    )
    .unwrap()
}

pub(super) fn intrinsic(intrinsic: Intrinsic) -> Attribute {
    Attribute::Intrinsic(intrinsic)
}
