//! Quorum routing with fake ingesters: RF=3 with one, two or all replicas failing, refusals,
//! a hung replica, and back-pressure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use contrail_proto::internal::v1::{PushErrorReason, TraceSegment};
use contrail_proto::{ErrorCode, PushBatch, PushError, PushOutcome, PushTarget, TenantId};
use contrail_ring::{Member, RingSnapshot};
use tokio_util::task::TaskTracker;

use super::{RouteArgs, RouteOutcome, route};
use crate::error::Error;
use crate::metrics::DistributorMetrics;

#[derive(Clone, Copy)]
enum Mode {
    Accept,
    Unreachable,
    Refuse(PushErrorReason),
    Overloaded,
    Hang,
}

struct FakeIngester {
    mode: Mode,
    received: Mutex<Vec<PushBatch>>,
}

#[async_trait]
impl PushTarget for FakeIngester {
    async fn push(&self, _: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError> {
        let segments = batch.segments.len();
        self.received.lock().expect("lock").push(batch);
        match self.mode {
            Mode::Accept => Ok(PushOutcome::all_accepted()),
            Mode::Unreachable => Err(PushError::Unreachable("connection refused".to_owned())),
            Mode::Refuse(reason) => Ok(PushOutcome {
                errors_by_segment: vec![reason; segments],
            }),
            Mode::Overloaded => Err(PushError::Ingester {
                code: ErrorCode::RateLimited,
                message: "memory limit".to_owned(),
            }),
            Mode::Hang => std::future::pending().await,
        }
    }
}

fn ingesters(modes: &[Mode]) -> (Vec<Arc<FakeIngester>>, RingSnapshot) {
    let fakes: Vec<Arc<FakeIngester>> = modes
        .iter()
        .map(|mode| {
            Arc::new(FakeIngester {
                mode: *mode,
                received: Mutex::new(Vec::new()),
            })
        })
        .collect();
    let members = fakes
        .iter()
        .enumerate()
        .map(|(index, fake)| {
            Member::new(
                format!("ingester-{index}"),
                Arc::clone(fake) as Arc<dyn PushTarget>,
            )
        })
        .collect();
    (fakes, RingSnapshot::of(members, 3))
}

fn segments(count: u8) -> Vec<TraceSegment> {
    (0..count)
        .map(|index| TraceSegment {
            trace_id: Bytes::from(vec![index; 16]),
            trace: Bytes::from_static(b""),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            span_count: 2,
        })
        .collect()
}

async fn run(snapshot: RingSnapshot, count: u8) -> Result<RouteOutcome, Error> {
    let tenant = TenantId::new("t").expect("tenant");
    let metrics = DistributorMetrics::new(&prometheus::Registry::new()).expect("metrics");
    let tracker = TaskTracker::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        route(RouteArgs {
            tenant: &tenant,
            segments: segments(count),
            checked: true,
            snapshot,
            quorum: 2,
            tracker: &tracker,
            metrics: &metrics,
        }),
    )
    .await
    .expect("answered without waiting for every replica")
}

#[tokio::test]
async fn rf3_succeeds_with_one_replica_down_and_every_segment_reaches_all_three() {
    let (fakes, snapshot) = ingesters(&[Mode::Accept, Mode::Unreachable, Mode::Accept]);
    let outcome = run(snapshot, 20).await.expect("quorum of 2 of 3");
    assert_eq!(outcome.accepted_spans, 40);
    assert!(outcome.refused_spans.is_empty());
    for fake in &fakes {
        let received: usize = fake
            .received
            .lock()
            .expect("lock")
            .iter()
            .map(|batch| batch.segments.len())
            .sum();
        assert_eq!(
            received, 20,
            "with 3 members and RF=3 every member gets every segment"
        );
    }
}

#[tokio::test]
async fn rf3_fails_with_two_replicas_down() {
    let (_, snapshot) = ingesters(&[Mode::Unreachable, Mode::Accept, Mode::Unreachable]);
    let error = run(snapshot, 5).await.unwrap_err();
    assert!(matches!(error, Error::QuorumFailed(_)), "{error}");
    assert_eq!(error.code(), ErrorCode::Unavailable);
}

#[tokio::test]
async fn fewer_healthy_members_than_the_quorum_is_no_quorum() {
    let (_, snapshot) = ingesters(&[Mode::Accept]);
    let error = run(snapshot, 1).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::NoQuorum {
                healthy: 1,
                quorum: 2
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_hung_replica_does_not_hold_the_answer() {
    let (_, snapshot) = ingesters(&[Mode::Accept, Mode::Hang, Mode::Accept]);
    let outcome = run(snapshot, 3)
        .await
        .expect("two fast replicas are a quorum");
    assert_eq!(outcome.accepted_spans, 6);
}

#[tokio::test]
async fn refusals_by_a_majority_become_partial_success() {
    let too_large = Mode::Refuse(PushErrorReason::TraceTooLarge);
    let (_, snapshot) = ingesters(&[too_large, too_large, Mode::Accept]);
    let outcome = run(snapshot, 4).await.expect("refusals are not failures");
    assert_eq!(outcome.accepted_spans, 0);
    assert_eq!(outcome.refused_spans, [(PushErrorReason::TraceTooLarge, 8)]);
}

#[tokio::test]
async fn ingester_back_pressure_is_rate_limited() {
    let (_, snapshot) = ingesters(&[Mode::Overloaded, Mode::Overloaded, Mode::Accept]);
    let error = run(snapshot, 2).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::RateLimited);
}
