//! `retain_traces` keeps exactly the chosen traces with every row-aligned column; the filter
//! source answers like its inner source without the rejected traces.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::{SpanId, TraceId};

use super::*;
use crate::ast::{Attribute, AttributeScope};
use crate::cpu::InlineRunner;
use crate::fetch::TraceInfo;
use crate::value::Value;

fn trace_id(index: u8) -> TraceId {
    let mut id = [0u8; 16];
    id[15] = index;
    TraceId::from_array(id)
}

fn attribute(name: &str) -> Attribute {
    Attribute::Custom {
        scope: AttributeScope::Span,
        name: name.into(),
    }
}

/// Traces 0..`traces`, trace `t` with `t + 1` spans; span `r` (batch row) has start `r`, a
/// plain value `r`, a dictionary key `r % 2`, and `r % 3` events whose value is `r * 10 + e`.
fn batch(traces: u8) -> SpanBatch {
    let mut batch = SpanBatch::default();
    let mut row = 0usize;
    let mut event_offsets = vec![0u32];
    let mut event_values = Vec::new();
    let mut plain = Vec::new();
    let mut keys = Vec::new();
    for trace in 0..traces {
        let first = row;
        for _ in 0..=trace {
            batch.spans.span_id.push(SpanId::from_array([row as u8; 8]));
            batch.spans.start_unix_nano.push(row as u64);
            batch.spans.duration_nano.push(row as u64 * 2);
            batch.spans.row_ref.push(row as u64 + 100);
            plain.push(Value::Int(row as i64));
            keys.push((row % 2) as u32);
            for event in 0..row % 3 {
                event_values.push(Value::Int((row * 10 + event) as i64));
            }
            event_offsets.push(event_values.len() as u32);
            row += 1;
        }
        batch.traces.push(TraceInfo {
            trace_id: trace_id(trace),
            start_unix_nano: first as u64,
            end_unix_nano: row as u64,
            root_service_name: None,
            root_span_name: None,
            rows: first..row,
            has_orphans: false,
            span_count: u32::from(trace) + 1,
        });
    }
    batch.span_values = vec![
        (attribute("plain"), ValueColumn::Plain(plain)),
        (
            attribute("dict"),
            ValueColumn::Dict {
                keys,
                values: vec![Value::Bool(false), Value::Bool(true)],
            },
        ),
    ];
    batch.events = NestedValues {
        offsets: event_offsets,
        columns: vec![(attribute("e"), ValueColumn::Plain(event_values))],
    };
    batch
}

/// Every row of `batch` as (trace, start, duration, span ID, row ref, plain, dict, events).
type Row = (TraceId, u64, u64, SpanId, u64, Value, Value, Vec<Value>);

fn rows(batch: &SpanBatch) -> Vec<Row> {
    let mut out = Vec::new();
    for trace in &batch.traces {
        for row in trace.rows.clone() {
            let events = batch
                .events
                .items_of(row)
                .map(|item| batch.events.columns[0].1.get(item).clone())
                .collect();
            out.push((
                trace.trace_id,
                batch.spans.start_unix_nano[row],
                batch.spans.duration_nano[row],
                batch.spans.span_id[row],
                batch.spans.row_ref[row],
                batch.span_values[0].1.get(row).clone(),
                batch.span_values[1].1.get(row).clone(),
                events,
            ));
        }
    }
    out
}

#[test]
fn retained_traces_keep_all_their_rows_and_nothing_else() {
    let original = batch(6);
    let expected: Vec<Row> = rows(&original)
        .into_iter()
        .filter(|row| row.0.as_bytes()[15] % 2 == 1)
        .collect();
    let mut kept = original.clone();
    kept.retain_traces(|trace| trace.trace_id.as_bytes()[15] % 2 == 1);
    assert_eq!(kept.traces.len(), 3);
    assert_eq!(rows(&kept), expected);
    assert_eq!(kept.span_rows(), expected.len());
    assert_eq!(kept.events.offsets.len(), expected.len() + 1);
    // Row ranges are contiguous and renumbered from 0.
    let mut next = 0;
    for trace in &kept.traces {
        assert_eq!(trace.rows.start, next);
        next = trace.rows.end;
    }
    assert_eq!(next, kept.span_rows());

    let mut all = original.clone();
    all.retain_traces(|_| true);
    assert_eq!(all, original);
    let mut none = original;
    none.retain_traces(|_| false);
    assert!(none.traces.is_empty());
    assert_eq!(none.span_rows(), 0);
    assert_eq!(none.events.offsets, [0]);
}

#[test]
fn columns_that_were_not_requested_stay_empty() {
    let mut batch = batch(3);
    batch.spans.span_id.clear();
    batch.events = NestedValues::default();
    batch.retain_traces(|trace| trace.trace_id != trace_id(1));
    assert!(batch.spans.span_id.is_empty());
    assert!(batch.events.offsets.is_empty());
    assert_eq!(batch.spans.start_unix_nano, [0, 3, 4, 5]);
}

struct Fixed(Vec<SpanBatch>);

#[async_trait]
impl SpanSource for Fixed {
    async fn fetch(&self, _: &FetchRequest, _: &MemoryBudget) -> Result<FetchOutput, FetchError> {
        Ok(FetchOutput {
            batches: self.0.clone(),
            stats: Default::default(),
        })
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        _: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        Ok(SecondPassBatch {
            rows: request.rows.clone(),
            ..SecondPassBatch::default()
        })
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        Some(42)
    }
}

#[tokio::test]
async fn the_filter_source_drops_rejected_traces_and_empty_batches() {
    let inner = Arc::new(Fixed(vec![batch(2), batch(1)]));
    let keep: KeepTrace = Arc::new(|trace: &TraceId| *trace == trace_id(1));
    let source = TraceFilter::new(inner, keep, Arc::new(InlineRunner));
    let output = source
        .fetch(
            &FetchRequest::all_spans(0, u64::MAX),
            &MemoryBudget::unlimited(),
        )
        .await
        .expect("fetch");
    // The second batch held trace 0 only: gone.
    assert_eq!(output.batches.len(), 1);
    assert_eq!(output.batches[0].traces.len(), 1);
    assert_eq!(output.batches[0].traces[0].trace_id, trace_id(1));
    assert_eq!(output.batches[0].spans.row_ref, [101, 102]);
    assert_eq!(source.latest_start_unix_nano(), Some(42));
    let second = source
        .fetch_second_pass(
            &SecondPassRequest {
                rows: vec![101],
                attributes: Vec::new(),
                service_stats_for: Vec::new(),
            },
            &MemoryBudget::unlimited(),
        )
        .await
        .expect("second pass");
    assert_eq!(second.rows, [101]);
}

/// Records the `keep_most_recent` of each request it gets.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<Option<usize>>>);

#[async_trait]
impl SpanSource for Recording {
    async fn fetch(
        &self,
        request: &FetchRequest,
        _: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(request.keep_most_recent);
        }
        Ok(FetchOutput::default())
    }

    async fn fetch_second_pass(
        &self,
        _: &SecondPassRequest,
        _: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        Ok(SecondPassBatch::default())
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        None
    }
}

#[tokio::test]
async fn the_filter_source_asks_its_inner_source_for_every_selected_trace() {
    // a source may leave traces out under keep_most_recent only if every selected trace is in
    // the result; the filter drops some, so it asks for all of them
    let inner = Arc::new(Recording::default());
    let keep: KeepTrace = Arc::new(|_: &TraceId| true);
    let source = TraceFilter::new(inner.clone(), keep, Arc::new(InlineRunner));
    let request = FetchRequest {
        keep_most_recent: Some(20),
        ..FetchRequest::all_spans(0, u64::MAX)
    };
    source
        .fetch(&request, &MemoryBudget::unlimited())
        .await
        .expect("fetch");
    assert_eq!(*inner.0.lock().expect("lock"), vec![None]);
}
