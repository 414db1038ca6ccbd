//! The second stage (spec §10.4): topk/bottomk per timestamp, filters, chaining.

use super::*;
use crate::ast::CmpOp;
use crate::metrics::second_stage::apply_second_stage;
use crate::metrics::{Label, MetricsPlan, SecondStage, Series, SeriesSet};

const NAN: f64 = f64::NAN;

fn set() -> SeriesSet {
    let series = |name: &str, values: &[f64]| {
        Series::new(vec![Label::new("s", Value::string(name))], values.to_vec())
    };
    SeriesSet {
        series: vec![
            series("A", &[1.0, 5.0, NAN]),
            series("B", &[2.0, 1.0, 3.0]),
            series("C", &[2.0, 0.0, 1.0]),
        ],
        truncated: false,
    }
}

fn after(ops: &[SecondStage]) -> Vec<(String, Vec<Option<f64>>)> {
    let mut set = set();
    apply_second_stage(&mut set, ops);
    set.series
        .iter()
        .map(|series| {
            (
                series.key(),
                series
                    .values
                    .iter()
                    .map(|v| (!v.is_nan()).then_some(*v))
                    .collect(),
            )
        })
        .collect()
}

fn row(name: &str, values: &[Option<f64>]) -> (String, Vec<Option<f64>>) {
    (format!("{{s=\"{name}\"}}"), values.to_vec())
}

#[test]
fn topk_and_bottomk_work_per_timestamp() {
    // t0: B and C tie at 2, B wins by label text
    assert_eq!(
        after(&[SecondStage::TopK(1)]),
        [
            row("A", &[None, Some(5.0), None]),
            row("B", &[Some(2.0), None, Some(3.0)])
        ]
    );
    assert_eq!(
        after(&[SecondStage::BottomK(1)]),
        [
            row("A", &[Some(1.0), None, None]),
            row("C", &[None, Some(0.0), Some(1.0)])
        ]
    );
}

#[test]
fn filters_drop_points_and_empty_series() {
    let gt = |value| SecondStage::Filter {
        op: CmpOp::Gt,
        value,
    };
    assert_eq!(
        after(&[gt(1.0)]),
        [
            row("A", &[None, Some(5.0), None]),
            row("B", &[Some(2.0), None, Some(3.0)]),
            row("C", &[Some(2.0), None, None]),
        ]
    );
    assert_eq!(after(&[gt(10.0)]), []);
    let checks = [
        (
            CmpOp::Eq,
            2.0,
            vec![
                row("B", &[Some(2.0), None, None]),
                row("C", &[Some(2.0), None, None]),
            ],
        ),
        (
            CmpOp::Ne,
            1.0,
            vec![
                row("A", &[None, Some(5.0), None]),
                row("B", &[Some(2.0), None, Some(3.0)]),
                row("C", &[Some(2.0), Some(0.0), None]),
            ],
        ),
        (CmpOp::Le, 0.0, vec![row("C", &[None, Some(0.0), None])]),
        (CmpOp::Lt, 1.0, vec![row("C", &[None, Some(0.0), None])]),
        (
            CmpOp::Ge,
            3.0,
            vec![
                row("A", &[None, Some(5.0), None]),
                row("B", &[None, None, Some(3.0)]),
            ],
        ),
    ];
    for (op, value, expected) in checks {
        assert_eq!(
            after(&[SecondStage::Filter { op, value }]),
            expected,
            "{op:?} {value}"
        );
    }
}

#[test]
fn chained_elements_run_left_to_right() {
    let gt = |value| SecondStage::Filter {
        op: CmpOp::Gt,
        value,
    };
    assert_eq!(
        after(&[SecondStage::TopK(2), gt(2.0)]),
        [
            row("A", &[None, Some(5.0), None]),
            row("B", &[None, None, Some(3.0)])
        ]
    );
    assert_eq!(
        after(&[gt(0.0), SecondStage::TopK(1)]),
        after(&[SecondStage::TopK(1)])
    );
}

#[test]
fn second_stage_constants_fold_to_seconds() {
    let plan = MetricsPlan::parse("{ } | max_over_time(duration) > 100ms | topk(3)").unwrap();
    assert_eq!(
        plan.leaves[0].second_stage,
        [
            SecondStage::Filter {
                op: CmpOp::Gt,
                value: 0.1
            },
            SecondStage::TopK(3)
        ]
    );
    let spans = vec![
        span(1, T0 + SECOND, 50_000_000, "a"),
        span(2, T0 + SECOND, 500_000_000, "b"),
    ];
    let result = run(
        "{ } | max_over_time(duration) by (resource.service.name) > 100ms",
        range(1, 60),
        &spans,
    );
    assert_eq!(keys(&result), ["{resource.service.name=\"b\"}"]);
    let top = run(
        "{ } | count_over_time() by (resource.service.name) | bottomk(1)",
        range(1, 60),
        &spans,
    );
    assert_eq!(keys(&top), ["{resource.service.name=\"a\"}"]);
}
