//! The second stage (spec §10.4), run once on final series, left to right: `topk(k)` and
//! `bottomk(k)` keep, at every timestamp independently, the k largest (smallest) non-NaN values
//! (ties broken by the series' label text) and turn the others into NaN; a comparison filter
//! turns failing points into NaN. Series left without a point are dropped.

use crate::ast::CmpOp;
use crate::metrics::plan::SecondStage;
use crate::metrics::series::SeriesSet;

/// Applies `ops` to `set` in order.
pub(crate) fn apply_second_stage(set: &mut SeriesSet, ops: &[SecondStage]) {
    for op in ops {
        match op {
            SecondStage::TopK(limit) => keep_extremes(set, *limit, true),
            SecondStage::BottomK(limit) => keep_extremes(set, *limit, false),
            SecondStage::Filter { op, value } => {
                for series in &mut set.series {
                    for point in &mut series.values {
                        if !point.is_nan() && !holds(*op, *point, *value) {
                            *point = f64::NAN;
                        }
                    }
                }
            }
        }
        set.series.retain(|series| !series.is_empty());
    }
}

fn holds(op: CmpOp, left: f64, right: f64) -> bool {
    match op {
        CmpOp::Eq => left == right,
        CmpOp::Ne => left != right,
        CmpOp::Lt => left < right,
        CmpOp::Le => left <= right,
        CmpOp::Gt => left > right,
        CmpOp::Ge => left >= right,
    }
}

fn keep_extremes(set: &mut SeriesSet, limit: usize, largest: bool) {
    let keys: Vec<String> = set.series.iter().map(|series| series.key()).collect();
    let points = set
        .series
        .iter()
        .map(|series| series.values.len())
        .max()
        .unwrap_or(0);
    let mut keep = vec![vec![false; points]; set.series.len()];
    let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(set.series.len());
    for point in 0..points {
        candidates.clear();
        for (index, series) in set.series.iter().enumerate() {
            if let Some(value) = series.values.get(point).filter(|value| !value.is_nan()) {
                candidates.push((*value, index));
            }
        }
        candidates.sort_by(|left, right| {
            let by_value = if largest {
                right.0.total_cmp(&left.0)
            } else {
                left.0.total_cmp(&right.0)
            };
            by_value.then_with(|| keys[left.1].cmp(&keys[right.1]))
        });
        for (_, index) in candidates.iter().take(limit) {
            if let Some(kept) = keep[*index].get_mut(point) {
                *kept = true;
            }
        }
    }
    for (series, kept) in set.series.iter_mut().zip(keep) {
        for (value, kept) in series.values.iter_mut().zip(kept) {
            if !kept {
                *value = f64::NAN;
            }
        }
    }
}
