//! Arithmetic between metrics (spec §10.6): series matching, `__name__`, scalars, NaN.

use super::*;
use crate::metrics::{MetricsPlan, PlanExpr};

fn spans() -> Vec<TestSpan> {
    vec![
        span(1, T0 + 10 * SECOND, 1_000, "frontend").with("code", Value::Int(200)),
        span(1, T0 + 20 * SECOND, 1_000, "frontend").with("code", Value::Int(500)),
        span(2, T0 + 70 * SECOND, 1_000, "cart").with("code", Value::Int(200)),
        span(3, T0 + 80 * SECOND, 1_000, "cart"),
    ]
}

fn some(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().map(|value| Some(*value)).collect()
}

#[test]
fn ungrouped_sides_combine_and_name_the_result() {
    let result = run(
        "({ } | count_over_time()) / ({ } | count_over_time())",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        keys(&result),
        ["{__name__=\"(count_over_time / count_over_time)\"}"]
    );
    assert_eq!(
        values(
            &result,
            "{__name__=\"(count_over_time / count_over_time)\"}"
        ),
        some(&[1.0, 1.0])
    );
    let result = run(
        "({ } | rate()) + ({ } | count_over_time())",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{__name__=\"(rate + count_over_time)\"}"),
        some(&[2.0 / 60.0 + 2.0, 2.0 / 60.0 + 2.0])
    );
}

#[test]
fn identical_label_sets_match_and_others_are_dropped() {
    let result = run(
        "({ } | count_over_time() by (resource.service.name)) - ({ span.code = 200 } | count_over_time() by (resource.service.name))",
        range(2, 60),
        &spans(),
    );
    // every span survives both leaves in this test (the engine is not in the loop): equal sides
    assert_eq!(
        values(&result, "{resource.service.name=\"cart\"}"),
        some(&[0.0, 0.0])
    );
    // different by() attributes share no label set: the inner join is empty
    let result = run(
        "({ } | count_over_time() by (resource.service.name)) + ({ } | count_over_time() by (span.code))",
        range(2, 60),
        &spans(),
    );
    assert_eq!(keys(&result), Vec::<String>::new());
}

#[test]
fn an_unlabelled_side_applies_to_every_series() {
    let result = run(
        "({ } | count_over_time() by (resource.service.name)) / ({ } | count_over_time())",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"frontend\"}"),
        some(&[1.0, 0.0])
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"cart\"}"),
        some(&[0.0, 1.0])
    );
}

#[test]
fn scalars_fold_with_integer_semantics() {
    let plan = MetricsPlan::parse("3 / 2 + ({ } | count_over_time())").unwrap();
    assert!(matches!(&plan.expr, PlanExpr::Binary { lhs, .. } if **lhs == PlanExpr::Scalar(1.0)));
    let result = run("3 / 2 + ({ } | count_over_time())", range(2, 60), &spans());
    assert_eq!(
        values(&result, "{__name__=\"count_over_time\"}"),
        some(&[3.0, 3.0])
    );
    let result = run(
        "({ } | count_over_time()) * 1.5 - 1",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{__name__=\"count_over_time\"}"),
        some(&[2.0, 2.0])
    );
    let result = run("1 - ({ } | count_over_time())", range(2, 60), &spans());
    assert_eq!(
        values(&result, "{__name__=\"count_over_time\"}"),
        some(&[-1.0, -1.0])
    );
}

#[test]
fn division_by_zero_and_nan_propagate() {
    // x / 0 is NaN: every point is dropped, and with it the series
    let result = run("({ } | count_over_time()) / 0", range(2, 60), &spans());
    assert_eq!(keys(&result), Vec::<String>::new());
    // count / count_of_a_subset: 0/0 in interval 1 of frontend
    let result = run(
        "({ } | count_over_time() by (resource.service.name)) / ({ } | count_over_time() by (resource.service.name))",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"frontend\"}"),
        vec![Some(1.0), None]
    );
    // NaN (an empty avg interval) + a count stays NaN
    let result = run(
        "({ } | avg_over_time(span.code) by (resource.service.name)) + ({ } | count_over_time() by (resource.service.name))",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"frontend\"}"),
        vec![Some(352.0), None]
    );
}

#[test]
fn a_second_stage_after_arithmetic_runs_on_the_result() {
    let result = run(
        "({ } | count_over_time() by (resource.service.name)) * 10 | topk(1)",
        range(2, 60),
        &spans(),
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"frontend\"}"),
        vec![Some(20.0), None]
    );
    assert_eq!(
        values(&result, "{resource.service.name=\"cart\"}"),
        vec![None, Some(20.0)]
    );
}
