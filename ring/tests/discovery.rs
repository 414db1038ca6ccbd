//! Discovery from a static list and from DNS (A and SRV records served by a small DNS server on
//! 127.0.0.1:0), re-resolved while the records change; health checks over `grpc.health.v1`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contrail_ring::{
    DiscoveredMembers, DiscoveredMembersArgs, Discovery, INGESTER_HEALTH_SERVICE, MemberSource,
    RingConfig, RingMetrics, check_health, health_service,
};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tonic_health::ServingStatus;

type Zone = Arc<Mutex<HashMap<(String, RecordType), Vec<RData>>>>;

/// Answers A and SRV queries from `zone`; NXDOMAIN for anything else.
async fn start_dns_server(zone: Zone) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let address = socket.local_addr().expect("address");
    let handle = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let mut response = Message::response(request.metadata.id, OpCode::Query);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            response.metadata.authoritative = true;
            let mut found_any = false;
            for query in &request.queries {
                let name = query.name().to_utf8();
                let key = (name.trim_end_matches('.').to_owned(), query.query_type());
                if let Some(rdatas) = zone.lock().expect("zone").get(&key) {
                    for rdata in rdatas {
                        found_any = true;
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            0,
                            rdata.clone(),
                        ));
                    }
                }
                response.add_query(query.clone());
            }
            if !found_any {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    (address, handle)
}

fn a_records(ips: &[[u8; 4]]) -> Vec<RData> {
    ips.iter()
        .map(|ip| RData::A(A(Ipv4Addr::from(*ip))))
        .collect()
}

fn srv_records(targets: &[(&str, u16)]) -> Vec<RData> {
    targets
        .iter()
        .map(|(target, port)| {
            RData::SRV(SRV::new(
                0,
                10,
                *port,
                Name::from_ascii(format!("{target}.")).expect("name"),
            ))
        })
        .collect()
}

#[tokio::test]
async fn static_addresses_are_members_as_written() {
    let discovery = Discovery::new(&["ingester-b:9095".to_owned(), "ingester-a:9095".to_owned()])
        .expect("valid");
    assert_eq!(
        discovery.resolve().await.expect("resolves"),
        ["ingester-a:9095", "ingester-b:9095"]
    );
}

#[test]
fn bad_addresses_fail_validation_naming_the_entry() {
    for bad in [
        "ingester",
        "dns+ingester",
        "ingester:port",
        "dnssrv+host:9095",
        "ingester:0",
    ] {
        let config = RingConfig {
            addresses: vec!["ok:1".to_owned(), bad.to_owned()],
            ..RingConfig::default()
        };
        let error = config.validate("distributor.ring").unwrap_err().to_string();
        assert!(
            error.contains("distributor.ring.addresses[1]"),
            "{bad}: {error}"
        );
    }
    let zero_rf = RingConfig {
        replication_factor: 0,
        ..RingConfig::default()
    };
    assert!(
        zero_rf
            .validate("distributor.ring")
            .unwrap_err()
            .to_string()
            .contains("replication_factor")
    );
}

#[tokio::test]
async fn dns_a_and_srv_records_are_resolved_again_when_they_change() {
    let zone: Zone = Arc::default();
    zone.lock().expect("zone").insert(
        ("ingester.tempo.svc".to_owned(), RecordType::A),
        a_records(&[[10, 0, 0, 2], [10, 0, 0, 1]]),
    );
    zone.lock().expect("zone").insert(
        ("_grpc._tcp.ingester.tempo.svc".to_owned(), RecordType::SRV),
        srv_records(&[
            ("ingester-0.ingester.tempo.svc", 9095),
            ("ingester-1.ingester.tempo.svc", 9095),
        ]),
    );
    let (server, server_task) = start_dns_server(Arc::clone(&zone)).await;

    let a_discovery =
        Discovery::with_name_server(&["dns+ingester.tempo.svc:9095".to_owned()], server)
            .expect("valid");
    assert_eq!(
        a_discovery.resolve().await.expect("resolves"),
        ["10.0.0.1:9095", "10.0.0.2:9095"]
    );
    let srv_discovery =
        Discovery::with_name_server(&["dnssrv+_grpc._tcp.ingester.tempo.svc".to_owned()], server)
            .expect("valid");
    assert_eq!(
        srv_discovery.resolve().await.expect("resolves"),
        [
            "ingester-0.ingester.tempo.svc:9095",
            "ingester-1.ingester.tempo.svc:9095"
        ]
    );

    // A pod is added to the StatefulSet: the next resolution sees it (no stale cache).
    zone.lock().expect("zone").insert(
        ("_grpc._tcp.ingester.tempo.svc".to_owned(), RecordType::SRV),
        srv_records(&[
            ("ingester-0.ingester.tempo.svc", 9095),
            ("ingester-1.ingester.tempo.svc", 9095),
            ("ingester-2.ingester.tempo.svc", 9095),
        ]),
    );
    assert_eq!(srv_discovery.resolve().await.expect("resolves").len(), 3);

    // Every pod gone: the name has no records, which means no members (not an error).
    zone.lock().expect("zone").clear();
    assert!(a_discovery.resolve().await.expect("resolves").is_empty());
    assert!(srv_discovery.resolve().await.expect("resolves").is_empty());
    server_task.abort();
}

/// A gRPC server with only the health service, whose ingester status `reporter` sets.
async fn start_health_server(
    status: ServingStatus,
) -> (
    SocketAddr,
    tonic_health::server::HealthReporter,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (reporter, service) = health_service();
    reporter
        .set_service_status(INGESTER_HEALTH_SERVICE, status)
        .await;
    let handle = tokio::spawn(async move {
        let incoming = tokio_stream_listener(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    (address, reporter, handle)
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

fn channel(address: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_lazy()
}

#[tokio::test]
async fn health_checks_follow_the_reported_status() {
    let (address, reporter, server) = start_health_server(ServingStatus::NotServing).await;
    let timeout = Duration::from_secs(2);
    assert!(!check_health(channel(address), INGESTER_HEALTH_SERVICE, timeout).await);
    reporter
        .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    assert!(check_health(channel(address), INGESTER_HEALTH_SERVICE, timeout).await);
    assert!(!check_health(channel(address), "some.other.Service", timeout).await);
    server.abort();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_address = dead.local_addr().expect("address");
    drop(dead);
    assert!(!check_health(channel(dead_address), INGESTER_HEALTH_SERVICE, timeout).await);
}

#[tokio::test]
async fn discovered_members_are_placed_only_while_healthy() {
    let (up, up_reporter, up_server) = start_health_server(ServingStatus::Serving).await;
    let (starting, starting_reporter, starting_server) =
        start_health_server(ServingStatus::NotServing).await;
    let dead_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead = dead_listener.local_addr().expect("address");
    drop(dead_listener);
    let registry = prometheus::Registry::new();
    let members = DiscoveredMembers::start(DiscoveredMembersArgs {
        discovery: Discovery::new(&[up.to_string(), starting.to_string(), dead.to_string()])
            .expect("valid"),
        health_service: INGESTER_HEALTH_SERVICE.to_owned(),
        refresh_interval: Duration::from_secs(60),
        health_check_interval: Duration::from_millis(20),
        health_check_timeout: Duration::from_secs(1),
        remote_timeout: Duration::from_secs(1),
        metrics: RingMetrics::new(&registry, "ingester").expect("metrics"),
    })
    .await;
    let healthy_ids = |members: &DiscoveredMembers| -> Vec<String> {
        members
            .healthy_members()
            .iter()
            .map(|member| member.id().to_owned())
            .collect()
    };
    assert_eq!(healthy_ids(&members), [up.to_string()]);

    // The second ingester finishes its WAL replay; the first shuts down.
    starting_reporter
        .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    up_reporter
        .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::NotServing)
        .await;
    members.check_all().await;
    assert_eq!(healthy_ids(&members), [starting.to_string()]);

    // The background loop keeps checking.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&members).run(shutdown.clone()));
    up_reporter
        .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while healthy_ids(&members).len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "loop never saw the member recover"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await.expect("joins").expect("loop ends cleanly");
    let gathered = registry.gather();
    let members_family = gathered
        .iter()
        .find(|family| family.name() == "contrail_ring_members")
        .expect("members gauge");
    assert!(!members_family.get_metric().is_empty());
    up_server.abort();
    starting_server.abort();
}
