//! Metrics jobs sent to other processes: the receiver gets the same query, window, limits and
//! span starts; a corrupt or hostile message is an error naming what is wrong.

use super::*;
use crate::metrics::{MAX_INTERVALS, job_from_proto, job_to_proto};

fn sent() -> MetricsRequest {
    MetricsRequest {
        max_series: 7,
        max_exemplars: 5,
        span_starts: SpanStarts::from(T0 + 30 * SECOND),
        ..MetricsRequest::new(
            TimeWindow::for_range_request(T0, T0 + 600 * SECOND, 60 * SECOND).unwrap(),
        )
    }
}

#[test]
fn a_job_round_trips() {
    let query = "{ } | rate() by (resource.service.name)";
    for request in [
        sent(),
        MetricsRequest::new(TimeWindow::instant(T0, T0 + 90 * SECOND).unwrap()),
    ] {
        let received = job_from_proto(&job_to_proto(query, &request, 1024)).unwrap();
        assert_eq!(received.query.request, request);
        assert_eq!(received.memory_budget_bytes, 1024);
        assert_eq!(received.query.plan, MetricsPlan::parse(query).unwrap());
    }
}

#[test]
fn bad_jobs_are_errors_naming_the_problem() {
    let good = job_to_proto("{ } | rate()", &sent(), 0);
    let cases: Vec<(contrail_proto::internal::v1::MetricsJobRequest, &str)> = vec![
        (
            contrail_proto::internal::v1::MetricsJobRequest {
                window: None,
                ..good.clone()
            },
            "no window",
        ),
        (
            contrail_proto::internal::v1::MetricsJobRequest {
                span_start_first: 10,
                span_start_last: 9,
                ..good.clone()
            },
            "span starts are empty",
        ),
        (
            contrail_proto::internal::v1::MetricsJobRequest {
                query: "{ } | select(span.a)".to_owned(),
                ..good.clone()
            },
            "metrics",
        ),
        (
            contrail_proto::internal::v1::MetricsJobRequest {
                max_series: u32::MAX,
                ..good.clone()
            },
            "max_series",
        ),
    ];
    for (message, expected) in cases {
        let error = job_from_proto(&message).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error:?} should name {expected:?}"
        );
    }
    let mut unaligned = good.clone();
    if let Some(window) = unaligned.window.as_mut() {
        window.start_unix_nano += 1;
    }
    assert!(
        job_from_proto(&unaligned)
            .unwrap_err()
            .to_string()
            .contains("aligned")
    );
    let mut huge = good;
    if let Some(window) = huge.window.as_mut() {
        window.step_nano = 1;
        window.start_unix_nano = T0;
        window.end_unix_nano = T0 + (MAX_INTERVALS + 2);
    }
    assert!(
        job_from_proto(&huge)
            .unwrap_err()
            .to_string()
            .contains("intervals")
    );
}
