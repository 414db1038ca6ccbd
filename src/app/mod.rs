//! Running a target: builds the components, serves them, and shuts down in order on SIGTERM or
//! SIGINT (or when a component stops on its own): (1) stop OTLP intake and readiness, (2) flush
//! ingesters, (3) stop the API servers, (4) flush telemetry.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use contrail_distributor::{Distributor, DistributorArgs, bind_receivers};
use contrail_overrides::Overrides;
use contrail_proto::SystemClock;
use contrail_ring::{
    DiscoveredMembers, DiscoveredMembersArgs, Discovery, INGESTER_HEALTH_SERVICE, Ring,
    RingMetrics, health_service,
};
use prometheus::Registry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic_health::ServingStatus;

use crate::config::Config;
use crate::servers::{ApiState, api_router};
use crate::target::Target;

/// A task that ended, and how.
type TaskExit = (&'static str, anyhow::Result<()>);

/// Spawns `future` on `tracker`, reporting its end on `exit_tx`.
fn spawn_component<F>(
    tracker: &TaskTracker,
    exit_tx: &mpsc::Sender<TaskExit>,
    name: &'static str,
    future: F,
) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let exit_tx = exit_tx.clone();
    tracker.spawn(async move {
        let result = future.await;
        // The receiver is gone only once shutdown has begun; nothing to report then.
        let _ = exit_tx.send((name, result)).await;
    })
}

/// Why the process is stopping.
async fn stop_signal() -> anyhow::Result<&'static str> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = terminate.recv() => Ok("SIGTERM"),
        result = tokio::signal::ctrl_c() => {
            result.context("cannot listen for SIGINT")?;
            Ok("SIGINT")
        }
    }
}

/// Runs `target` until a stop signal or until a component stops.
pub async fn run(config: Config, target: Target) -> anyhow::Result<()> {
    match target {
        Target::Distributor => {}
        Target::All | Target::Ingester => bail!(
            "target {target} runs the ingester, which is not part of this build yet; run -target=distributor with distributor.ring.addresses naming remote ingesters"
        ),
        Target::Querier | Target::QueryFrontend | Target::Compactor => {
            bail!("target {target}: the {target} component is not part of this build yet")
        }
    }
    let registry = Registry::new();
    let ready = Arc::new(AtomicBool::new(false));
    let tracker = TaskTracker::new();
    let servers_shutdown = CancellationToken::new();
    let intake_shutdown = CancellationToken::new();
    let (exit_tx, mut exit_rx) = mpsc::channel::<TaskExit>(16);
    let graceful_timeout = config.server.graceful_shutdown_timeout;

    let overrides = Overrides::new(&config.overrides, &registry)?;
    spawn_component(&tracker, &exit_tx, "overrides", {
        let overrides = Arc::clone(&overrides);
        let shutdown = servers_shutdown.clone();
        async move { Ok(overrides.run(shutdown).await?) }
    });

    let ring_config = &config.distributor.ring;
    if ring_config.addresses.is_empty() {
        bail!(
            "distributor.ring.addresses: required with -target=distributor (the ingesters to push to)"
        );
    }
    let members = DiscoveredMembers::start(DiscoveredMembersArgs {
        discovery: Discovery::new(&ring_config.addresses)?,
        health_service: INGESTER_HEALTH_SERVICE.to_owned(),
        refresh_interval: ring_config.refresh_interval,
        health_check_interval: ring_config.health_check_interval,
        health_check_timeout: ring_config.health_check_timeout,
        remote_timeout: ring_config.remote_timeout,
        metrics: RingMetrics::new(&registry, "ingester")?,
    })
    .await;
    spawn_component(&tracker, &exit_tx, "ingester-ring", {
        let members = Arc::clone(&members);
        let shutdown = servers_shutdown.clone();
        async move { Ok(members.run(shutdown).await?) }
    });
    let ring = Ring::new(members, config.replication_factor()?);

    let distributor = Distributor::new(DistributorArgs {
        config: config.distributor.clone(),
        multitenancy_enabled: config.multitenancy_enabled,
        overrides,
        ring,
        clock: SystemClock::shared(),
        registry: &registry,
    })?;
    let receivers = bind_receivers(Arc::clone(&distributor)).await?;
    let receivers_task = spawn_component(&tracker, &exit_tx, "otlp-receivers", {
        let shutdown = intake_shutdown.clone();
        async move { Ok(receivers.run(shutdown).await?) }
    });

    let http_address = config.server.http_address();
    let http_listener = tokio::net::TcpListener::bind(&http_address)
        .await
        .with_context(|| format!("cannot listen on {http_address} (server.http_listen_port)"))?;
    let router = api_router(ApiState {
        ready: Arc::clone(&ready),
        registry: registry.clone(),
    });
    spawn_component(&tracker, &exit_tx, "http-api", {
        let shutdown = servers_shutdown.clone();
        async move {
            axum::serve(http_listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .context("http api server failed")
        }
    });

    let grpc_address = config.server.grpc_address();
    let grpc_listener = tokio::net::TcpListener::bind(&grpc_address)
        .await
        .with_context(|| format!("cannot listen on {grpc_address} (server.grpc_listen_port)"))?;
    let (health_reporter, health_server) = health_service();
    spawn_component(&tracker, &exit_tx, "grpc", {
        let shutdown = servers_shutdown.clone();
        let max_recv = usize::try_from(config.server.grpc_server_max_recv_msg_size.as_u64())
            .unwrap_or(usize::MAX);
        let max_send = usize::try_from(config.server.grpc_server_max_send_msg_size.as_u64())
            .unwrap_or(usize::MAX);
        async move {
            tonic::transport::Server::builder()
                .add_service(
                    health_server
                        .max_decoding_message_size(max_recv)
                        .max_encoding_message_size(max_send),
                )
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(grpc_listener),
                    shutdown.cancelled_owned(),
                )
                .await
                .context("grpc server failed")
        }
    });
    drop(exit_tx);

    ready.store(true, Ordering::SeqCst);
    tracing::info!(
        version = crate::VERSION,
        target = %target,
        http = %http_address,
        grpc = %grpc_address,
        "contrail started"
    );

    let early_exit_opt = tokio::select! {
        signal = stop_signal() => {
            tracing::info!(signal = signal?, "shutting down");
            None
        }
        exit = exit_rx.recv() => exit,
    };
    let outcome = match early_exit_opt {
        None => Ok(()),
        Some((name, Ok(()))) => {
            tracing::error!(
                component = name,
                "component stopped on its own; shutting down"
            );
            Err(anyhow::anyhow!("component {name} stopped on its own"))
        }
        Some((name, Err(error))) => {
            tracing::error!(component = name, error = %format!("{error:#}"), "component failed; shutting down");
            Err(error.context(format!("component {name} failed")))
        }
    };

    // (1) Stop intake: not ready, OTLP listeners closed once in-flight exports are answered,
    //     replica pushes still running after their answer allowed to finish.
    ready.store(false, Ordering::SeqCst);
    health_reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    distributor.stop_accepting();
    intake_shutdown.cancel();
    if tokio::time::timeout(graceful_timeout, receivers_task)
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?graceful_timeout, "otlp receivers did not stop in time");
    }
    distributor.drain(graceful_timeout).await;
    // (2) Ingester flush: no ingester runs in this build.
    // (3) API servers and background loops.
    servers_shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(graceful_timeout + Duration::from_secs(1), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?graceful_timeout, "components did not stop in time");
    }
    // (4) Telemetry: logs go to stderr unbuffered; nothing is left to flush.
    tracing::info!("contrail stopped");
    outcome
}
