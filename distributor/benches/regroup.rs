//! The distributor's CPU cost per span on the loadgen corpus: protobuf decode + attribute
//! truncation + regroup by trace + segment encode, for requests of about 1,000 spans (W1's
//! batch size). `cargo bench -p contrail-distributor --bench regroup`; the per-span figure is
//! the reported time divided by the spans per iteration printed at start.

use bytes::Bytes;
use contrail_distributor::{ContentEncoding, DecodeJob, PayloadFormat, run_decode_job};
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;

fn corpus_bodies() -> (Vec<Bytes>, u64) {
    let mut generator = Generator::new(CorpusConfig::default());
    let bodies: Vec<Bytes> = generator
        .batches(1_000, 1_000)
        .map(|request| Bytes::from(request.encode_to_vec()))
        .collect();
    let spans = bodies
        .iter()
        .map(|body| {
            let request =
                contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest::decode(
                    body.clone(),
                )
                .expect("corpus decodes");
            request
                .resource_spans
                .iter()
                .flat_map(|resource| &resource.scope_spans)
                .map(|scope| scope.spans.len() as u64)
                .sum::<u64>()
        })
        .sum();
    (bodies, spans)
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

fn bench_regroup(criterion: &mut Criterion) {
    let (bodies, spans) = corpus_bodies();
    let bytes: usize = bodies.iter().map(Bytes::len).sum();
    println!(
        "corpus: {} requests, {spans} spans, {:.1} bytes/span",
        bodies.len(),
        bytes as f64 / spans as f64
    );
    let mut group = criterion.benchmark_group("distributor");
    group.throughput(Throughput::Elements(spans));
    group.sample_size(20);
    group.bench_function("decode_regroup_encode_protobuf", |bencher| {
        bencher.iter(|| {
            for body in &bodies {
                let decoded = run_decode_job(job(body, PayloadFormat::Protobuf)).expect("decodes");
                std::hint::black_box(decoded);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench_regroup);
criterion_main!(benches);
