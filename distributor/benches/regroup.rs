//! The distributor's CPU cost per span on the loadgen corpus: wire check + regroup by trace +
//! segment encode (and, for comparison, OTLP/JSON decode first), for requests of about 1,000
//! spans (W1's batch size).
//!
//! `cargo bench -p contrail-distributor --bench regroup`. Times are the benchmark thread's CPU
//! time (`/proc/thread-self/schedstat`), not wall time, so other processes on a shared machine
//! do not inflate them; throughput is spans per CPU-second.

use std::time::Duration;

use bytes::Bytes;
use contrail_distributor::{ContentEncoding, DecodeJob, PayloadFormat, run_decode_job};
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;

/// CPU time of the calling thread, in nanoseconds, from the kernel's scheduler statistics.
fn thread_cpu_nanos() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    text.split_whitespace()
        .next()
        .and_then(|nanos| nanos.parse().ok())
        .expect("schedstat starts with nanoseconds on the cpu")
}

/// Criterion measurement: CPU time of the benchmark thread.
struct ThreadCpuTime;

static WALL_TIME: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_nanos().saturating_sub(start))
    }

    fn add(&self, left: &Duration, right: &Duration) -> Duration {
        *left + *right
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

fn corpus(format: PayloadFormat) -> (Vec<Bytes>, u64, usize) {
    let mut generator = Generator::new(CorpusConfig::default());
    let requests: Vec<_> = generator.batches(1_000, 1_000).collect();
    let spans = requests
        .iter()
        .flat_map(|request| &request.resource_spans)
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len() as u64)
        .sum();
    let protobuf_bytes = requests.iter().map(Message::encoded_len).sum();
    let bodies = requests
        .iter()
        .map(|request| match format {
            PayloadFormat::Protobuf => Bytes::from(request.encode_to_vec()),
            PayloadFormat::Json => Bytes::from(
                contrail_proto::otlp_json::encode_export_request_json(request).expect("json"),
            ),
        })
        .collect();
    (bodies, spans, protobuf_bytes)
}

fn job(body: &Bytes, format: PayloadFormat) -> DecodeJob {
    DecodeJob {
        body: body.clone(),
        encoding: ContentEncoding::Identity,
        format,
        max_body_bytes: 64 << 20,
        max_attribute_bytes: 2048,
        max_bytes_per_trace: 5_000_000,
    }
}

fn bench_regroup(criterion: &mut Criterion<ThreadCpuTime>) {
    let mut group = criterion.benchmark_group("distributor");
    group.sample_size(20);
    for (name, format) in [
        ("check_regroup_encode_protobuf", PayloadFormat::Protobuf),
        ("decode_json_then_regroup", PayloadFormat::Json),
    ] {
        let (bodies, spans, protobuf_bytes) = corpus(format);
        println!(
            "{name}: {} requests, {spans} spans, {:.1} protobuf bytes/span",
            bodies.len(),
            protobuf_bytes as f64 / spans as f64
        );
        group.throughput(Throughput::Elements(spans));
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                for body in &bodies {
                    let decoded = run_decode_job(job(body, format)).expect("decodes");
                    std::hint::black_box(decoded);
                }
            });
        });
    }
    // Baseline: what decoding alone costs with prost (no regroup, no encode).
    let (bodies, spans, _) = corpus(PayloadFormat::Protobuf);
    group.throughput(Throughput::Elements(spans));
    group.bench_function("baseline_prost_decode_only", |bencher| {
        bencher.iter(|| {
            for body in &bodies {
                let request =
                    contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest::decode(
                        body.clone(),
                    )
                    .expect("decodes");
                std::hint::black_box(request);
            }
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_regroup
}
criterion_main!(benches);
