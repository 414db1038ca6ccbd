//! The same query gives the same numbers for any split of the input into partials and any
//! merge order (property test), including partials that travel through the wire form.

use proptest::prelude::*;

use super::*;
use crate::metrics::{MetricsPlan, Partial, wire};

const QUERIES: &[&str] = &[
    "{ } | rate() by (resource.service.name)",
    "{ } | count_over_time() by (span.code)",
    "{ } | min_over_time(duration) by (resource.service.name)",
    "{ } | max_over_time(span.ratio)",
    "{ } | sum_over_time(span.ratio) by (resource.service.name)",
    "{ } | avg_over_time(span.code)",
    "{ } | sum_over_time(duration)",
    "{ } | histogram_over_time(duration) by (resource.service.name)",
    "{ } | quantile_over_time(duration, 0, .5, .9, .99, 1) by (resource.service.name)",
    "({ } | count_over_time() by (resource.service.name)) / ({ } | count_over_time())",
    "{ } | rate() by (resource.service.name, span.code) | topk(2)",
    "{ } | compare({ span.code = 500 }, 2)",
];

/// `spans` with one span per (trace, span) ID, the first kept. A span ID names one span; two
/// different spans under one ID (a broken client) give the same numbers whatever the split,
/// but which copy's value places the ID's exemplar under a quantile series then depends on
/// the merge order.
pub(super) fn unique_ids(spans: Vec<TestSpan>) -> Vec<TestSpan> {
    let mut seen = std::collections::HashSet::new();
    spans
        .into_iter()
        .filter(|span| seen.insert((span.trace, span.span)))
        .collect()
}

pub(super) fn arbitrary_span() -> impl Strategy<Value = TestSpan> {
    (
        0u8..12,
        0u64..200_000,
        prop::sample::select(vec![
            0u64,
            1,
            2,
            3,
            999,
            1_000_000,
            123_456_789,
            2_000_000_000,
        ]),
        prop::sample::select(vec!["api", "db", "cart"]),
        prop::option::of(prop::sample::select(vec![200i64, 404, 500])),
        prop::option::of(prop::sample::select(vec![
            0.1f64, 0.2, 1e-9, 3.5e7, -2.25, 1e16,
        ])),
        any::<bool>(),
    )
        .prop_map(
            |(trace, offset_ms, duration, service, code, ratio, string_code)| {
                let mut span = span(trace, T0 + offset_ms * 1_000_000, duration, service);
                span.span = (offset_ms % 200) as u8;
                if let Some(code) = code {
                    let value = if string_code && code == 404 {
                        Value::string("404")
                    } else {
                        Value::Int(code)
                    };
                    span = span.with("code", value);
                }
                if let Some(ratio) = ratio {
                    span = span.with("ratio", Value::Float(ratio));
                }
                span
            },
        )
}

fn matches(spans: &[TestSpan]) -> impl Fn(&SpanBatch) -> Vec<bool> + '_ {
    move |batch: &SpanBatch| {
        let code = batch.span_column(&Attribute::Custom {
            scope: AttributeScope::Span,
            name: "code".to_owned(),
        });
        let _ = spans;
        (0..batch.span_rows())
            .map(|row| code.is_some_and(|column| *column.get(row) == Value::Int(500)))
            .collect()
    }
}

fn partial_of(plan: &MetricsPlan, request: &MetricsRequest, batches: &[SpanBatch]) -> QueryPartial {
    let mut accumulator = plan.accumulator(request);
    let matcher = matches(&[]);
    for batch in batches {
        for (leaf, stage) in plan.leaves.iter().enumerate() {
            if stage.needs_all_attributes() {
                accumulator
                    .observe_compare(leaf, &SpanRows::all(batch), &matcher(batch))
                    .unwrap();
            } else {
                accumulator.observe(leaf, &SpanRows::all(batch)).unwrap();
            }
        }
    }
    accumulator.finish()
}

pub(super) type Fingerprint = (Vec<(String, Vec<u64>, Vec<(String, String)>)>, bool);

pub(super) fn fingerprint(result: &MetricsResult) -> Fingerprint {
    (
        result
            .series
            .series
            .iter()
            .map(|series| {
                let mut exemplars: Vec<(String, String)> = series
                    .exemplars
                    .iter()
                    .map(|item| (item.trace_id.clone(), item.span_id.clone()))
                    .collect();
                exemplars.sort();
                (
                    series.key(),
                    series.values.iter().map(|value| value.to_bits()).collect(),
                    exemplars,
                )
            })
            .collect(),
        result.series.truncated,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_split_and_merge_order_gives_the_same_numbers(
        spans in prop::collection::vec(arbitrary_span(), 0..60).prop_map(unique_ids),
        query in 0..QUERIES.len(),
        assignment in prop::collection::vec(0usize..4, 60),
        batch_size in 1usize..8,
        order_seed in any::<u64>(),
        instant in any::<bool>(),
    ) {
        let plan = MetricsPlan::parse(QUERIES[query]).unwrap();
        let window = if instant {
            TimeWindow::instant(T0 + 10 * SECOND, T0 + 150 * SECOND).unwrap()
        } else {
            range(3, 60)
        };
        let request = MetricsRequest { max_exemplars: 3, ..MetricsRequest::new(window) };
        let whole = plan
            .evaluate(&request, &partial_of(&plan, &request, &[batch(&spans)]))
            .unwrap();

        // split the spans over four jobs, each over batches of `batch_size` spans
        let mut partials: Vec<QueryPartial> = (0..4)
            .map(|job| {
                let mine: Vec<TestSpan> = spans
                    .iter()
                    .zip(&assignment)
                    .filter(|(_, owner)| **owner == job)
                    .map(|(span, _)| span.clone())
                    .collect();
                let batches: Vec<SpanBatch> = mine.chunks(batch_size).map(batch).collect();
                let partial = partial_of(&plan, &request, &batches);
                // every partial travels through its wire form
                let encoded = wire::encode(&partial);
                wire::decode(&encoded, &plan, &request).unwrap()
            })
            .collect();
        // merge in an order given by the seed
        let mut merged = partials.remove((order_seed % 4) as usize);
        let mut seed = order_seed;
        while !partials.is_empty() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let next = partials.remove((seed >> 33) as usize % partials.len());
            if seed & 1 == 0 {
                merged.merge(&next).unwrap();
            } else {
                let mut swapped = next;
                swapped.merge(&merged).unwrap();
                merged = swapped;
            }
        }
        let split = plan.evaluate(&request, &merged).unwrap();
        prop_assert_eq!(fingerprint(&split), fingerprint(&whole), "{}", QUERIES[query]);
        prop_assert_eq!(split.inspected_spans, whole.inspected_spans);
        let _ = merged.leaves.iter().map(Partial::truncated).count();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two jobs that both read every span (a block and an ingester holding the same spans) but
    /// count disjoint span starts (before and from a cut) give the answer of one job.
    #[test]
    fn jobs_split_at_a_cut_count_each_span_once(
        spans in prop::collection::vec(arbitrary_span(), 0..60).prop_map(unique_ids),
        query in 0..QUERIES.len(),
        cut_ms in 0u64..200_001,
        instant in any::<bool>(),
    ) {
        let plan = MetricsPlan::parse(QUERIES[query]).unwrap();
        let window = if instant {
            TimeWindow::instant(T0 + 10 * SECOND, T0 + 150 * SECOND).unwrap()
        } else {
            range(3, 60)
        };
        let request = MetricsRequest { max_exemplars: 3, ..MetricsRequest::new(window) };
        let batches = [batch(&spans)];
        let whole = plan.evaluate(&request, &partial_of(&plan, &request, &batches)).unwrap();
        let cut = T0 + cut_ms * 1_000_000;
        let before = MetricsRequest { span_starts: SpanStarts::before(cut), ..request };
        let after = MetricsRequest { span_starts: SpanStarts::from(cut), ..request };
        let mut merged = partial_of(&plan, &before, &batches);
        let other = wire::decode(&wire::encode(&partial_of(&plan, &after, &batches)), &plan, &request)
            .unwrap();
        merged.merge(&other).unwrap();
        let split = plan.evaluate(&request, &merged).unwrap();
        prop_assert_eq!(fingerprint(&split), fingerprint(&whole), "{}", QUERIES[query]);
        prop_assert_eq!(split.inspected_spans, whole.inspected_spans);
    }
}

#[test]
fn partials_of_different_windows_or_queries_do_not_merge() {
    let plan = MetricsPlan::parse("{ } | rate()").unwrap();
    let one = plan.empty_partial(&request(range(3, 60)));
    let mut other = plan.empty_partial(&request(range(4, 60)));
    let error = other.merge(&one).unwrap_err();
    assert_eq!(error.code(), contrail_proto::ErrorCode::Internal);
    let quantile = MetricsPlan::parse("{ } | quantile_over_time(duration, .5)").unwrap();
    let mut third = quantile.empty_partial(&request(range(3, 60)));
    assert!(third.merge(&one).is_err());
    assert!(plan.evaluate(&request(range(4, 60)), &one).is_err());
}
