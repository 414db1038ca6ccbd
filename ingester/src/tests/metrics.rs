//! TraceQL metrics over recent data (`QueryRangeRecent`): live traces and local complete blocks
//! both count, each span once, only the job's span starts; bad jobs are `InvalidArgument`.

use contrail_proto::internal::v1::ingester_service_server::IngesterService;
use contrail_proto::internal::v1::{MetricsPartial, QueryRangeRecentRequest, TraceSegment};
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::{PushBatch, TraceId, tempopb};
use contrail_traceql::metrics::{
    MetricsPlan, MetricsRequest, SpanStarts, TimeWindow, job_to_proto, wire,
};

use super::support::{Fixture, START_UNIX_NANO, block_count, eventually, tenant};
use crate::grpc::GrpcIngester;

pub(super) const SECOND: u64 = 1_000_000_000;
pub(super) const QUERY: &str = "{ } | count_over_time() by (resource.service.name)";

/// Trace `index`: spans of `service` starting at `START + offsets[i]` seconds.
pub(super) fn segment(index: u8, service: &str, offsets: &[u64]) -> TraceSegment {
    let mut id = [0u8; 16];
    id[0] = 0xab;
    id[15] = index;
    let spans = offsets
        .iter()
        .enumerate()
        .map(|(position, offset)| Span {
            trace_id: id.to_vec(),
            span_id: vec![index, 0, 0, 0, 0, 0, 0, position as u8 + 1],
            name: "op".to_owned(),
            start_time_unix_nano: START_UNIX_NANO + offset * SECOND,
            end_time_unix_nano: START_UNIX_NANO + offset * SECOND + 1_000,
            ..Span::default()
        })
        .collect();
    let trace = tempopb::Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.to_owned())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    TraceSegment::from_trace(TraceId::from_array(id), &trace)
}

pub(super) fn request(span_starts: SpanStarts) -> MetricsRequest {
    let window =
        TimeWindow::instant(START_UNIX_NANO - 60 * SECOND, START_UNIX_NANO + 60 * SECOND).unwrap();
    MetricsRequest {
        span_starts,
        ..MetricsRequest::new(window)
    }
}

/// Counts by service of a partial answered for `request`.
pub(super) fn counts(message: &MetricsPartial, request: &MetricsRequest) -> Vec<(String, f64)> {
    let plan = MetricsPlan::parse(QUERY).unwrap();
    let partial = wire::from_proto(message, &plan, request).unwrap();
    let result = plan.evaluate(request, &partial).unwrap();
    result
        .series
        .series
        .iter()
        .map(|series| (series.key(), series.values[0]))
        .collect()
}

async fn ask(
    service: &GrpcIngester,
    request: &MetricsRequest,
) -> Result<MetricsPartial, tonic::Status> {
    service
        .query_range_recent(tonic::Request::new(QueryRangeRecentRequest {
            tenant: tenant().to_string(),
            request: Some(job_to_proto(QUERY, request, 0)),
            ownership: None,
        }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_live_traces_and_local_blocks_once_within_the_span_starts() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let ingester = &running.ingester;
    // Into a local complete block (and the object store): a at +1 s and +2 s, b at +3 s.
    ingester
        .push(
            &tenant(),
            PushBatch {
                segments: vec![segment(1, "a", &[1, 2]), segment(2, "b", &[3])],
                checked: true,
            },
        )
        .await
        .expect("push");
    ingester.request_flush();
    eventually("the block", || async {
        block_count(&fixture.store, &tenant()).await == 1
    })
    .await;
    // Live: a at +5 s, b at +6 s and +7 s.
    ingester
        .push(
            &tenant(),
            PushBatch {
                segments: vec![segment(3, "a", &[5]), segment(4, "b", &[6, 7])],
                checked: true,
            },
        )
        .await
        .expect("push");
    let service = GrpcIngester::new(ingester.clone());

    let everything = request(SpanStarts::ALL);
    let answer = ask(&service, &everything).await.expect("metrics");
    assert_eq!(
        counts(&answer, &everything),
        [
            ("{resource.service.name=\"a\"}".to_owned(), 3.0),
            ("{resource.service.name=\"b\"}".to_owned(), 3.0)
        ]
    );

    // Only spans from +2.5 s on: the block's a spans are the backend's to count.
    let after_cut = request(SpanStarts::from(START_UNIX_NANO + 2 * SECOND + SECOND / 2));
    let answer = ask(&service, &after_cut).await.expect("metrics");
    assert_eq!(
        counts(&answer, &after_cut),
        [
            ("{resource.service.name=\"a\"}".to_owned(), 1.0),
            ("{resource.service.name=\"b\"}".to_owned(), 3.0)
        ]
    );

    // Nothing after the window: an empty answer, not an error.
    let later = request(SpanStarts::from(START_UNIX_NANO + 3600 * SECOND));
    let answer = ask(&service, &later).await.expect("metrics");
    assert!(counts(&answer, &later).is_empty());
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metrics_jobs_are_invalid_arguments_naming_the_fault() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let service = GrpcIngester::new(running.ingester.clone());
    let good = job_to_proto(QUERY, &request(SpanStarts::ALL), 0);
    let cases = [
        (
            QueryRangeRecentRequest {
                tenant: tenant().to_string(),
                request: None,
                ownership: None,
            },
            "request missing",
        ),
        (
            QueryRangeRecentRequest {
                tenant: String::new(),
                request: Some(good.clone()),
                ownership: None,
            },
            "tenant",
        ),
        (
            QueryRangeRecentRequest {
                tenant: tenant().to_string(),
                request: Some(contrail_proto::internal::v1::MetricsJobRequest {
                    query: "{ } | rate(".to_owned(),
                    ..good.clone()
                }),
                ownership: None,
            },
            "metrics query over recent data failed",
        ),
        (
            QueryRangeRecentRequest {
                tenant: tenant().to_string(),
                request: Some(contrail_proto::internal::v1::MetricsJobRequest {
                    window: None,
                    ..good
                }),
                ownership: None,
            },
            "no window",
        ),
    ];
    for (message, expected) in cases {
        let status = service
            .query_range_recent(tonic::Request::new(message))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{status:?}");
    }
    running.stop().await.expect("stop");
}
