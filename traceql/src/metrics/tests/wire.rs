//! The wire form: round trips, and clear errors (never a panic) for corrupt or mismatched
//! messages.

use contrail_proto::internal::v1 as pb;
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::ErrorKind;
use crate::metrics::{MetricsPlan, wire};

fn encoded(
    query: &str,
    window: TimeWindow,
    spans: &[TestSpan],
    exemplars: u32,
) -> (MetricsPlan, MetricsRequest, Vec<u8>) {
    let plan = MetricsPlan::parse(query).unwrap();
    let mut request = request(window);
    request.max_exemplars = exemplars;
    let partial = job(&plan, &request, &[batch(spans)]);
    let bytes = wire::encode(&partial);
    (plan, request, bytes)
}

fn spans() -> Vec<TestSpan> {
    vec![
        span(1, T0 + SECOND, 100_000_000, "a").with("x", Value::Float(0.1)),
        span(2, T0 + 70 * SECOND, 3, "b").with("x", Value::Int(7)),
        span(3, T0 + 75 * SECOND, 1, "b").with_attribute(
            intrinsic(Intrinsic::Status),
            Value::Status(crate::ast::Status::Error),
        ),
    ]
}

#[test]
fn round_trips_give_the_same_answer() {
    for query in [
        "{ } | sum_over_time(span.x) by (resource.service.name)",
        "{ } | quantile_over_time(duration, .5) by (status)",
        "{ } | max_over_time(duration) by (span.x)",
        "{ } | compare({ status = error })",
    ] {
        let (plan, request, bytes) = encoded(query, range(2, 60), &spans(), 2);
        let decoded = wire::decode(&bytes, &plan, &request).unwrap();
        let direct = job(&plan, &request, &[batch(&spans())]);
        let text = |partial| format!("{:?}", plan.evaluate(&request, partial).unwrap().series);
        assert_eq!(text(&decoded), text(&direct), "{query}");
        assert_eq!(
            wire::encode(&decoded),
            bytes,
            "{query}: re-encoding is stable"
        );
    }
}

#[test]
fn empty_leading_and_trailing_cells_are_not_sent() {
    let sparse = vec![span(1, T0 + 200 * 60 * SECOND, 1_000, "a")];
    let (_, _, bytes) = encoded("{ } | count_over_time()", range(240, 60), &sparse, 0);
    let message = pb::MetricsPartial::decode(bytes.as_slice()).unwrap();
    let Some(pb::metrics_leaf_partial::Partial::Series(series)) = &message.leaves[0].partial else {
        panic!("a series partial")
    };
    assert_eq!(series.series[0].first_interval, 199);
    assert_eq!(series.series[0].counts, [1]);
    assert!(bytes.len() < 60, "{} bytes", bytes.len());
}

fn decode_error(
    plan: &MetricsPlan,
    request: &MetricsRequest,
    message: &pb::MetricsPartial,
) -> String {
    let error = wire::from_proto(message, plan, request).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Metrics);
    assert_eq!(error.code(), contrail_proto::ErrorCode::Internal);
    error.to_string()
}

#[test]
fn mismatched_or_corrupt_messages_are_errors() {
    let (plan, request, bytes) = encoded(
        "{ } | count_over_time() by (resource.service.name)",
        range(2, 60),
        &spans(),
        2,
    );
    assert!(
        wire::decode(b"\xff\xff\xff", &plan, &request)
            .unwrap_err()
            .to_string()
            .contains("undecodable")
    );
    let good = pb::MetricsPartial::decode(bytes.as_slice()).unwrap();
    let series_mut = |message: &mut pb::MetricsPartial| -> pb::MetricsSeriesPartial {
        match message.leaves[0].partial.take() {
            Some(pb::metrics_leaf_partial::Partial::Series(series)) => series,
            _ => panic!("series"),
        }
    };
    let with = |series: pb::MetricsSeriesPartial| pb::MetricsPartial {
        leaves: vec![pb::MetricsLeafPartial {
            partial: Some(pb::metrics_leaf_partial::Partial::Series(series)),
        }],
    };

    let mut no_leaves = good.clone();
    no_leaves.leaves.clear();
    assert!(decode_error(&plan, &request, &no_leaves).contains("0 leaves"));

    let mut other_window = good.clone();
    let mut series = series_mut(&mut other_window);
    series.window.as_mut().unwrap().step_nano += 1;
    assert!(decode_error(&plan, &request, &with(series)).contains("another time window"));

    let mut too_long = good.clone();
    let mut series = series_mut(&mut too_long);
    series.series[0].counts = vec![1; 5];
    assert!(decode_error(&plan, &request, &with(series)).contains("more cells"));

    let mut offset = good.clone();
    let mut series = series_mut(&mut offset);
    series.series[0].first_interval = u32::MAX;
    assert!(decode_error(&plan, &request, &with(series)).contains("more cells"));

    let mut wrong_group = good.clone();
    let mut series = series_mut(&mut wrong_group);
    series.series[0].group.clear();
    assert!(decode_error(&plan, &request, &with(series)).contains("group values"));

    let mut bad_kind = good.clone();
    let mut series = series_mut(&mut bad_kind);
    series.kind = 99;
    assert!(decode_error(&plan, &request, &with(series)).contains("cell kind"));

    let mut bucket = good.clone();
    let mut series = series_mut(&mut bucket);
    series.series[0].has_bucket = true;
    assert!(decode_error(&plan, &request, &with(series)).contains("bucket"));

    let mut status = good.clone();
    let mut series = series_mut(&mut status);
    series.series[0].group[0] = pb::MetricsValue {
        value: Some(pb::metrics_value::Value::Status(7)),
    };
    assert!(decode_error(&plan, &request, &with(series)).contains("unknown status"));

    let compare = MetricsPlan::parse("{ } | compare({ status = error })").unwrap();
    assert!(decode_error(&compare, &request, &good).contains("does not match"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let plan = MetricsPlan::parse("{ } | sum_over_time(span.x) by (resource.service.name)").unwrap();
        let request = request(range(2, 60));
        let _ = wire::decode(&bytes, &plan, &request);
        let compare = MetricsPlan::parse("{ } | compare({ status = error })").unwrap();
        let _ = wire::decode(&bytes, &compare, &request);
    }
}
