//! The ingester's HTTP endpoints as Tempo has them: `/flush` (cut and upload everything held,
//! asynchronously) and `/shutdown` (stop taking pushes, flush everything, stop the ingester),
//! both `GET` or `POST`, answering 204; `/ready` answers 200 once the WAL is replayed, 503 before.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::service::Ingester;

/// The router, to be merged into the API server's on port 3200.
pub fn router(ingester: Ingester) -> Router {
    Router::new()
        .route("/flush", get(flush).post(flush))
        .route("/shutdown", get(shutdown).post(shutdown))
        .route("/ingester/ready", get(ready))
        .with_state(ingester)
}

async fn flush(State(ingester): State<Ingester>) -> StatusCode {
    tracing::info!("flush requested over http");
    ingester.request_flush();
    StatusCode::NO_CONTENT
}

async fn shutdown(State(ingester): State<Ingester>) -> StatusCode {
    tracing::info!("shutdown requested over http");
    ingester.request_shutdown();
    StatusCode::NO_CONTENT
}

async fn ready(State(ingester): State<Ingester>) -> (StatusCode, &'static str) {
    if ingester.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "ingester not ready: wal replay in progress\n",
        )
    }
}
