//! Recent metrics with replicas (ADR 013): ingesters holding the same traces, each asked with
//! the ring and the asked set, count every trace exactly once between them, live traces and
//! local blocks alike; with one replica not asked the others cover its traces; a malformed
//! ownership is an `InvalidArgument` naming the fault.

use contrail_proto::PushBatch;
use contrail_proto::internal::v1::ingester_service_server::IngesterService;
use contrail_proto::internal::v1::{MetricsPartial, QueryRangeRecentRequest, RecentOwnership};
use contrail_traceql::metrics::{MetricsRequest, SpanStarts, job_to_proto};

use super::metrics::{QUERY, counts, request, segment};
use super::support::{Fixture, block_count, eventually, tenant};
use crate::grpc::GrpcIngester;

const MEMBERS: [&str; 3] = [
    "ingester-0.ingester:9095",
    "ingester-1.ingester:9095",
    "ingester-2.ingester:9095",
];

fn ownership(asked: &[u32], receiver: u32) -> RecentOwnership {
    RecentOwnership {
        members: MEMBERS.iter().map(|id| (*id).to_owned()).collect(),
        replication_factor: 3,
        asked: asked.to_vec(),
        receiver,
    }
}

async fn ask(
    service: &GrpcIngester,
    request: &MetricsRequest,
    ownership: Option<RecentOwnership>,
) -> Result<MetricsPartial, tonic::Status> {
    service
        .query_range_recent(tonic::Request::new(QueryRangeRecentRequest {
            tenant: tenant().to_string(),
            request: Some(job_to_proto(QUERY, request, 0)),
            ownership,
        }))
        .await
        .map(tonic::Response::into_inner)
}

/// Per-service counts summed over the answers.
fn summed(answers: &[Vec<(String, f64)>]) -> Vec<(String, f64)> {
    let mut total: std::collections::BTreeMap<String, f64> = Default::default();
    for answer in answers {
        for (key, value) in answer {
            *total.entry(key.clone()).or_default() += value;
        }
    }
    total.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_holding_the_same_traces_count_each_once_between_them() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let ingester = &running.ingester;
    // Many traces (so every replica owns some), half in a local block, half live.
    let block: Vec<_> = (0..40)
        .map(|index| segment(index, if index % 2 == 0 { "a" } else { "b" }, &[1, 2]))
        .collect();
    ingester
        .push(
            &tenant(),
            PushBatch {
                segments: block,
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
    let live: Vec<_> = (40..80)
        .map(|index| segment(index, if index % 3 == 0 { "a" } else { "b" }, &[5]))
        .collect();
    ingester
        .push(
            &tenant(),
            PushBatch {
                segments: live,
                checked: true,
            },
        )
        .await
        .expect("push");
    let service = GrpcIngester::new(ingester.clone());
    let everything = request(SpanStarts::ALL);
    let alone = counts(
        &ask(&service, &everything, None).await.expect("metrics"),
        &everything,
    );
    assert_eq!(
        alone,
        [
            ("{resource.service.name=\"a\"}".to_owned(), 53.0),
            ("{resource.service.name=\"b\"}".to_owned(), 67.0)
        ]
    );

    // This ingester plays each of three replicas holding the same data in turn.
    let mut answers = Vec::new();
    for receiver in 0..3 {
        let answer = ask(&service, &everything, Some(ownership(&[0, 1, 2], receiver)))
            .await
            .expect("metrics");
        let answer = counts(&answer, &everything);
        assert!(!answer.is_empty(), "replica {receiver} owns no trace");
        answers.push(answer);
    }
    assert_eq!(summed(&answers), alone);
    // Each replica alone counts less than the total: the filter does something.
    for answer in &answers {
        assert_ne!(answer, &alone);
    }

    // Replica 1 unreachable, so not asked: 0 and 2 cover its traces.
    let mut answers = Vec::new();
    for receiver in [0, 2] {
        let answer = ask(&service, &everything, Some(ownership(&[0, 2], receiver)))
            .await
            .expect("metrics");
        answers.push(counts(&answer, &everything));
    }
    assert_eq!(summed(&answers), alone);

    // One ingester asked, or RF = 1: every trace counts.
    let single = ask(&service, &everything, Some(ownership(&[2], 2)))
        .await
        .expect("metrics");
    assert_eq!(counts(&single, &everything), alone);
    let rf1 = RecentOwnership {
        replication_factor: 1,
        ..ownership(&[0, 1, 2], 0)
    };
    let rf1 = ask(&service, &everything, Some(rf1))
        .await
        .expect("metrics");
    assert_eq!(counts(&rf1, &everything), alone);
    running.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ownership_is_an_invalid_argument_naming_the_fault() {
    let fixture = Fixture::new();
    let running = fixture.start().await;
    let service = GrpcIngester::new(running.ingester.clone());
    let everything = request(SpanStarts::ALL);
    let cases = [
        (ownership(&[0, 1, 2], 3), "receiver 3 is not a member index"),
        (
            ownership(&[0, 7], 0),
            "asked member 7 is not a member index",
        ),
        (ownership(&[0, 1], 2), "is not among the asked members"),
        (
            RecentOwnership {
                members: Vec::new(),
                ..ownership(&[0], 0)
            },
            "no members",
        ),
        (
            RecentOwnership {
                members: vec![MEMBERS[0].to_owned(), MEMBERS[0].to_owned()],
                ..ownership(&[0, 1], 0)
            },
            "listed twice",
        ),
    ];
    for (wire, expected) in cases {
        let status = ask(&service, &everything, Some(wire))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{status:?}");
    }
    running.stop().await.expect("stop");
}
