//! Turns a merged [`SeriesPartial`] into final series: labels by the rules of spec §10.3, values
//! per function (§10.2: `rate` divides by the step in seconds, empty intervals are 0 for counts
//! and NaN otherwise, quantiles interpolate the log2 histogram), sampling multipliers on counts
//! and sums, and exemplars with their values.

use std::collections::BTreeMap;

use crate::metrics::exemplar::Exemplar;
use crate::metrics::labels::{BUCKET_LABEL, GroupKey, Label, NAME_LABEL, QUANTILE_LABEL};
use crate::metrics::log2::quantile;
use crate::metrics::partial::SeriesPartial;
use crate::metrics::plan::{FirstStage, Function, GroupBy};
use crate::metrics::series::{Series, SeriesExemplar, SeriesSet};
use crate::metrics::window::TimeWindow;
use crate::value::Value;

/// The labels of a series: one per non-nil `by()` value, in `by()` order; without `by()`, the
/// function name as `__name__` (unless a bucket or quantile label follows); when every value is
/// nil and nothing follows, the first attribute with the value nil.
pub(crate) fn series_labels(
    by: &[GroupBy],
    key: &GroupKey,
    function_name: &str,
    extra: Option<Label>,
) -> Vec<Label> {
    let mut labels: Vec<Label> = by
        .iter()
        .zip(key.0.iter())
        .filter(|(_, value)| !value.is_nil())
        .map(|(group, value)| Label::new(group.label.clone(), value.clone()))
        .collect();
    match extra {
        Some(label) => labels.push(label),
        None if by.is_empty() => labels.push(Label::new(NAME_LABEL, Value::string(function_name))),
        None if labels.is_empty() => labels.push(Label::new(by[0].label.clone(), Value::Nil)),
        None => {}
    }
    labels
}

fn exemplars_of(window: &TimeWindow, items: &[Exemplar], values: &[f64]) -> Vec<SeriesExemplar> {
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|item| (item.start_unix_nano, item.score));
    sorted
        .iter()
        .filter_map(|item| {
            let interval = window.interval_of(item.start_unix_nano)?;
            let value = if item.value.is_nan() {
                values.get(interval).copied().unwrap_or(f64::NAN)
            } else {
                item.value
            };
            (!value.is_nan()).then(|| SeriesExemplar {
                trace_id: item.trace_id.to_hex_trimmed(),
                span_id: item.span_id.to_hex(),
                timestamp_ms: (item.start_unix_nano / 1_000_000) as i64,
                value,
            })
        })
        .collect()
}

/// The final series of one non-`compare()` leaf.
pub(crate) fn finalize_series(
    partial: &SeriesPartial,
    leaf: &FirstStage,
    multiplier: f64,
) -> SeriesSet {
    let window = partial.window;
    let intervals = partial.intervals;
    let name = leaf.function.name();
    let mut set = SeriesSet {
        series: Vec::new(),
        truncated: partial.truncated(),
    };
    if let Function::QuantileOverTime { quantiles, .. } = &leaf.function {
        finalize_quantiles(partial, leaf, quantiles, &mut set);
        return set;
    }
    for index in 0..partial.table.len() {
        let (key, bucket) = partial.table.series(index);
        let cells = index * intervals..(index + 1) * intervals;
        let values: Vec<f64> = match &leaf.function {
            Function::Rate => {
                let seconds = window.step_seconds();
                partial.counts[cells]
                    .iter()
                    .map(|count| *count as f64 * multiplier / seconds)
                    .collect()
            }
            Function::CountOverTime | Function::HistogramOverTime(_) => partial.counts[cells]
                .iter()
                .map(|count| *count as f64 * multiplier)
                .collect(),
            Function::MinOverTime(_) | Function::MaxOverTime(_) => partial.extremes[cells].to_vec(),
            Function::SumOverTime(_) => cells
                .map(|cell| match partial.counts[cell] {
                    0 => f64::NAN,
                    _ => partial.sums[cell].value() * multiplier,
                })
                .collect(),
            Function::AvgOverTime(_) => cells
                .map(|cell| match partial.counts[cell] {
                    0 => f64::NAN,
                    count => partial.sums[cell].value() / count as f64,
                })
                .collect(),
            Function::QuantileOverTime { .. } | Function::Compare { .. } => Vec::new(),
        };
        let extra = bucket.map(|bucket| Label::new(BUCKET_LABEL, Value::Float(bucket.bound())));
        let labels = series_labels(&leaf.by, key, name, extra);
        let label_set = partial.table.label_set_of(index);
        let exemplars = partial
            .exemplars
            .get(label_set)
            .map(|set| {
                let mine: Vec<Exemplar> = set
                    .items()
                    .iter()
                    .filter(|item| bucket.is_none() || item.bucket == bucket)
                    .cloned()
                    .collect();
                exemplars_of(&window, &mine, &values)
            })
            .unwrap_or_default();
        set.series.push(Series {
            labels,
            values,
            exemplars,
        });
    }
    set
}

fn finalize_quantiles(
    partial: &SeriesPartial,
    leaf: &FirstStage,
    quantiles: &[f64],
    set: &mut SeriesSet,
) {
    let intervals = partial.intervals;
    // label set → [(bound, series index)], sorted by bound
    let mut by_label_set: BTreeMap<usize, Vec<(f64, usize)>> = BTreeMap::new();
    for index in 0..partial.table.len() {
        let (_, bucket) = partial.table.series(index);
        if let Some(bucket) = bucket {
            by_label_set
                .entry(partial.table.label_set_of(index))
                .or_default()
                .push((bucket.bound(), index));
        }
    }
    for (label_set, mut buckets) in by_label_set {
        buckets.sort_by(|left, right| left.0.total_cmp(&right.0));
        let histogram_at = |interval: Option<usize>| -> Vec<(f64, u64)> {
            buckets
                .iter()
                .map(|(bound, series)| {
                    let count = match interval {
                        Some(interval) => partial.counts[series * intervals + interval],
                        None => partial.counts[series * intervals..(series + 1) * intervals]
                            .iter()
                            .sum(),
                    };
                    (*bound, count)
                })
                .filter(|(_, count)| *count > 0)
                .collect()
        };
        let overall: Vec<f64> = quantiles
            .iter()
            .map(|q| quantile(*q, &histogram_at(None)))
            .collect();
        let exemplars: Vec<Exemplar> = partial
            .exemplars
            .get(label_set)
            .map(|set| set.items().to_vec())
            .unwrap_or_default();
        let key = &partial.table.label_sets()[label_set];
        for (position, q) in quantiles.iter().enumerate() {
            let values: Vec<f64> = (0..intervals)
                .map(|interval| quantile(*q, &histogram_at(Some(interval))))
                .collect();
            let mine: Vec<Exemplar> = exemplars
                .iter()
                .filter(|item| {
                    let target = overall
                        .iter()
                        .position(|threshold| item.value <= *threshold)
                        .unwrap_or(quantiles.len() - 1);
                    target == position
                })
                .cloned()
                .collect();
            let labels = series_labels(
                &leaf.by,
                key,
                leaf.function.name(),
                Some(Label::new(QUANTILE_LABEL, Value::Float(*q))),
            );
            set.series.push(Series {
                labels,
                exemplars: exemplars_of(&partial.window, &mine, &values),
                values,
            });
        }
    }
}
