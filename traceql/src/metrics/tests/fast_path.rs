//! The counting fast path (`rate`, `count_over_time` grouped by at most one dictionary column,
//! with or without exemplars) gives exactly what the general loop gives, over every row or a
//! selection of rows (property test).

use proptest::prelude::*;

use super::merge::{arbitrary_span, fingerprint, unique_ids};
use super::*;
use crate::metrics::{MetricsPlan, SpanRows};

const QUERIES: &[&str] = &[
    "{ } | rate() by (resource.service.name)",
    "{ } | count_over_time()",
    "{ } | count_over_time() by (resource.service.name)",
];

fn result(
    plan: &MetricsPlan,
    request: &MetricsRequest,
    batch: &SpanBatch,
    rows: Option<&[u32]>,
    fast: bool,
) -> MetricsResult {
    let mut accumulator = plan.accumulator(request);
    if !fast {
        accumulator = accumulator.without_fast_paths();
    }
    let input = match rows {
        Some(rows) => SpanRows::selected(batch, rows),
        None => SpanRows::all(batch),
    };
    accumulator.observe(0, &input).unwrap();
    plan.evaluate(request, &accumulator.finish()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_counting_fast_path_equals_the_general_loop(
        spans in prop::collection::vec(arbitrary_span(), 0..80).prop_map(unique_ids),
        query in 0..QUERIES.len(),
        exemplars in prop::sample::select(vec![0u32, 1, 3]),
        keep in prop::option::of(prop::collection::vec(any::<bool>(), 80)),
    ) {
        let plan = MetricsPlan::parse(QUERIES[query]).unwrap();
        let request = MetricsRequest { max_exemplars: exemplars, ..MetricsRequest::new(range(4, 60)) };
        let batch = batch(&spans);
        let rows: Option<Vec<u32>> = keep.map(|keep| {
            (0..batch.span_rows() as u32)
                .filter(|row| keep[*row as usize])
                .collect()
        });
        let fast = result(&plan, &request, &batch, rows.as_deref(), true);
        let general = result(&plan, &request, &batch, rows.as_deref(), false);
        prop_assert_eq!(fingerprint(&fast), fingerprint(&general), "{}", QUERIES[query]);
        prop_assert_eq!(fast.inspected_spans, general.inspected_spans);
        if exemplars > 0 && !spans.is_empty() && rows.is_none() {
            prop_assert!(fast.series.series.iter().any(|series| !series.exemplars.is_empty()));
        }
    }
}
