//! The API servers every target runs: one axum router on `server.http_listen_port` (`/ready`,
//! `/metrics`, `/api/echo`, `/api/status/buildinfo`, plus the routers components give) and one
//! tonic server on `server.grpc_listen_port` (`grpc.health.v1`, plus component services).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use prometheus::{Encoder, Registry, TextEncoder};

/// What the API handlers read.
#[derive(Clone)]
pub struct ApiState {
    /// True once start-up is done, false again from the first step of shutdown.
    pub ready: Arc<AtomicBool>,
    /// Every component's metrics.
    pub registry: Registry,
}

/// The routes every target serves. `query_api`: the querier's router is merged in and
/// serves `/api/echo` and `/api/status/buildinfo` itself.
pub fn api_router(state: ApiState, query_api: bool) -> Router {
    let router = Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    let router = if query_api {
        router
    } else {
        router
            .route("/api/echo", get(|| async { "echo" }))
            .route("/api/status/buildinfo", get(buildinfo))
    };
    router.with_state(state)
}

async fn ready(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {error}"),
        )
            .into_response(),
    }
}

async fn buildinfo() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "version": crate::VERSION, "revision": "", "branch": "", "goVersion": "" })
            .to_string(),
    )
        .into_response()
}
