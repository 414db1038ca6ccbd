//! Parse + validate of the valid example queries of the shared conformance corpus.
//! `cargo bench -p contrail-traceql --bench parse`; criterion reports the time for the whole
//! set, divide by the number of queries (printed first) for the per-query figure.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/traceql_examples.yaml"
);

#[derive(serde::Deserialize)]
struct Examples {
    valid: Vec<String>,
}

fn bench_parse(c: &mut Criterion) {
    let text = std::fs::read_to_string(EXAMPLES).expect("conformance examples are readable");
    let examples: Examples = serde_yaml::from_str(&text).expect("conformance examples parse");
    let queries = examples.valid;
    println!(
        "parse + validate over {} valid example queries",
        queries.len()
    );
    let mut group = c.benchmark_group("traceql");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("parse_and_validate_valid_examples", |b| {
        b.iter(|| {
            for query in &queries {
                black_box(contrail_traceql::parse_and_validate(black_box(query)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
