//! Parse + validate of the valid example queries of the shared conformance corpus.
//! `cargo bench -p contrail-traceql --bench parse`; criterion reports the time for the whole
//! set, divide by the number of queries (printed first) for the per-query figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

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
    print_per_query_median(&queries);
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

/// Times every query on its own and prints the median and the slowest, per query.
fn print_per_query_median(queries: &[String]) {
    const ROUNDS: u32 = 200;
    let mut per_query: Vec<(Duration, &str)> = queries
        .iter()
        .map(|query| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                black_box(contrail_traceql::parse_and_validate(black_box(query)).is_ok());
            }
            (start.elapsed() / ROUNDS, query.as_str())
        })
        .collect();
    per_query.sort();
    let median = per_query[per_query.len() / 2].0;
    let (slowest, slowest_query) = per_query[per_query.len() - 1];
    println!("per query: median {median:?}, slowest {slowest:?} ({slowest_query})");
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
