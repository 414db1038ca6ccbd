//! OTLP/HTTP: `POST /v1/traces` (the path is `traces_url_path`) with protobuf or JSON bodies,
//! optionally gzip. Answers in the request's format: the export response (partial success
//! included) on 200, a `google.rpc.Status` on errors, `Retry-After` on 429 and 503.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::HttpReceiverConfig;
use crate::decode::{ContentEncoding, PayloadFormat};
use crate::error::{Error, Result};
use crate::service::{Distributor, RawExport};

const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
const JSON_CONTENT_TYPE: &str = "application/json";

#[derive(Clone)]
struct HttpState {
    distributor: Arc<Distributor>,
    max_body_bytes: u64,
}

/// The OTLP/HTTP router: `POST {traces_url_path}`.
pub fn otlp_http_router(distributor: Arc<Distributor>, config: &HttpReceiverConfig) -> Router {
    let max_body_bytes = config.max_request_body_size.as_u64();
    let state = HttpState {
        distributor,
        max_body_bytes,
    };
    Router::new()
        .route(&config.traces_url_path, post(export))
        .layer(DefaultBodyLimit::max(
            usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        ))
        .with_state(state)
}

fn format_of(headers: &HeaderMap) -> Option<PayloadFormat> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(PayloadFormat::Protobuf),
        "application/json" => Some(PayloadFormat::Json),
        _ => None,
    }
}

fn encoding_of(headers: &HeaderMap) -> Option<ContentEncoding> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Some(ContentEncoding::Identity),
        Some(value) => match value.to_str().ok()?.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Some(ContentEncoding::Identity),
            "gzip" | "x-gzip" => Some(ContentEncoding::Gzip),
            _ => None,
        },
    }
}

fn plain_text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn export(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let distributor = &state.distributor;
    let Some(format) = format_of(&headers) else {
        distributor.count_refused("", "unsupported_media_type");
        let received = headers
            .get(header::CONTENT_TYPE)
            .map_or("none".to_owned(), |value| {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            });
        return plain_text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {received:?}: use {PROTOBUF_CONTENT_TYPE} or {JSON_CONTENT_TYPE}"
            ),
        );
    };
    let Some(encoding) = encoding_of(&headers) else {
        distributor.count_refused("", "unsupported_media_type");
        return plain_text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content encoding: use gzip or none".to_owned(),
        );
    };
    let tenant = match distributor.tenant_from_http(&headers) {
        Ok(tenant) => tenant,
        Err(error) => {
            distributor.count_refused("", error.reason());
            return error_response(&error, format);
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge {
                    limit_bytes: state.max_body_bytes,
                }
            } else {
                Error::Malformed(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
            };
            distributor.count_refused(tenant.as_str(), error.reason());
            return error_response(&error, format);
        }
    };
    let export = RawExport {
        tenant,
        body,
        encoding,
        format,
        max_body_bytes: state.max_body_bytes,
        protocol: "http",
    };
    match distributor.push(export).await {
        Ok(summary) => {
            let response = summary.to_export_response();
            match format {
                PayloadFormat::Protobuf => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)],
                    response.encode_to_vec(),
                )
                    .into_response(),
                PayloadFormat::Json => {
                    match contrail_proto::otlp_json::encode_export_response_json(&response) {
                        Ok(json) => (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
                            json,
                        )
                            .into_response(),
                        Err(error) => plain_text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("cannot encode the response: {error}"),
                        ),
                    }
                }
            }
        }
        Err(error) => error_response(&error, format),
    }
}

/// A `google.rpc.Status` body in the request's format, the HTTP status of the error's code,
/// and `Retry-After` (whole seconds) when a retry delay is known.
fn error_response(error: &Error, format: PayloadFormat) -> Response {
    let code = error.code();
    let status = tonic_types::Status {
        code: code.grpc_code() as i32,
        message: error.to_string(),
        details: Vec::new(),
    };
    let mut response = match format {
        PayloadFormat::Protobuf => (
            code.http_status(),
            [(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)],
            status.encode_to_vec(),
        )
            .into_response(),
        PayloadFormat::Json => {
            let json =
                serde_json::json!({ "code": status.code, "message": status.message }).to_string();
            (
                code.http_status(),
                [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
                json,
            )
                .into_response()
        }
    };
    if let Some(delay) = error.retry_after() {
        let seconds = delay.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Serves OTLP/HTTP on `listener` until `shutdown`.
pub(crate) async fn serve(
    distributor: Arc<Distributor>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let config = distributor
        .config()
        .receivers
        .otlp
        .as_ref()
        .and_then(|otlp| otlp.protocols.http.clone())
        .unwrap_or_default();
    let router = otlp_http_router(distributor, &config);
    axum::serve(listener.tap_io(super::no_delay), router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|error| Error::Serve {
            receiver: "otlp http",
            message: error.to_string(),
        })
}
