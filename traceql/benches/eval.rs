//! Evaluation alone over pre-built `SpanBatch`es (no source, no IO): the engine's share of the
//! W3 search bars. `cargo bench -p contrail-traceql --bench eval`; throughput is spans/s of the
//! batch on one core. Every trace is evaluated (no limit), the worst case for a search.
//! - `filtered/*`: 100k spans a source already selected for the query (Q2, Q4, Q5 shapes);
//! - `all_spans/*`: 1M spans of 50k traces (20 spans each) handed over by a `{ }`-like fetch,
//!   with Q7's structural query and Q8's aggregate.

use std::hint::black_box;
use std::sync::Arc;

use contrail_proto::{SpanId, TraceId};
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Status};
use contrail_traceql::eval::bind::BatchView;
use contrail_traceql::eval::field::DictCache;
use contrail_traceql::eval::trace::eval_trace;
use contrail_traceql::fetch::{SpanBatch, SpanColumns, TraceInfo, ValueColumn};
use contrail_traceql::search::batch::evaluate_batch;
use contrail_traceql::structure::{SpanKey, numbers};
use contrail_traceql::value::Value;
use contrail_traceql::{SearchOptions, parse, plan_search};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const SERVICES: [&str; 10] = [
    "api-gateway",
    "cart-service",
    "payment-service",
    "user-service",
    "search",
    "inventory",
    "shipping",
    "email",
    "auth",
    "frontend",
];

fn custom(scope: AttributeScope, name: &str) -> Attribute {
    Attribute::Custom {
        scope,
        name: name.to_owned(),
    }
}

/// `traces` traces of `per_trace` spans (a binary tree each), with the columns Q2-Q8 read.
fn batch(traces: usize, per_trace: usize) -> SpanBatch {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let rows = traces * per_trace;
    let mut batch = SpanBatch::default();
    let spans: &mut SpanColumns = &mut batch.spans;
    let mut service_keys = Vec::with_capacity(rows);
    let mut status_codes = Vec::with_capacity(rows);
    let mut db_system = Vec::with_capacity(rows);
    let mut kinds = Vec::with_capacity(rows);
    let mut statuses = Vec::with_capacity(rows);
    let postgres = Value::string("postgresql");
    let redis = Value::string("redis");
    for trace in 0..traces {
        let first = spans.start_unix_nano.len();
        let ids: Vec<[u8; 8]> = (0..per_trace)
            .map(|index| ((trace * per_trace + index + 1) as u64).to_be_bytes())
            .collect();
        let parents: Vec<[u8; 8]> = (0..per_trace)
            .map(|index| {
                if index == 0 {
                    [0; 8]
                } else {
                    ids[(index - 1) / 2]
                }
            })
            .collect();
        let keys: Vec<SpanKey<'_>> = (0..per_trace)
            .map(|index| SpanKey {
                span_id: &ids[index],
                parent_span_id: if index == 0 { &[] } else { &parents[index] },
                start_time_unix_nano: index as u64,
            })
            .collect();
        let structure = numbers(&keys);
        for index in 0..per_trace {
            spans.span_id.push(SpanId::from_array(ids[index]));
            spans
                .start_unix_nano
                .push(1_700_000_000_000_000_000 + (trace * 1000 + index) as u64);
            spans.duration_nano.push(rng.next() % 1_000_000_000);
            spans.nested_set_left.push(structure[index].left);
            spans.nested_set_right.push(structure[index].right);
            spans.nested_set_parent.push(structure[index].parent);
            spans.row_ref.push((first + index) as u64);
            service_keys.push((rng.next() % SERVICES.len() as u64) as u32);
            status_codes.push(Value::Int(
                [200, 200, 200, 404, 500, 503][(rng.next() % 6) as usize],
            ));
            db_system.push(match rng.next() % 4 {
                0 => postgres.clone(),
                1 => redis.clone(),
                _ => Value::Nil,
            });
            kinds.push(Value::Kind(if index == 0 {
                SpanKind::Server
            } else {
                SpanKind::Client
            }));
            statuses.push(Value::Status(if rng.next().is_multiple_of(10) {
                Status::Error
            } else {
                Status::Unset
            }));
        }
        batch.traces.push(TraceInfo {
            trace_id: TraceId::from_u128(trace as u128 + 1),
            start_unix_nano: spans.start_unix_nano[first],
            end_unix_nano: spans.start_unix_nano[first] + 1_000_000_000,
            root_service_name: Some(Arc::from(SERVICES[service_keys[first] as usize])),
            root_span_name: Some(Arc::from("GET /")),
            rows: first..first + per_trace,
            has_orphans: false,
            span_count: per_trace as u32,
        });
    }
    batch.span_values = vec![
        (
            custom(AttributeScope::Resource, "service.name"),
            ValueColumn::Dict {
                keys: service_keys,
                values: SERVICES.iter().map(|name| Value::string(name)).collect(),
            },
        ),
        (
            custom(AttributeScope::Span, "http.status_code"),
            ValueColumn::Plain(status_codes),
        ),
        (
            custom(AttributeScope::Span, "db.system"),
            ValueColumn::Plain(db_system),
        ),
        (
            Attribute::Intrinsic(Intrinsic::Kind),
            ValueColumn::Plain(kinds),
        ),
        (
            Attribute::Intrinsic(Intrinsic::Status),
            ValueColumn::Plain(statuses),
        ),
    ];
    batch
}

fn bench_query(c: &mut Criterion, group: &str, name: &str, query: &str, batch: &SpanBatch) {
    let plan = plan_search(
        &parse(query).expect("query parses"),
        SearchOptions::default(),
    )
    .expect("query plans");
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(batch.span_rows() as u64));
    group.sample_size(10);
    group.bench_function(name, |bench| {
        bench.iter(|| {
            let outcome =
                evaluate_batch(&plan.program, black_box(batch), 0, usize::MAX, None, true)
                    .expect("evaluates");
            black_box(outcome.settled.len())
        })
    });
    group.finish();
}

/// `eval_trace` over every trace: the filter, structural and aggregate work alone, without
/// building result spans (what a metrics stage will consume).
fn bench_spansets(c: &mut Criterion, name: &str, query: &str, batch: &SpanBatch) {
    let plan = plan_search(
        &parse(query).expect("query parses"),
        SearchOptions::default(),
    )
    .expect("query plans");
    let mut group = c.benchmark_group("spansets_only");
    group.throughput(Throughput::Elements(batch.span_rows() as u64));
    group.sample_size(10);
    group.bench_function(name, |bench| {
        bench.iter(|| {
            let view = BatchView::new(black_box(batch), &plan.program.attributes);
            let cache = DictCache::default();
            let mut matched = 0usize;
            for index in 0..batch.traces.len() {
                matched += eval_trace(&plan.program, &view, &cache, index)
                    .expect("evaluates")
                    .len();
            }
            black_box(matched)
        })
    });
    group.finish();
}

fn bench_eval(c: &mut Criterion) {
    let filtered = batch(5_000, 20);
    bench_query(
        c,
        "filtered",
        "q2_status_code",
        "{ span.http.status_code >= 500 }",
        &filtered,
    );
    bench_query(
        c,
        "filtered",
        "q3_service",
        "{ resource.service.name = \"payment-service\" }",
        &filtered,
    );
    bench_query(
        c,
        "filtered",
        "q4_duration_kind",
        "{ duration > 500ms && kind = server }",
        &filtered,
    );
    bench_query(c, "filtered", "q5_status", "{ status = error }", &filtered);
    let all = batch(50_000, 20);
    bench_query(
        c,
        "all_spans",
        "q7_structural",
        "{ resource.service.name = \"api-gateway\" } >> { span.db.system = \"postgresql\" && duration > 100ms }",
        &all,
    );
    bench_query(
        c,
        "all_spans",
        "q8_count",
        "{ resource.service.name = \"cart-service\" } | count() > 5",
        &all,
    );
    bench_query(c, "all_spans", "empty_filter", "{ }", &all);
    bench_spansets(
        c,
        "q2_status_code",
        "{ span.http.status_code >= 500 }",
        &all,
    );
    bench_spansets(
        c,
        "q3_service",
        "{ resource.service.name = \"payment-service\" }",
        &all,
    );
    bench_spansets(
        c,
        "q4_duration_kind",
        "{ duration > 500ms && kind = server }",
        &all,
    );
    bench_spansets(c, "q5_status", "{ status = error }", &all);
    bench_spansets(
        c,
        "q7_structural",
        "{ resource.service.name = \"api-gateway\" } >> { span.db.system = \"postgresql\" && duration > 100ms }",
        &all,
    );
    bench_spansets(
        c,
        "q8_count",
        "{ resource.service.name = \"cart-service\" } | count() > 5",
        &all,
    );
}

criterion_group!(benches, bench_eval);
criterion_main!(benches);
