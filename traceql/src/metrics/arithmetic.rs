//! Arithmetic between metrics (spec §10.6): series with identical label sets combine point by
//! point (an inner join); a side with a single unlabelled series (`__name__` only) applies to
//! every series of the other side; `__name__` becomes `(lhs op rhs)` when both sides have one.
//! Division by zero gives NaN; NaN propagates. Scalars apply to every point.

use crate::ast::ArithOp;
use crate::metrics::labels::{Label, NAME_LABEL, same_value};
use crate::metrics::series::{Series, SeriesSet};
use crate::value::Value;

/// One operand of an arithmetic node.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Series(SeriesSet),
    Scalar(f64),
}

/// `left op right` for one point.
pub(crate) fn apply(op: ArithOp, left: f64, right: f64) -> f64 {
    match op {
        ArithOp::Add => left + right,
        ArithOp::Sub => left - right,
        ArithOp::Mul => left * right,
        ArithOp::Div if right == 0.0 => f64::NAN,
        ArithOp::Div => left / right,
        ArithOp::Mod if right == 0.0 => f64::NAN,
        ArithOp::Mod => left % right,
        ArithOp::Pow => left.powf(right),
    }
}

fn name_of(series: &Series) -> Option<&str> {
    match series.labels.as_slice() {
        [
            Label {
                name,
                value: Value::String(text),
            },
        ] if &**name == NAME_LABEL => Some(text),
        _ => None,
    }
}

fn same_labels(left: &[Label], right: &[Label]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .all(|(a, b)| a.name == b.name && same_value(&a.value, &b.value))
}

fn combine_points(op: ArithOp, left: &[f64], right: &[f64]) -> Vec<f64> {
    left.iter()
        .zip(right)
        .map(|(a, b)| apply(op, *a, *b))
        .collect()
}

/// Evaluates `lhs op rhs`.
pub(crate) fn combine(op: ArithOp, lhs: Operand, rhs: Operand) -> Operand {
    match (lhs, rhs) {
        (Operand::Scalar(left), Operand::Scalar(right)) => Operand::Scalar(apply(op, left, right)),
        (Operand::Series(mut set), Operand::Scalar(scalar)) => {
            for series in &mut set.series {
                for value in &mut series.values {
                    *value = apply(op, *value, scalar);
                }
            }
            Operand::Series(set)
        }
        (Operand::Scalar(scalar), Operand::Series(mut set)) => {
            for series in &mut set.series {
                for value in &mut series.values {
                    *value = apply(op, scalar, *value);
                }
            }
            Operand::Series(set)
        }
        (Operand::Series(left), Operand::Series(right)) => {
            Operand::Series(combine_series(op, left, right))
        }
    }
}

fn combine_series(op: ArithOp, left: SeriesSet, right: SeriesSet) -> SeriesSet {
    let truncated = left.truncated || right.truncated;
    let single =
        |set: &SeriesSet| -> bool { set.series.len() == 1 && name_of(&set.series[0]).is_some() };
    let mut out = SeriesSet {
        series: Vec::new(),
        truncated,
    };
    if single(&left) && single(&right) {
        let (left, right) = (&left.series[0], &right.series[0]);
        let name = format!(
            "({} {} {})",
            name_of(left).unwrap_or_default(),
            op.symbol(),
            name_of(right).unwrap_or_default()
        );
        out.series.push(Series::new(
            vec![Label::new(NAME_LABEL, Value::string(&name))],
            combine_points(op, &left.values, &right.values),
        ));
        return out;
    }
    if single(&left) {
        let scalar_series = &left.series[0];
        for series in right.series {
            let values = combine_points(op, &scalar_series.values, &series.values);
            out.series.push(Series::new(series.labels, values));
        }
        return out;
    }
    if single(&right) {
        let scalar_series = &right.series[0];
        for series in left.series {
            let values = combine_points(op, &series.values, &scalar_series.values);
            out.series.push(Series::new(series.labels, values));
        }
        return out;
    }
    for series in &left.series {
        if let Some(other) = right
            .series
            .iter()
            .find(|other| same_labels(&series.labels, &other.labels))
        {
            out.series.push(Series::new(
                series.labels.clone(),
                combine_points(op, &series.values, &other.values),
            ));
        }
    }
    out
}
