//! Running a target: builds the components the target names (`all`: distributor, ingester,
//! querier with its query-frontend, compactor, in one process), serves them, and shuts down in
//! order on SIGTERM or SIGINT (or when a component stops on its own): (1) stop OTLP intake and
//! readiness, (2) stop the ingester (it flushes or keeps its WAL for replay: acknowledged spans
//! are never lost), (3) stop the API servers and background loops, (4) flush telemetry.
//! Files: `limits` (overrides adapters), `write` (ingester, distributor), `read` (querier),
//! `compact` (compactor), then this file.

mod compact;
mod limits;
mod read;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use contrail_distributor::{bind_receivers, no_delay};
use contrail_overrides::Overrides;
use contrail_proto::{Clock, SystemClock};
use contrail_ring::{INGESTER_HEALTH_SERVICE, Ring, health_service};
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

/// Which components a target runs.
#[derive(Debug, Clone, Copy)]
struct Parts {
    distributor: bool,
    ingester: bool,
    querier: bool,
    compactor: bool,
}

impl Parts {
    fn of(target: Target) -> Parts {
        let all = target == Target::All;
        Parts {
            distributor: all || target == Target::Distributor,
            ingester: all || target == Target::Ingester,
            // the query-frontend runs inside every querier (block jobs on its local pool)
            querier: all || matches!(target, Target::Querier | Target::QueryFrontend),
            compactor: all || target == Target::Compactor,
        }
    }
}

/// Runs `target` until a stop signal or until a component stops.
pub async fn run(config: Config, target: Target) -> anyhow::Result<()> {
    let parts = Parts::of(target);
    let registry = Registry::new();
    let clock: Arc<dyn Clock> = SystemClock::shared();
    let ready = Arc::new(AtomicBool::new(false));
    let tracker = TaskTracker::new();
    let servers_shutdown = CancellationToken::new();
    let intake_shutdown = CancellationToken::new();
    let ingester_shutdown = CancellationToken::new();
    let (exit_tx, mut exit_rx) = mpsc::channel::<TaskExit>(16);
    let graceful_timeout = config.server.graceful_shutdown_timeout;

    let overrides = Overrides::new(&config.overrides, &registry)?;
    spawn_component(&tracker, &exit_tx, "overrides", {
        let overrides = Arc::clone(&overrides);
        let shutdown = servers_shutdown.clone();
        async move { Ok(overrides.run(shutdown).await?) }
    });
    let store = if parts.ingester || parts.querier || parts.compactor {
        Some(
            contrail_storage::build_object_store(&config.storage.trace, &registry)
                .context("storage.trace")?,
        )
    } else {
        None
    };
    let store_of = || {
        store
            .clone()
            .context("no object store was built for this target")
    };

    let mut http = Router::new();
    let mut grpc = tonic::service::Routes::builder();
    let (health_reporter, health_server) = health_service();

    // The ingester: WAL replay starts now; readiness waits for it.
    let ingester = if parts.ingester {
        let ingester = write::ingester(
            &config,
            store_of()?,
            &overrides,
            Arc::clone(&clock),
            &registry,
        )?;
        let task = spawn_component(&tracker, &exit_tx, "ingester", {
            let ingester = ingester.clone();
            let shutdown = ingester_shutdown.clone();
            async move { Ok(ingester.run(shutdown).await?) }
        });
        http = http.merge(contrail_ingester::http::router(ingester.clone()));
        grpc.add_service(contrail_ingester::grpc::ingester_service(ingester.clone()));
        Some((ingester, task))
    } else {
        None
    };

    // The distributor, over the in-process ingester or the discovered ones.
    let distributor = if parts.distributor {
        let ring = match &ingester {
            Some((ingester, _)) => write::local_ring(ingester),
            None => {
                let members =
                    write::discovered_ingesters(&config, &registry, "-target=distributor").await?;
                spawn_component(&tracker, &exit_tx, "ingester-ring", {
                    let members = Arc::clone(&members);
                    let shutdown = servers_shutdown.clone();
                    async move { Ok(members.run(shutdown).await?) }
                });
                Ring::new(members, config.replication_factor()?)
            }
        };
        let distributor = write::distributor(
            &config,
            ring,
            Arc::clone(&overrides),
            Arc::clone(&clock),
            &registry,
        )?;
        let receivers = bind_receivers(Arc::clone(&distributor)).await?;
        let receivers_task = spawn_component(&tracker, &exit_tx, "otlp-receivers", {
            let shutdown = intake_shutdown.clone();
            async move { Ok(receivers.run(shutdown).await?) }
        });
        Some((distributor, receivers_task))
    } else {
        None
    };

    // The querier and its query-frontend.
    if parts.querier {
        let recent = match &ingester {
            Some((ingester, _)) => read::Recent::Local(ingester.clone()),
            None => {
                let why = format!("-target={target}");
                let members = write::discovered_ingesters(&config, &registry, &why).await?;
                spawn_component(&tracker, &exit_tx, "ingester-ring", {
                    let members = Arc::clone(&members);
                    let shutdown = servers_shutdown.clone();
                    async move { Ok(members.run(shutdown).await?) }
                });
                read::Recent::Remote(members)
            }
        };
        let read_path = read::querier(
            &config,
            store_of()?,
            recent,
            &overrides,
            Arc::clone(&clock),
            &registry,
        )?;
        spawn_component(&tracker, &exit_tx, "blocklist-poller", {
            let blocklist = read_path.querier.blocklist();
            let shutdown = servers_shutdown.clone();
            async move { Ok(blocklist.run(shutdown).await?) }
        });
        http = http.merge(read_path.api);
        grpc.add_service(read_path.jobs.into_server());
    }

    if parts.compactor {
        let compactor = compact::compactor(
            &config,
            store_of()?,
            &overrides,
            Arc::clone(&clock),
            &registry,
        )?;
        spawn_component(&tracker, &exit_tx, "compactor", {
            let shutdown = servers_shutdown.clone();
            async move { Ok(compactor.run(shutdown).await?) }
        });
    }

    let http_address = config.server.http_address();
    let http_listener = tokio::net::TcpListener::bind(&http_address)
        .await
        .with_context(|| format!("cannot listen on {http_address} (server.http_listen_port)"))?;
    let router = api_router(
        ApiState {
            ready: Arc::clone(&ready),
            registry: registry.clone(),
        },
        parts.querier,
    )
    .merge(http);
    spawn_component(&tracker, &exit_tx, "http-api", {
        let shutdown = servers_shutdown.clone();
        async move {
            axum::serve(http_listener.tap_io(no_delay), router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .context("http api server failed")
        }
    });

    let grpc_address = config.server.grpc_address();
    let grpc_listener = tokio::net::TcpListener::bind(&grpc_address)
        .await
        .with_context(|| format!("cannot listen on {grpc_address} (server.grpc_listen_port)"))?;
    let max_recv =
        usize::try_from(config.server.grpc_server_max_recv_msg_size.as_u64()).unwrap_or(usize::MAX);
    let max_send =
        usize::try_from(config.server.grpc_server_max_send_msg_size.as_u64()).unwrap_or(usize::MAX);
    grpc.add_service(
        health_server
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(max_send),
    );
    let grpc_routes = grpc.routes();
    spawn_component(&tracker, &exit_tx, "grpc", {
        let shutdown = servers_shutdown.clone();
        async move {
            tonic::transport::Server::builder()
                .add_routes(grpc_routes)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(grpc_listener)
                        // See `contrail_distributor::no_delay`.
                        .with_nodelay(Some(true)),
                    shutdown.cancelled_owned(),
                )
                .await
                .context("grpc server failed")
        }
    });
    drop(exit_tx);

    let early_exit_opt = tokio::select! {
        signal = stop_signal() => {
            tracing::info!(signal = signal?, "shutting down");
            None
        }
        exit = exit_rx.recv() => exit,
        () = become_ready(ingester.as_ref().map(|(ingester, _)| ingester), &ready, &health_reporter, target, &http_address, &grpc_address) => {
            tokio::select! {
                signal = stop_signal() => {
                    tracing::info!(signal = signal?, "shutting down");
                    None
                }
                exit = exit_rx.recv() => exit,
            }
        }
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
    if let Some((distributor, receivers_task)) = distributor {
        distributor.stop_accepting();
        intake_shutdown.cancel();
        if tokio::time::timeout(graceful_timeout, receivers_task)
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?graceful_timeout, "otlp receivers did not stop in time");
        }
        distributor.drain(graceful_timeout).await;
    }
    // (2) The ingester stops taking pushes, then flushes (or leaves its WAL for the replay).
    if let Some((_, task)) = ingester {
        health_reporter
            .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::NotServing)
            .await;
        ingester_shutdown.cancel();
        if tokio::time::timeout(INGESTER_STOP_TIMEOUT, task)
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?INGESTER_STOP_TIMEOUT, "ingester did not stop in time; its WAL is replayed at the next start");
        }
    }
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

/// How long shutdown waits for the ingester's final flush.
const INGESTER_STOP_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits for the ingester's WAL replay (when there is one), then reports ready; never returns
/// if the replay fails (the ingester's task reports the failure).
async fn become_ready(
    ingester: Option<&contrail_ingester::Ingester>,
    ready: &AtomicBool,
    health: &tonic_health::server::HealthReporter,
    target: Target,
    http_address: &str,
    grpc_address: &str,
) {
    if let Some(ingester) = ingester {
        if !ingester.wait_ready().await {
            std::future::pending::<()>().await;
        }
        health
            .set_service_status(INGESTER_HEALTH_SERVICE, ServingStatus::Serving)
            .await;
    }
    ready.store(true, Ordering::SeqCst);
    tracing::info!(
        version = crate::VERSION,
        target = %target,
        http = %http_address,
        grpc = %grpc_address,
        "contrail started"
    );
}
