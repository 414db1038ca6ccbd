//! The wire form of partial results (`contrail.internal.v1.MetricsPartial`, prost), for jobs
//! that run in another process (queriers, ingesters). Lossless: decoding gives back a partial
//! that merges exactly like the original. Decoding checks everything it reads against the
//! query's plan and window and fails with [`Error::MetricsPartial`] instead of panicking on a
//! corrupt or mismatched message.

use contrail_proto::internal::v1 as pb;
use contrail_proto::{SpanId, TraceId};
use prost::Message;

use crate::ast::{SpanKind, Status};
use crate::error::{Error, Result};
use crate::metrics::compare::{AttributeCounts, ComparePartial, CompareSide};
use crate::metrics::exact_sum::ExactSum;
use crate::metrics::exemplar::Exemplar;
use crate::metrics::labels::GroupKey;
use crate::metrics::partial::{CellKind, Partial, QueryPartial, SeriesPartial};
use crate::metrics::plan::MetricsPlan;
use crate::metrics::query::MetricsRequest;
use crate::metrics::series_table::Bucket;
use crate::metrics::window::TimeWindow;
use crate::value::Value;

/// Encodes a partial.
pub fn encode(partial: &QueryPartial) -> Vec<u8> {
    to_proto(partial).encode_to_vec()
}

/// Decodes a partial of `plan` run over `request`.
pub fn decode(bytes: &[u8], plan: &MetricsPlan, request: &MetricsRequest) -> Result<QueryPartial> {
    let message = pb::MetricsPartial::decode(bytes)
        .map_err(|error| Error::metrics_partial(format!("undecodable message: {error}")))?;
    from_proto(&message, plan, request)
}

/// The protobuf message of a partial.
pub fn to_proto(partial: &QueryPartial) -> pb::MetricsPartial {
    pb::MetricsPartial {
        leaves: partial
            .leaves
            .iter()
            .map(|leaf| pb::MetricsLeafPartial {
                partial: Some(match leaf {
                    Partial::Series(series) => {
                        pb::metrics_leaf_partial::Partial::Series(series_to_proto(series))
                    }
                    Partial::Compare(compare) => {
                        pb::metrics_leaf_partial::Partial::Compare(compare_to_proto(compare))
                    }
                }),
            })
            .collect(),
    }
}

pub(crate) fn window_to_proto(window: &TimeWindow) -> pb::MetricsWindow {
    pb::MetricsWindow {
        start_unix_nano: window.start_unix_nano(),
        end_unix_nano: window.end_unix_nano(),
        step_nano: window.step_nano(),
        instant: window.is_instant(),
    }
}

fn kind_to_proto(kind: CellKind) -> pb::MetricsCellKind {
    match kind {
        CellKind::Count => pb::MetricsCellKind::Count,
        CellKind::Min => pb::MetricsCellKind::Min,
        CellKind::Max => pb::MetricsCellKind::Max,
        CellKind::Sum => pb::MetricsCellKind::Sum,
    }
}

/// The range of cells that hold something (`None`: the series is empty).
fn occupied(partial: &SeriesPartial, series: usize) -> Option<(usize, usize)> {
    let intervals = partial.intervals;
    let base = series * intervals;
    let used = |cell: usize| match partial.kind {
        CellKind::Count | CellKind::Sum => partial.counts[base + cell] > 0,
        CellKind::Min | CellKind::Max => !partial.extremes[base + cell].is_nan(),
    };
    let first = (0..intervals).find(|cell| used(*cell))?;
    let last = (0..intervals).rev().find(|cell| used(*cell))?;
    Some((first, last + 1))
}

fn series_to_proto(partial: &SeriesPartial) -> pb::MetricsSeriesPartial {
    let intervals = partial.intervals;
    // a label set's exemplars travel with its first series
    let mut exemplars_sent = vec![false; partial.table.label_sets().len()];
    let series = (0..partial.table.len())
        .map(|index| {
            let label_set = partial.table.label_set_of(index);
            let first_of_label_set = !std::mem::replace(&mut exemplars_sent[label_set], true);
            let (key, bucket) = partial.table.series(index);
            let (first, end) = occupied(partial, index).unwrap_or((0, 0));
            let cells = index * intervals + first..index * intervals + end;
            let (counts, extremes, sums) = match partial.kind {
                CellKind::Count => (partial.counts[cells].to_vec(), Vec::new(), Vec::new()),
                CellKind::Min | CellKind::Max => {
                    (Vec::new(), partial.extremes[cells].to_vec(), Vec::new())
                }
                CellKind::Sum => (
                    partial.counts[cells.clone()].to_vec(),
                    Vec::new(),
                    partial.sums[cells].iter().map(sum_to_proto).collect(),
                ),
            };
            pb::MetricsPartialSeries {
                group: key.0.iter().map(value_to_proto).collect(),
                has_bucket: bucket.is_some(),
                bucket_duration: bucket.is_some_and(|bucket| bucket.duration),
                bucket_exponent: bucket.map_or(0, |bucket| u32::from(bucket.exponent)),
                first_interval: first as u32,
                counts,
                extremes,
                sums,
                exemplars: partial
                    .exemplars
                    .get(label_set)
                    .filter(|_| first_of_label_set)
                    .map(|set| set.items().iter().map(exemplar_to_proto).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    pb::MetricsSeriesPartial {
        window: Some(window_to_proto(&partial.window)),
        kind: kind_to_proto(partial.kind) as i32,
        bucketed: partial.table.is_bucketed(),
        truncated: partial.truncated(),
        inspected_spans: partial.inspected_spans,
        series,
    }
}

fn split_i128(value: i128) -> (i64, u64) {
    ((value >> 64) as i64, value as u64)
}

fn join_i128(high: i64, low: u64) -> i128 {
    (i128::from(high) << 64) | i128::from(low)
}

fn sum_to_proto(sum: &ExactSum) -> pb::MetricsExactSum {
    let (ints_high, ints_low) = split_i128(sum.ints);
    let (duration_nanos_high, duration_nanos_low) = split_i128(sum.duration_nanos);
    pb::MetricsExactSum {
        ints_high,
        ints_low,
        duration_nanos_high,
        duration_nanos_low,
        float_partials: sum.float_partials.clone(),
        special: sum.special,
    }
}

fn exemplar_to_proto(exemplar: &Exemplar) -> pb::MetricsExemplar {
    pb::MetricsExemplar {
        score: exemplar.score,
        trace_id: exemplar.trace_id.as_bytes().to_vec().into(),
        span_id: exemplar.span_id.as_bytes().to_vec().into(),
        start_unix_nano: exemplar.start_unix_nano,
        value: exemplar.value,
        has_bucket: exemplar.bucket.is_some(),
        bucket_duration: exemplar.bucket.is_some_and(|bucket| bucket.duration),
        bucket_exponent: exemplar
            .bucket
            .map_or(0, |bucket| u32::from(bucket.exponent)),
    }
}

fn value_to_proto(value: &Value) -> pb::MetricsValue {
    use pb::metrics_value::Value as V;
    let inner = match value {
        Value::Nil => V::Nil(true),
        Value::Bool(flag) => V::BoolValue(*flag),
        Value::Int(number) => V::IntValue(*number),
        Value::Float(number) => V::FloatValue(*number),
        Value::String(text) => V::StringValue(text.to_string()),
        Value::Duration(nanos) => V::DurationNanos(*nanos),
        Value::Status(status) => V::Status(match status {
            Status::Ok => 0,
            Status::Error => 1,
            Status::Unset => 2,
        }),
        Value::Kind(kind) => V::Kind(match kind {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }),
        Value::Array(items) => V::Array(pb::MetricsValueArray {
            values: items.iter().map(value_to_proto).collect(),
        }),
    };
    pb::MetricsValue { value: Some(inner) }
}

fn compare_to_proto(partial: &ComparePartial) -> pb::MetricsComparePartial {
    let side = |side: &CompareSide| -> Vec<pb::MetricsCompareAttribute> {
        side.attributes
            .iter()
            .map(|(label, counts)| pb::MetricsCompareAttribute {
                label: label.to_string(),
                totals: counts.totals.clone(),
                values: counts.values.iter().map(value_to_proto).collect(),
                counts: counts.counts.clone(),
                overflow: counts.overflow,
            })
            .collect()
    };
    pb::MetricsComparePartial {
        window: Some(window_to_proto(&partial.window)),
        inspected_spans: partial.inspected_spans,
        selection: side(&partial.selection),
        baseline: side(&partial.baseline),
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::metrics_partial(message)
}

/// A partial from its protobuf message, checked against `plan` and `request`.
pub fn from_proto(
    message: &pb::MetricsPartial,
    plan: &MetricsPlan,
    request: &MetricsRequest,
) -> Result<QueryPartial> {
    if message.leaves.len() != plan.leaves.len() {
        return Err(bad(format!(
            "{} leaves for a query with {}",
            message.leaves.len(),
            plan.leaves.len()
        )));
    }
    let mut template = plan.empty_partial(request);
    for ((leaf, stage), slot) in message
        .leaves
        .iter()
        .zip(&plan.leaves)
        .zip(template.leaves.iter_mut())
    {
        match (&leaf.partial, slot) {
            (Some(pb::metrics_leaf_partial::Partial::Series(series)), Partial::Series(into)) => {
                check_window(series.window.as_ref(), &request.window)?;
                series_from_proto(series, stage.by.len(), into)?;
            }
            (Some(pb::metrics_leaf_partial::Partial::Compare(compare)), Partial::Compare(into)) => {
                check_window(compare.window.as_ref(), &request.window)?;
                compare_from_proto(compare, into)?;
            }
            _ => return Err(bad("a leaf does not match the query's function")),
        }
    }
    Ok(template)
}

fn check_window(window: Option<&pb::MetricsWindow>, expected: &TimeWindow) -> Result<()> {
    match window {
        Some(window) if *window == window_to_proto(expected) => Ok(()),
        _ => Err(bad("the partial was computed for another time window")),
    }
}

fn series_from_proto(
    message: &pb::MetricsSeriesPartial,
    group_len: usize,
    into: &mut SeriesPartial,
) -> Result<()> {
    let kind = match pb::MetricsCellKind::try_from(message.kind) {
        Ok(pb::MetricsCellKind::Count) => CellKind::Count,
        Ok(pb::MetricsCellKind::Min) => CellKind::Min,
        Ok(pb::MetricsCellKind::Max) => CellKind::Max,
        Ok(pb::MetricsCellKind::Sum) => CellKind::Sum,
        Err(_) => return Err(bad(format!("unknown cell kind {}", message.kind))),
    };
    if kind != into.kind || message.bucketed != into.table.is_bucketed() {
        return Err(bad("the partial was computed for another function"));
    }
    if message.truncated {
        into.table.mark_truncated();
    }
    into.inspected_spans = message.inspected_spans;
    let intervals = into.intervals;
    for series in &message.series {
        if series.group.len() != group_len {
            return Err(bad(format!(
                "a series has {} group values, the query groups by {group_len}",
                series.group.len()
            )));
        }
        let key = GroupKey(
            series
                .group
                .iter()
                .map(value_from_proto)
                .collect::<Result<Box<[Value]>>>()?,
        );
        let bucket = bucket_from_proto(
            series.has_bucket,
            series.bucket_duration,
            series.bucket_exponent,
        )?;
        if bucket.is_some() != into.table.is_bucketed() {
            return Err(bad("a series' bucket does not match the function"));
        }
        let first = series.first_interval as usize;
        let cells = match kind {
            CellKind::Count => series.counts.len(),
            CellKind::Min | CellKind::Max => series.extremes.len(),
            CellKind::Sum => {
                if series.sums.len() != series.counts.len() {
                    return Err(bad("sums and counts differ in length"));
                }
                series.counts.len()
            }
        };
        if first.checked_add(cells).is_none_or(|end| end > intervals) {
            return Err(bad("a series has more cells than the window has intervals"));
        }
        let Some(index) = into.series_for(&key, bucket) else {
            continue;
        };
        let base = index * intervals + first;
        match kind {
            CellKind::Count => {
                for (offset, count) in series.counts.iter().enumerate() {
                    into.counts[base + offset] += count;
                }
            }
            CellKind::Min | CellKind::Max => {
                for (offset, value) in series.extremes.iter().enumerate() {
                    crate::metrics::partial::merge_extreme(
                        kind,
                        &mut into.extremes[base + offset],
                        *value,
                    );
                }
            }
            CellKind::Sum => {
                for (offset, (count, sum)) in series.counts.iter().zip(&series.sums).enumerate() {
                    into.counts[base + offset] += count;
                    into.sums[base + offset].merge(&ExactSum {
                        ints: join_i128(sum.ints_high, sum.ints_low),
                        duration_nanos: join_i128(sum.duration_nanos_high, sum.duration_nanos_low),
                        float_partials: Vec::new(),
                        special: sum.special,
                    });
                    for partial in &sum.float_partials {
                        if !partial.is_finite() {
                            return Err(bad("a non-finite float partial"));
                        }
                        into.sums[base + offset].add_float(*partial);
                    }
                }
            }
        }
        let label_set = into.table.label_set_of(index);
        if let Some(set) = into.exemplars.get_mut(label_set) {
            for exemplar in &series.exemplars {
                let trace_id = TraceId::from_bytes(&exemplar.trace_id)
                    .map_err(|error| bad(format!("exemplar trace ID: {error}")))?;
                let span_id = SpanId::from_bytes(&exemplar.span_id)
                    .map_err(|error| bad(format!("exemplar span ID: {error}")))?;
                set.offer(
                    Exemplar {
                        score: exemplar.score,
                        trace_id,
                        span_id,
                        start_unix_nano: exemplar.start_unix_nano,
                        value: exemplar.value,
                        bucket: bucket_from_proto(
                            exemplar.has_bucket,
                            exemplar.bucket_duration,
                            exemplar.bucket_exponent,
                        )?,
                    },
                    into.exemplar_limit,
                );
            }
        }
    }
    Ok(())
}

fn bucket_from_proto(has_bucket: bool, duration: bool, exponent: u32) -> Result<Option<Bucket>> {
    match (has_bucket, u8::try_from(exponent)) {
        (false, _) => Ok(None),
        (true, Ok(exponent)) if exponent <= 64 => Ok(Some(Bucket { duration, exponent })),
        (true, _) => Err(bad("bucket exponent out of range")),
    }
}

fn value_from_proto(message: &pb::MetricsValue) -> Result<Value> {
    use pb::metrics_value::Value as V;
    Ok(match &message.value {
        None | Some(V::Nil(_)) => Value::Nil,
        Some(V::BoolValue(flag)) => Value::Bool(*flag),
        Some(V::IntValue(number)) => Value::Int(*number),
        Some(V::FloatValue(number)) => Value::Float(*number),
        Some(V::StringValue(text)) => Value::string(text),
        Some(V::DurationNanos(nanos)) => Value::Duration(*nanos),
        Some(V::Status(status)) => Value::Status(match status {
            0 => Status::Ok,
            1 => Status::Error,
            2 => Status::Unset,
            other => return Err(bad(format!("unknown status {other}"))),
        }),
        Some(V::Kind(kind)) => Value::Kind(match kind {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            other => return Err(bad(format!("unknown span kind {other}"))),
        }),
        Some(V::Array(array)) => Value::Array(
            array
                .values
                .iter()
                .map(value_from_proto)
                .collect::<Result<Vec<Value>>>()?
                .into(),
        ),
    })
}

fn compare_from_proto(
    message: &pb::MetricsComparePartial,
    into: &mut ComparePartial,
) -> Result<()> {
    let intervals = into.intervals;
    let mut decoded = ComparePartial::new(into.window);
    decoded.inspected_spans = message.inspected_spans;
    for (side, attributes) in [
        (&mut decoded.selection, &message.selection),
        (&mut decoded.baseline, &message.baseline),
    ] {
        for attribute in attributes {
            if attribute.totals.len() != intervals
                || attribute.counts.len() != attribute.values.len().saturating_mul(intervals)
            {
                return Err(bad(format!(
                    "compare() attribute {} has cells that do not fit the window",
                    attribute.label
                )));
            }
            let values = attribute
                .values
                .iter()
                .map(value_from_proto)
                .collect::<Result<Vec<Value>>>()?;
            side.push_decoded(
                attribute.label.as_str().into(),
                AttributeCounts::decoded(
                    values,
                    attribute.counts.clone(),
                    attribute.totals.clone(),
                    attribute.overflow,
                ),
            );
        }
    }
    into.merge(&decoded)
}
