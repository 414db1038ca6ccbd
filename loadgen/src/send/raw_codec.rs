//! `TraceService/Export` with a pre-encoded request: a tonic [`Codec`] whose encoder copies the
//! pool's bytes (stamped for their pass) into the gRPC frame instead of encoding a message, and
//! whose decoder decodes the `ExportTraceServiceResponse` as the generated client would, so
//! partial success is seen the same way.

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use super::preencoded::StampedRequest;

const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Pre-encoded requests out, decoded responses in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PreencodedCodec;

impl Codec for PreencodedCodec {
    type Encode = StampedRequest;
    type Decode = ExportTraceServiceResponse;
    type Encoder = StampedEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        StampedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StampedEncoder;

impl Encoder for StampedEncoder {
    type Item = StampedRequest;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        // one allocation of the right size instead of growing from tonic's 8 KiB
        dst.reserve(item.encoded_len());
        item.write_to(dst);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|error| Status::internal(format!("cannot decode the response: {error}")))
    }
}

/// One `Export` call carrying a pre-encoded request (what `TraceServiceClient::export` does,
/// with [`PreencodedCodec`]).
pub(crate) async fn export_preencoded(
    grpc: &mut tonic::client::Grpc<Channel>,
    mut request: tonic::Request<StampedRequest>,
) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
    grpc.ready()
        .await
        .map_err(|error| Status::unknown(format!("service was not ready: {error}")))?;
    request
        .extensions_mut()
        .insert(tonic::GrpcMethod::new(SERVICE, "Export"));
    grpc.unary(
        request,
        PathAndQuery::from_static(EXPORT_PATH),
        PreencodedCodec,
    )
    .await
}
