//! The metrics accumulators over columnar batches, the shapes of W3 M1 and M2
//! (../shared/BENCHMARKS.md): `{ } | rate() by (resource.service.name)` and
//! `{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)` over
//! 1 h at step 1 m, on 1M spans in batches of 64Ki rows (10 services, dictionary-encoded as a
//! source returns resource attributes; 20 spans per trace; a quarter of the rows survive the
//! `kind = server` filter, given as surviving rows). Only the accumulation is measured: fetch
//! and the span pipeline are the engine's and storage's.
//! `cargo bench -p contrail-traceql --bench metrics`. Criterion's throughput is spans per
//! wall-clock second; on a machine shared with other work the bench first prints spans per
//! CPU-second of this (single-threaded) process, from /proc/self/stat, which is the per-core
//! figure.

use std::hint::black_box;

use contrail_proto::{SpanId, TraceId};
use contrail_traceql::ast::{Attribute, AttributeScope};
use contrail_traceql::fetch::{SpanBatch, SpanColumns, TraceInfo, ValueColumn};
use contrail_traceql::metrics::{MetricsPlan, MetricsRequest, SpanRows, SpanStarts, TimeWindow};
use contrail_traceql::value::Value;
use criterion::{Criterion, Throughput, criterion_group};

const SECOND: u64 = 1_000_000_000;
const START: u64 = 1_700_000_000 * SECOND;
const SPANS: usize = 1 << 20;
const BATCH: usize = 1 << 16;
const SPANS_PER_TRACE: usize = 20;

fn batches() -> Vec<SpanBatch> {
    let services: Vec<Value> = (0..10)
        .map(|index| Value::string(&format!("service-{index}")))
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..SPANS / BATCH)
        .map(|batch_index| {
            let mut starts = Vec::with_capacity(BATCH);
            let mut durations = Vec::with_capacity(BATCH);
            let mut keys = Vec::with_capacity(BATCH);
            let mut span_ids = Vec::with_capacity(BATCH);
            let mut traces = Vec::new();
            for row in 0..BATCH {
                if row % SPANS_PER_TRACE == 0 {
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&next().to_be_bytes());
                    id[8..].copy_from_slice(&((batch_index * BATCH + row) as u64).to_be_bytes());
                    traces.push(TraceInfo {
                        trace_id: TraceId::from_array(id),
                        start_unix_nano: 0,
                        end_unix_nano: 0,
                        root_service_name: None,
                        root_span_name: None,
                        rows: row..(row + SPANS_PER_TRACE).min(BATCH),
                        has_orphans: false,
                        span_count: SPANS_PER_TRACE as u32,
                    });
                }
                starts.push(START + next() % (3600 * SECOND));
                durations.push(1_000 + next() % (2 * SECOND));
                keys.push((next() % 10) as u32);
                span_ids.push(SpanId::from_array(next().to_be_bytes()));
            }
            SpanBatch {
                traces,
                spans: SpanColumns {
                    span_id: span_ids,
                    start_unix_nano: starts,
                    duration_nano: durations,
                    ..Default::default()
                },
                span_values: vec![(
                    Attribute::Custom {
                        scope: AttributeScope::Resource,
                        name: "service.name".to_owned(),
                    },
                    ValueColumn::Dict {
                        keys,
                        values: services.clone(),
                    },
                )],
                ..Default::default()
            }
        })
        .collect()
}

fn run(
    plan: &MetricsPlan,
    request: &MetricsRequest,
    batches: &[SpanBatch],
    rows: Option<&[u32]>,
) -> usize {
    let mut accumulator = plan.accumulator(request);
    for batch in batches {
        let input = match rows {
            Some(rows) => SpanRows::selected(batch, rows),
            None => SpanRows::all(batch),
        };
        accumulator.observe(0, &input).expect("observe");
    }
    let partial = accumulator.finish();
    plan.evaluate(request, &partial)
        .expect("evaluate")
        .series
        .series
        .len()
}

fn bench_metrics(c: &mut Criterion) {
    let batches = batches();
    let window = TimeWindow::for_range_request(START, START + 3600 * SECOND, 60 * SECOND).unwrap();
    let server_rows: Vec<u32> = (0..BATCH as u32).filter(|row| row % 4 == 1).collect();
    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.sample_size(20);
    for (name, query, rows, exemplars) in [
        (
            "m1_rate_by_service",
            "{ } | rate() by (resource.service.name)",
            None,
            0,
        ),
        (
            "m1_rate_by_service_exemplars",
            "{ } | rate() by (resource.service.name)",
            None,
            100,
        ),
        (
            "m2_quantile_by_service",
            "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
            Some(server_rows.as_slice()),
            0,
        ),
        (
            "m2_quantile_by_service_exemplars",
            "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
            Some(server_rows.as_slice()),
            100,
        ),
    ] {
        let plan = MetricsPlan::parse(query).unwrap();
        let request = MetricsRequest {
            window,
            max_series: 1000,
            max_exemplars: exemplars,
            span_starts: SpanStarts::ALL,
        };
        group.bench_function(name, |bencher| {
            bencher.iter(|| black_box(run(&plan, &request, &batches, rows)));
        });
    }
    group.finish();
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the parenthesised command name: state is field 3, utime 14, stime 15
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
    };
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => 0.0,
    }
}

fn cpu_report() {
    let batches = batches();
    let window = TimeWindow::for_range_request(START, START + 3600 * SECOND, 60 * SECOND).unwrap();
    let server_rows: Vec<u32> = (0..BATCH as u32).filter(|row| row % 4 == 1).collect();
    for (name, query, rows, exemplars) in [
        ("m1", "{ } | rate() by (resource.service.name)", None, 0),
        (
            "m1+exemplars",
            "{ } | rate() by (resource.service.name)",
            None,
            100,
        ),
        (
            "m2",
            "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
            Some(server_rows.as_slice()),
            0,
        ),
        (
            "m2+exemplars",
            "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
            Some(server_rows.as_slice()),
            100,
        ),
    ] {
        let plan = MetricsPlan::parse(query).unwrap();
        let request = MetricsRequest {
            window,
            max_series: 1000,
            max_exemplars: exemplars,
            span_starts: SpanStarts::ALL,
        };
        let started = cpu_seconds();
        let mut iterations = 0u64;
        while cpu_seconds() - started < 3.0 {
            black_box(run(&plan, &request, &batches, rows));
            iterations += 1;
        }
        let spent = cpu_seconds() - started;
        let surviving = rows.map_or(BATCH, <[u32]>::len) * (SPANS / BATCH);
        println!(
            "{name}: {:.1}M spans/CPU-s scanned ({:.1}M surviving spans/CPU-s accumulated), {iterations} runs in {spent:.2} CPU-s",
            (iterations as f64 * SPANS as f64) / spent / 1e6,
            (iterations as f64 * surviving as f64) / spent / 1e6,
        );
    }
}

criterion_group!(benches, bench_metrics);

fn main() {
    cpu_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
