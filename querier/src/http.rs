//! The Tempo HTTP query API (spec §4) as an axum [`Router`]: handlers parse parameters
//! ([`crate::params`]), resolve tenants, call the [`QueryService`] and encode the answer
//! ([`encode`]); nothing else. Responses are gzip-compressed when the client accepts it;
//! unknown routes answer 404.

pub mod encode;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use contrail_proto::TenantId;
use contrail_proto::tempopb::{
    PartialStatus, SearchResponse, SearchTagValuesResponse, SearchTagsResponse,
    SearchTagsV2Response, TraceByIdMetrics, TraceByIdResponse, trace_to_v1_json,
};
use futures::StreamExt;
use http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use tower_http::compression::CompressionLayer;

use crate::error::{Error, Result};
use crate::params::{self, QueryParams, SearchLimits};
use crate::service::{QueryService, SearchStream, SearchUpdate};
use crate::tenant::TenantResolver;
use encode::{Format, error_response, json_response, message_response, search_response};

/// `GET /api/status/buildinfo` (Prometheus build-info shape).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    /// Tempo's key; Contrail reports its Rust toolchain here.
    pub go_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: option_env!("CONTRAIL_REVISION")
                .unwrap_or("unknown")
                .to_owned(),
            branch: option_env!("CONTRAIL_BRANCH")
                .unwrap_or("unknown")
                .to_owned(),
            build_user: option_env!("CONTRAIL_BUILD_USER")
                .unwrap_or("unknown")
                .to_owned(),
            build_date: option_env!("CONTRAIL_BUILD_DATE")
                .unwrap_or("unknown")
                .to_owned(),
            go_version: format!(
                "rust (edition 2024, msrv {})",
                env!("CARGO_PKG_RUST_VERSION")
            ),
        }
    }
}

/// What the HTTP API needs besides the service.
#[derive(Debug, Clone)]
pub struct HttpApiSettings {
    pub tenants: TenantResolver,
    pub limits: SearchLimits,
    /// `query_frontend.api_timeout`; zero disables.
    pub api_timeout: Duration,
    pub build_info: BuildInfo,
}

struct ApiState {
    service: Arc<dyn QueryService>,
    settings: HttpApiSettings,
}

type SharedState = Arc<ApiState>;

/// The query API routes (mount them at the root, or under `http_api_prefix`).
pub fn router(service: Arc<dyn QueryService>, settings: HttpApiSettings) -> Router {
    let state = Arc::new(ApiState { service, settings });
    Router::new()
        .route("/api/echo", any(echo))
        .route("/api/status/buildinfo", get(build_info))
        .route("/api/traces/{trace_id}", any(trace_by_id_v1))
        .route("/api/v2/traces/{trace_id}", any(trace_by_id_v2))
        .route("/api/search", any(search))
        .route("/api/search/tags", any(search_tags_v1))
        .route("/api/v2/search/tags", any(search_tags_v2))
        .route("/api/search/tag/{tag}/values", any(tag_values_v1))
        .route(
            "/api/v2/search/tag/{*scoped_tag_values}",
            any(tag_values_v2),
        )
        .route("/api/metrics/query_range", get(metrics_query_range))
        .route("/api/metrics/query", get(metrics_query_instant))
        .fallback(not_found)
        .with_state(state)
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd(),
        )
}

async fn not_found() -> Response {
    encode::text_response(StatusCode::NOT_FOUND, "404 page not found\n")
}

async fn echo() -> Response {
    encode::text_response(StatusCode::OK, "echo\n")
}

async fn build_info(State(state): State<SharedState>) -> Response {
    json_response(&state.settings.build_info)
}

/// Runs `work` under `api_timeout`.
async fn within_timeout<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    if timeout.is_zero() {
        return work.await;
    }
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout))
}

fn tenants(state: &ApiState, headers: &HeaderMap) -> Result<Vec<TenantId>> {
    state.settings.tenants.from_http(headers)
}

async fn trace_by_id_v1(
    State(state): State<SharedState>,
    Path(trace_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let tenants = tenants(&state, &headers)?;
        let request = params::parse_trace_by_id(&trace_id, &QueryParams::parse(raw.as_deref()))?;
        within_timeout(
            state.settings.api_timeout,
            state.service.find_trace_by_id(&tenants, request),
        )
        .await
    };
    match answer.await {
        Err(error) => error_response(&error),
        Ok(result) if result.trace.span_count() == 0 => StatusCode::NOT_FOUND.into_response(),
        Ok(result) => {
            if let Some(message) = result.partial_message {
                return encode::text_response(StatusCode::UNPROCESSABLE_ENTITY, message);
            }
            match Format::from_headers(&headers) {
                Format::Protobuf => message_response(Format::Protobuf, &result.trace),
                Format::Json => match trace_to_v1_json(&result.trace) {
                    Ok(body) => ([(header::CONTENT_TYPE, encode::JSON)], body).into_response(),
                    Err(error) => error_response(&Error::internal(format!("encode json: {error}"))),
                },
            }
        }
    }
}

async fn trace_by_id_v2(
    State(state): State<SharedState>,
    Path(trace_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let tenants = tenants(&state, &headers)?;
        let request = params::parse_trace_by_id(&trace_id, &QueryParams::parse(raw.as_deref()))?;
        within_timeout(
            state.settings.api_timeout,
            state.service.find_trace_by_id(&tenants, request),
        )
        .await
    };
    match answer.await {
        Err(error) => error_response(&error),
        Ok(result) => {
            let found = result.trace.span_count() > 0;
            let response = TraceByIdResponse {
                trace: found.then_some(result.trace),
                metrics: Some(TraceByIdMetrics {
                    inspected_bytes: result.inspected_bytes,
                    ..TraceByIdMetrics::default()
                }),
                status: if result.partial_message.is_some() {
                    PartialStatus::Partial as i32
                } else {
                    PartialStatus::Complete as i32
                },
                message: result.partial_message.unwrap_or_default(),
            };
            message_response(Format::from_headers(&headers), &response)
        }
    }
}

/// Drains a search stream to its final result.
pub(crate) async fn final_result(mut stream: SearchStream) -> Result<SearchResponse> {
    while let Some(update) = stream.next().await {
        if let SearchUpdate::Final(response) = update? {
            return Ok(response);
        }
    }
    Err(Error::internal("search ended without a final result"))
}

async fn search(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let tenants = tenants(&state, &headers)?;
        let request =
            params::parse_search(&QueryParams::parse(raw.as_deref()), &state.settings.limits)?;
        within_timeout(state.settings.api_timeout, async {
            final_result(state.service.search(&tenants, request).await?).await
        })
        .await
    };
    match answer.await {
        Ok(response) => search_response(Format::from_headers(&headers), response),
        Err(error) => error_response(&error),
    }
}

async fn tags(
    state: &ApiState,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> Result<(crate::service::TagScope, SearchTagsV2Response)> {
    let tenants = tenants(state, headers)?;
    let request = params::parse_tags(
        &QueryParams::parse(raw),
        state.settings.limits.max_duration_secs,
    )?;
    let scope = request.scope;
    let response = within_timeout(
        state.settings.api_timeout,
        state.service.search_tags(&tenants, request),
    )
    .await?;
    Ok((scope, response))
}

async fn search_tags_v2(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    match tags(&state, raw.as_deref(), &headers).await {
        Ok((_, response)) => message_response(Format::from_headers(&headers), &response),
        Err(error) => error_response(&error),
    }
}

async fn search_tags_v1(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    match tags(&state, raw.as_deref(), &headers).await {
        Ok((scope, response)) => {
            let response = tags_v1(scope, response);
            message_response(Format::from_headers(&headers), &response)
        }
        Err(error) => error_response(&error),
    }
}

/// The v1 answer: one de-duplicated, sorted list; intrinsics only when asked for by scope.
pub(crate) fn tags_v1(
    scope: crate::service::TagScope,
    response: SearchTagsV2Response,
) -> SearchTagsResponse {
    let mut names: Vec<String> = response
        .scopes
        .into_iter()
        .filter(|entry| entry.name != "intrinsic" || scope == crate::service::TagScope::Intrinsic)
        .flat_map(|entry| entry.tags)
        .collect();
    names.sort();
    names.dedup();
    SearchTagsResponse {
        tag_names: names,
        metrics: response.metrics,
    }
}

async fn tag_values_v1(
    State(state): State<SharedState>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let tenants = tenants(&state, &headers)?;
        let request = params::parse_tag_values(
            &tag,
            false,
            &QueryParams::parse(raw.as_deref()),
            state.settings.limits.max_duration_secs,
        )?;
        within_timeout(
            state.settings.api_timeout,
            state.service.search_tag_values(&tenants, request),
        )
        .await
    };
    match answer.await {
        Ok(response) => {
            let mut values: Vec<String> = response
                .tag_values
                .into_iter()
                .map(|tag| tag.value)
                .collect();
            values.sort();
            values.dedup();
            let response = SearchTagValuesResponse {
                tag_values: values,
                metrics: response.metrics,
            };
            message_response(Format::from_headers(&headers), &response)
        }
        Err(error) => error_response(&error),
    }
}

async fn tag_values_v2(
    State(state): State<SharedState>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    // The route matches any characters (including '/') up to the final `/values`.
    let Some(tag) = rest.strip_suffix("/values") else {
        return not_found().await;
    };
    let answer = async {
        let tenants = tenants(&state, &headers)?;
        let request = params::parse_tag_values(
            tag,
            true,
            &QueryParams::parse(raw.as_deref()),
            state.settings.limits.max_duration_secs,
        )?;
        within_timeout(
            state.settings.api_timeout,
            state.service.search_tag_values(&tenants, request),
        )
        .await
    };
    match answer.await {
        Ok(response) => message_response(Format::from_headers(&headers), &response),
        Err(error) => error_response(&error),
    }
}

/// Parses a metrics request (`instant` for `/api/metrics/query`) and resolves its tenants.
fn metrics_request(
    state: &ApiState,
    raw: Option<&str>,
    headers: &HeaderMap,
    instant: bool,
) -> Result<(Vec<TenantId>, crate::service::MetricsQueryRequest)> {
    let tenants = tenants(state, headers)?;
    let request = params::parse_metrics(
        &QueryParams::parse(raw),
        instant,
        state.settings.limits.max_query_bytes,
    )?;
    Ok((tenants, request))
}

async fn metrics_query_range(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let (tenants, request) = metrics_request(&state, raw.as_deref(), &headers, false)?;
        within_timeout(
            state.settings.api_timeout,
            state.service.query_range(&tenants, request),
        )
        .await
    };
    match answer.await {
        Ok(response) => message_response(Format::from_headers(&headers), &response),
        Err(error) => error_response(&error),
    }
}

async fn metrics_query_instant(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let (tenants, request) = metrics_request(&state, raw.as_deref(), &headers, true)?;
        within_timeout(
            state.settings.api_timeout,
            state.service.query_instant(&tenants, request),
        )
        .await
    };
    match answer.await {
        Ok(response) => message_response(Format::from_headers(&headers), &response),
        Err(error) => error_response(&error),
    }
}
