//! Metrics over replicated blocks (ADR 013): three replicas' level-0 blocks of the same spans,
//! cut differently and with one replica missing some traces and spans, read as one merged job,
//! give exactly the answer of one RF = 1 block holding each span once, for every function
//! tried and for many random data sets. Read as separate jobs they overcount (the bug the
//! merged job fixes).

use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::{TenantId, TraceId};
use contrail_querier::EngineBlockSearch;
use contrail_querier::frontend::{BlockJob, BlockMetricsRequest, BlockSearch, block_jobs};
use contrail_storage::DecodePool;
use contrail_storage::block::{BlockMeta, BlockWriter, BlockWriterConfig};
use contrail_storage::convert::Trace;
use contrail_traceql::fetch::MemoryBudget;
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, MetricsResult, QueryPartial, TimeWindow,
};
use object_store::ObjectStore;
use object_store::memory::InMemory;

const BASE: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

const QUERIES: [&str; 5] = [
    "{ } | count_over_time() by (resource.service.name)",
    "{ } | rate()",
    "{ status = error } | count_over_time() by (name)",
    "{ } | histogram_over_time(duration) by (resource.service.name)",
    "{ } | quantile_over_time(duration, .5, .9) by (resource.service.name)",
];

/// xorshift64*: reproducible random data without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn service(name: &str) -> Resource {
    Resource {
        attributes: vec![KeyValue {
            key: "service.name".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(name.to_owned())),
            }),
            key_strindex: 0,
        }],
        ..Resource::default()
    }
}

/// `count` random traces: 1-5 spans each, one service per trace, sorted by trace ID.
fn traces(random: &mut Random, count: usize) -> Vec<Trace> {
    let mut traces: Vec<Trace> = (0..count)
        .map(|index| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&random.next().to_be_bytes());
            id[15] = index as u8;
            let start = BASE + random.below(300) * SECOND;
            let spans = (0..=random.below(5))
                .map(|position| {
                    let begin = start + random.below(2000) * MS;
                    Span {
                        trace_id: id.to_vec(),
                        span_id: vec![position as u8 + 1, 0, 0, 0, 0, 0, 0, index as u8],
                        parent_span_id: if position == 0 {
                            Vec::new()
                        } else {
                            vec![1, 0, 0, 0, 0, 0, 0, index as u8]
                        },
                        name: ["GET /a", "GET /b", "query"][random.below(3) as usize].to_owned(),
                        kind: 2,
                        start_time_unix_nano: begin,
                        end_time_unix_nano: begin + (1 + random.below(900)) * MS,
                        status: (random.below(4) == 0).then(|| Status {
                            code: 2,
                            message: "failed".to_owned(),
                        }),
                        ..Span::default()
                    }
                })
                .collect();
            Trace {
                trace_id: TraceId::from_array(id),
                resource_spans: vec![ResourceSpans {
                    resource: Some(service(["cart", "shop", "db"][index % 3])),
                    scope_spans: vec![ScopeSpans {
                        scope: None,
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            }
        })
        .collect();
    traces.sort_by_key(|trace| trace.trace_id);
    traces
}

/// A replica that missed writes: some traces entirely, some spans of others (never all).
fn lossy(random: &mut Random, traces: &[Trace]) -> Vec<Trace> {
    let mut kept = Vec::new();
    for trace in traces {
        if random.below(5) == 0 {
            continue;
        }
        let mut trace = trace.clone();
        let spans = &mut trace.resource_spans[0].scope_spans[0].spans;
        let keep: Vec<bool> = spans.iter().map(|_| random.below(5) != 0).collect();
        if keep.iter().any(|kept| *kept) {
            let mut flags = keep.into_iter();
            spans.retain(|_| flags.next().unwrap_or(true));
        }
        kept.push(trace);
    }
    kept
}

async fn write(
    store: &Arc<dyn ObjectStore>,
    tenant: &TenantId,
    traces: &[Trace],
    replication_factor: u32,
) -> Arc<BlockMeta> {
    let mut config = BlockWriterConfig::new(tenant.clone());
    config.replication_factor = replication_factor;
    config.row_group_target_bytes = 2048;
    let mut writer = BlockWriter::new(store.clone(), config).expect("writer");
    for trace in traces {
        writer.push_trace(trace.clone()).await.expect("push");
    }
    Arc::new(writer.finish().await.expect("finish").meta)
}

fn request(query: &str) -> BlockMetricsRequest {
    let window = TimeWindow::range(BASE - 60 * SECOND, BASE + 400 * SECOND, 30 * SECOND).unwrap();
    let plan = MetricsPlan::parse(query).unwrap();
    BlockMetricsRequest {
        query: query.to_owned(),
        compiled: Arc::new(MetricsQuery::new(plan, MetricsRequest::new(window)).unwrap()),
    }
}

async fn run(
    engine: &EngineBlockSearch,
    jobs: &[BlockJob],
    request: &BlockMetricsRequest,
) -> MetricsResult {
    let compiled = &request.compiled;
    let mut merged: QueryPartial = compiled.plan.empty_partial(&compiled.request);
    for job in jobs {
        let partial = engine
            .metrics(job, request, &MemoryBudget::unlimited())
            .await
            .expect("metrics job");
        merged.merge(&partial).expect("merge");
    }
    compiled
        .plan
        .evaluate(&compiled.request, &merged)
        .expect("evaluate")
}

/// Series as label text and value bits (NaN compares equal to NaN).
fn shape(result: &MetricsResult) -> Vec<(String, Vec<u64>)> {
    let mut series: Vec<(String, Vec<u64>)> = result
        .series
        .series
        .iter()
        .map(|series| {
            (
                series.key(),
                series.values.iter().map(|value| value.to_bits()).collect(),
            )
        })
        .collect();
    series.sort();
    series
}

fn whole(tenant: &TenantId, meta: &Arc<BlockMeta>) -> BlockJob {
    let mut jobs = block_jobs(tenant, std::slice::from_ref(meta), (0, u64::MAX), u64::MAX);
    assert_eq!(jobs.len(), 1);
    jobs.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_merged_count_like_one_copy() {
    let tenant = TenantId::new("replicas").unwrap();
    for seed in 1..=12u64 {
        let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let all = traces(&mut random, 40);
        // Replica A: one block. Replica B: cut in two blocks. Replica C: missed some writes.
        let a = write(&store, &tenant, &all, 3).await;
        let (early, late): (Vec<Trace>, Vec<Trace>) =
            all.iter().cloned().partition(|_| random.below(2) == 0);
        let b1 = write(&store, &tenant, &early, 3).await;
        let b2 = write(&store, &tenant, &late, 3).await;
        let c = write(&store, &tenant, &lossy(&mut random, &all), 3).await;
        let once = write(&store, &tenant, &all, 1).await;
        let engine =
            EngineBlockSearch::new(store, DecodePool::new(2), &prometheus::Registry::new())
                .expect("engine");

        // The merged job, in a random order of its blocks.
        let mut replicas = vec![a.clone(), b1.clone(), b2.clone(), c.clone()];
        let first = replicas.remove(random.below(4) as usize);
        let merged = BlockJob {
            merge_with: replicas,
            row_groups: 0..first.row_groups.len(),
            ..whole(&tenant, &first)
        };
        let separate: Vec<BlockJob> = [&a, &b1, &b2, &c]
            .into_iter()
            .map(|meta| whole(&tenant, meta))
            .collect();
        for query in QUERIES {
            let request = request(query);
            let expected = shape(&run(&engine, &[whole(&tenant, &once)], &request).await);
            assert!(!expected.is_empty(), "seed {seed}: {query} found nothing");
            let answer = shape(&run(&engine, std::slice::from_ref(&merged), &request).await);
            assert_eq!(answer, expected, "seed {seed}: {query}");
            if query.contains("count_over_time() by (resource") {
                let overcount = shape(&run(&engine, &separate, &request).await);
                assert_ne!(
                    overcount, expected,
                    "seed {seed}: separate jobs count copies"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_job_over_its_budget_is_a_budget_error() {
    let tenant = TenantId::new("replicas").unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let all = traces(&mut Random(7), 20);
    let a = write(&store, &tenant, &all, 3).await;
    let b = write(&store, &tenant, &all, 3).await;
    let engine = EngineBlockSearch::new(store, DecodePool::new(2), &prometheus::Registry::new())
        .expect("engine");
    let job = BlockJob {
        merge_with: vec![b],
        ..whole(&tenant, &a)
    };
    let error = engine
        .metrics(&job, &request(QUERIES[0]), &MemoryBudget::new(1024))
        .await
        .expect_err("over budget");
    assert!(error.to_string().contains("memory budget"), "{error}");
}
