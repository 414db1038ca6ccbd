//! The API answers (spec tempo-api.md §4.11, §4.12): `QueryRangeResponse` with one sample per
//! non-NaN interval (timestamp = interval end, in ms) and exemplars labelled `trace:id` and
//! `span:id`; `QueryInstantResponse` with one value per series. Series without samples are
//! omitted; a truncated answer has status `PARTIAL` and a message naming the series cap.

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::tempopb::{
    Exemplar, InstantSeries, PartialStatus, QueryInstantResponse, QueryRangeResponse, Sample,
    SearchMetrics, TimeSeries,
};

use crate::metrics::labels::key_values;
use crate::metrics::query::MetricsResult;
use crate::metrics::series::SeriesExemplar;

fn string_label(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn exemplar(item: &SeriesExemplar) -> Exemplar {
    Exemplar {
        labels: vec![
            string_label("trace:id", &item.trace_id),
            string_label("span:id", &item.span_id),
        ],
        value: item.value,
        timestamp_ms: item.timestamp_ms,
    }
}

impl MetricsResult {
    /// The message of a truncated answer.
    pub fn partial_message(&self) -> Option<String> {
        self.series.truncated.then(|| {
            format!(
                "the query exceeds the maximum of {} series per query; the result is partial",
                self.max_series
            )
        })
    }

    fn status(&self) -> (i32, String) {
        match self.partial_message() {
            Some(message) => (PartialStatus::Partial as i32, message),
            None => (PartialStatus::Complete as i32, String::new()),
        }
    }

    fn search_metrics(&self) -> Option<SearchMetrics> {
        Some(SearchMetrics {
            inspected_spans: self.inspected_spans,
            ..Default::default()
        })
    }

    /// The `/api/metrics/query_range` answer.
    pub fn to_range_response(&self) -> QueryRangeResponse {
        let series = self
            .series
            .series
            .iter()
            .filter_map(|series| {
                let samples: Vec<Sample> = series
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| !value.is_nan())
                    .map(|(index, value)| Sample {
                        value: *value,
                        timestamp_ms: self.window.timestamp_ms_of(index),
                    })
                    .collect();
                (!samples.is_empty()).then(|| TimeSeries {
                    labels: key_values(&series.labels),
                    samples,
                    exemplars: series.exemplars.iter().map(exemplar).collect(),
                })
            })
            .collect();
        let (status, message) = self.status();
        QueryRangeResponse {
            series,
            metrics: self.search_metrics(),
            status,
            message,
        }
    }

    /// The `/api/metrics/query` answer (the window's single interval).
    pub fn to_instant_response(&self) -> QueryInstantResponse {
        let series = self
            .series
            .series
            .iter()
            .filter_map(|series| {
                let value = series
                    .values
                    .first()
                    .copied()
                    .filter(|value| !value.is_nan())?;
                Some(InstantSeries {
                    labels: key_values(&series.labels),
                    value,
                })
            })
            .collect();
        let (status, message) = self.status();
        QueryInstantResponse {
            series,
            metrics: self.search_metrics(),
            status,
            message,
        }
    }
}
