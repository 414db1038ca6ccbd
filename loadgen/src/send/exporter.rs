//! One OTLP connection per stream: gRPC (tonic `TraceServiceClient`) or HTTP (`POST /v1/traces`
//! with a protobuf or JSON body), every request bounded by a timeout, failures classified.

use std::time::Duration;

use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use contrail_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use super::Protocol;
use super::preencoded::StampedRequest;
use super::raw_codec::export_preencoded;
use crate::error::{Error, Result};

/// A request ready for the wire: the message for gRPC, a pre-encoded request for gRPC (copied
/// into the frame as it is, [`super::raw_codec`]), or the encoded body for HTTP.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Grpc(ExportTraceServiceRequest),
    GrpcPreencoded(StampedRequest),
    Http(bytes::Bytes),
}

/// Why a request failed, with a short kind for the summary and the full message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExportFailure {
    pub(crate) kind: String,
    pub(crate) message: String,
    /// The delay the server asked for before the next export (gRPC `google.rpc.RetryInfo`,
    /// HTTP `Retry-After` in seconds), as OTLP exporters honour it.
    pub(crate) retry_after_opt: Option<Duration>,
}

impl ExportFailure {
    fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            retry_after_opt: None,
        }
    }

    fn retry_after(mut self, retry_after_opt: Option<Duration>) -> Self {
        self.retry_after_opt = retry_after_opt;
        self
    }

    /// The server cannot be reached at all (as opposed to answering with an error).
    pub(crate) fn is_connect(&self) -> bool {
        self.kind == "connect"
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Exporter {
    Grpc {
        client: TraceServiceClient<Channel>,
        /// The same connection, for pre-encoded requests (boxed: the variants stay alike).
        raw: Box<tonic::client::Grpc<Channel>>,
        tenant_opt: Option<MetadataValue<tonic::metadata::Ascii>>,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        url: String,
        content_type: &'static str,
        tenant_opt: Option<String>,
    },
}

impl Exporter {
    /// Builds the client of one stream. Connections are opened lazily, on the first request.
    pub(crate) fn new(
        protocol: Protocol,
        endpoint: &str,
        tenant_opt: Option<&str>,
        timeout: Duration,
    ) -> Result<Self> {
        let base = if endpoint.contains("://") {
            endpoint.trim_end_matches('/').to_owned()
        } else {
            format!("http://{}", endpoint.trim_end_matches('/'))
        };
        match protocol {
            Protocol::Grpc => {
                let channel = Endpoint::from_shared(base.clone())
                    .map_err(|source| {
                        Error::InvalidArgument(format!("invalid endpoint `{base}`: {source}"))
                    })?
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                let tenant_opt = tenant_opt
                    .map(|tenant| {
                        MetadataValue::try_from(tenant).map_err(|_| {
                            Error::InvalidArgument(format!("invalid tenant `{tenant}`"))
                        })
                    })
                    .transpose()?;
                let raw = Box::new(
                    tonic::client::Grpc::new(channel.clone())
                        .max_decoding_message_size(16 * 1024 * 1024)
                        .max_encoding_message_size(usize::MAX),
                );
                let client = TraceServiceClient::new(channel)
                    .max_decoding_message_size(16 * 1024 * 1024)
                    .max_encoding_message_size(usize::MAX);
                Ok(Self::Grpc {
                    client,
                    raw,
                    tenant_opt,
                    timeout,
                })
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let client = reqwest::Client::builder()
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .tcp_nodelay(true)
                    .build()
                    .map_err(|source| {
                        Error::InvalidArgument(format!("cannot build http client: {source}"))
                    })?;
                let content_type = if protocol == Protocol::HttpJson {
                    "application/json"
                } else {
                    "application/x-protobuf"
                };
                Ok(Self::Http {
                    client,
                    url: format!("{base}/v1/traces"),
                    content_type,
                    tenant_opt: tenant_opt.map(str::to_owned),
                })
            }
        }
    }

    pub(crate) async fn export(
        &mut self,
        payload: Payload,
    ) -> std::result::Result<(), ExportFailure> {
        match (self, payload) {
            (
                Self::Grpc {
                    client,
                    tenant_opt,
                    timeout,
                    ..
                },
                Payload::Grpc(message),
            ) => {
                let request = grpc_request(message, *timeout, tenant_opt.as_ref());
                // the channel's timeout also bounds the call; this one covers connecting too
                grpc_outcome(
                    *timeout,
                    tokio::time::timeout(*timeout, client.export(request)).await,
                )
            }
            (
                Self::Grpc {
                    raw,
                    tenant_opt,
                    timeout,
                    ..
                },
                Payload::GrpcPreencoded(stamped),
            ) => {
                let request = grpc_request(stamped, *timeout, tenant_opt.as_ref());
                grpc_outcome(
                    *timeout,
                    tokio::time::timeout(*timeout, export_preencoded(raw, request)).await,
                )
            }
            (
                Self::Http {
                    client,
                    url,
                    content_type,
                    tenant_opt,
                },
                Payload::Http(body),
            ) => {
                let mut request = client
                    .post(url.as_str())
                    .header("content-type", *content_type)
                    .body(body);
                if let Some(tenant) = tenant_opt {
                    request = request.header("X-Scope-OrgID", tenant.as_str());
                }
                let response = request
                    .send()
                    .await
                    .map_err(|source| classify_reqwest(&source))?;
                let status = response.status();
                let retry_after_opt = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = response.text().await.unwrap_or_default();
                if status.is_success() {
                    Ok(())
                } else {
                    let text: String = body.chars().take(300).collect();
                    Err(ExportFailure::new(
                        format!("http_{}", status.as_u16()),
                        format!("server answered {status}: {text}"),
                    )
                    .retry_after(retry_after_opt))
                }
            }
            _ => Err(ExportFailure::new(
                "internal",
                "payload does not match the protocol",
            )),
        }
    }
}

fn grpc_request<T>(
    message: T,
    timeout: Duration,
    tenant_opt: Option<&MetadataValue<tonic::metadata::Ascii>>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    if let Some(tenant) = tenant_opt {
        request
            .metadata_mut()
            .insert("x-scope-orgid", tenant.clone());
    }
    request
}

/// An answer (or none within `timeout`) as success or a classified failure.
fn grpc_outcome(
    timeout: Duration,
    answer: std::result::Result<
        std::result::Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>,
        tokio::time::error::Elapsed,
    >,
) -> std::result::Result<(), ExportFailure> {
    match answer {
        Err(_) => Err(ExportFailure::new(
            "timeout",
            format!("no answer within {timeout:?}"),
        )),
        Ok(Ok(response)) => partial_success_failure(
            response
                .into_inner()
                .partial_success
                .map(|partial| (partial.rejected_spans, partial.error_message)),
        ),
        Ok(Err(status)) => Err(classify_grpc(&status)),
    }
}

fn partial_success_failure(
    partial_opt: Option<(i64, String)>,
) -> std::result::Result<(), ExportFailure> {
    match partial_opt {
        Some((rejected, message)) if rejected > 0 => Err(ExportFailure::new(
            "partial_success",
            format!("server rejected {rejected} spans: {message}"),
        )),
        _ => Ok(()),
    }
}

fn classify_grpc(status: &tonic::Status) -> ExportFailure {
    let message = format!("grpc {:?}: {}", status.code(), status.message());
    // tonic reports a failed connection as UNAVAILABLE with a transport error as its source
    let transport = std::error::Error::source(status).is_some_and(|source| {
        let text = format!("{source:?}").to_lowercase();
        text.contains("connect") || text.contains("refused") || text.contains("dns")
    });
    if status.code() == tonic::Code::Unavailable && transport {
        return ExportFailure::new("connect", message);
    }
    if status.code() == tonic::Code::DeadlineExceeded
        || status.code() == tonic::Code::Cancelled && status.message().contains("Timeout")
    {
        return ExportFailure::new("timeout", message);
    }
    let retry_after_opt = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    ExportFailure::new(format!("grpc_{}", grpc_code_name(status.code())), message)
        .retry_after(retry_after_opt)
}

fn grpc_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

fn classify_reqwest(source: &reqwest::Error) -> ExportFailure {
    let mut message = source.to_string();
    let mut cause = std::error::Error::source(source);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    let kind = if source.is_timeout() {
        "timeout"
    } else if source.is_connect() {
        "connect"
    } else {
        "http_transport"
    };
    ExportFailure::new(kind, message)
}
