//! Health over the standard `grpc.health.v1` protocol: what Kubernetes probes and what the ring
//! checks. The ingester mounts [`health_service`] on its gRPC server and reports
//! [`INGESTER_HEALTH_SERVICE`] as serving once its WAL replay is done.

use std::time::Duration;

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// The service name the ring asks about (the internal ingester service's full name).
pub const INGESTER_HEALTH_SERVICE: &str = "contrail.internal.v1.IngesterService";

/// A `grpc.health.v1.Health` server and the reporter that sets its statuses. The ingester calls
/// `reporter.set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::Serving)` when it can
/// take pushes, and `NotServing` when it stops (shutdown).
pub fn health_service() -> (HealthReporter, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    let server = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    (reporter, server)
}

/// Whether the member behind `channel` reports `service` as serving within `timeout`.
pub async fn check_health(channel: Channel, service: &str, timeout: Duration) -> bool {
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
        Ok(Err(_)) | Err(_) => false,
    }
}
