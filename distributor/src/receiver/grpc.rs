//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip accepted.
//!
//! A hand-written service instead of the generated one: its codec hands the request over as
//! bytes, so decoding happens in the distributor (off the runtime for big requests), not inside
//! tonic on the async runtime.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{Body, BoxFuture, Service, StdError};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::decode::{ContentEncoding, PayloadFormat};
use crate::error::{Error, Result};
use crate::service::{Distributor, RawExport};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP trace service as a tonic service (mount it with `Server::add_service`).
#[derive(Clone)]
pub struct OtlpGrpcService {
    distributor: Arc<Distributor>,
    max_message_bytes: usize,
}

impl std::fmt::Debug for OtlpGrpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGrpcService")
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

impl OtlpGrpcService {
    /// The service for `distributor`, refusing messages over `max_message_bytes`.
    pub fn new(distributor: Arc<Distributor>, max_message_bytes: usize) -> Self {
        OtlpGrpcService {
            distributor,
            max_message_bytes,
        }
    }
}

impl NamedService for OtlpGrpcService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

/// Requests decode to their raw bytes; responses encode as protobuf.
#[derive(Debug, Clone, Copy, Default)]
struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = RawRequestCodec;
    type Decoder = RawRequestCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawRequestCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawRequestCodec
    }
}

impl Encoder for RawRequestCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|error| Status::internal(format!("cannot encode response: {error}")))
    }
}

impl Decoder for RawRequestCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let remaining = src.remaining();
        Ok(Some(src.copy_to_bytes(remaining)))
    }
}

struct ExportMethod {
    distributor: Arc<Distributor>,
    max_message_bytes: usize,
}

impl UnaryService<Bytes> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<ExportTraceServiceResponse>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let distributor = Arc::clone(&self.distributor);
        let max_body_bytes = self.max_message_bytes as u64;
        Box::pin(async move {
            let tenant = distributor
                .tenant_from_grpc(request.metadata())
                .map_err(|error| {
                    distributor.count_refused("", error.reason());
                    error.to_status()
                })?;
            let export = RawExport {
                tenant,
                body: request.into_inner(),
                encoding: ContentEncoding::Identity,
                format: PayloadFormat::Protobuf,
                max_body_bytes,
                protocol: "grpc",
            };
            let summary = distributor
                .push(export)
                .await
                .map_err(|error| error.to_status())?;
            Ok(Response::new(summary.to_export_response()))
        })
    }
}

impl<B> Service<http::Request<B>> for OtlpGrpcService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async {
                Ok(Status::unimplemented("only TraceService/Export is served here").into_http())
            });
        }
        let method = ExportMethod {
            distributor: Arc::clone(&self.distributor),
            max_message_bytes: self.max_message_bytes,
        };
        let max_message_bytes = self.max_message_bytes;
        Box::pin(async move {
            let mut encodings = EnabledCompressionEncodings::default();
            encodings.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec)
                .apply_compression_config(encodings, encodings)
                .apply_max_message_size_config(Some(max_message_bytes), None);
            Ok(grpc.unary(method, request).await)
        })
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown`.
pub(crate) async fn serve(
    distributor: Arc<Distributor>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let max_message_bytes = distributor
        .config()
        .receivers
        .otlp
        .as_ref()
        .and_then(|otlp| otlp.protocols.grpc.as_ref())
        .map_or(16 << 20, |grpc| {
            usize::try_from(grpc.max_recv_msg_size_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX)
        });
    tonic::transport::Server::builder()
        .add_service(OtlpGrpcService::new(distributor, max_message_bytes))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener)
                // See `receiver::no_delay`.
                .with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await
        .map_err(|error| Error::Serve {
            receiver: "otlp grpc",
            message: error.to_string(),
        })
}
