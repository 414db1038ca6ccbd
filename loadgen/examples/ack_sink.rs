//! A gRPC `TraceService/Export` receiver that acks every request without decoding it, so that
//! the load generator's own cost can be measured beside a server that costs almost nothing.
//! Every 10 s it prints the requests and bytes received on stderr.
//!
//! `cargo run --release -p contrail-loadgen --example ack_sink -- 127.0.0.1:4319`, then
//! `contrail-loadgen send --endpoint http://127.0.0.1:4319 --preencoded --duration 30 ...`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Buf;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Context, Poll, Service, StdError, http};
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Requests in as their length only, responses out as protobuf.
#[derive(Clone, Copy, Default)]
struct SinkCodec;

impl Codec for SinkCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = usize;
    type Encoder = SinkCodec;
    type Decoder = SinkCodec;

    fn encoder(&mut self) -> Self::Encoder {
        SinkCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        SinkCodec
    }
}

impl Encoder for SinkCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

impl Decoder for SinkCodec {
    type Item = usize;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, Status> {
        let len = src.remaining();
        src.advance(len);
        Ok(Some(len))
    }
}

struct Ack(Arc<Counters>);

impl tonic::server::UnaryService<usize> for Ack {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<Response<Self::Response>, Status>>;

    fn call(&mut self, request: Request<usize>) -> Self::Future {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0
            .bytes
            .fetch_add(*request.get_ref() as u64, Ordering::Relaxed);
        std::future::ready(Ok(Response::new(ExportTraceServiceResponse::default())))
    }
}

#[derive(Clone)]
struct AckSink(Arc<Counters>);

impl tonic::server::NamedService for AckSink {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for AckSink
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let counters = Arc::clone(&self.0);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(SinkCodec)
                .apply_max_message_size_config(Some(64 * 1024 * 1024), None);
            Ok(grpc.unary(Ack(counters), request).await)
        })
    }
}

fn main() -> anyhow::Result<()> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4319".to_owned())
        .parse()?;
    // one worker: the sink should leave the cores to the client being measured
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let counters = Arc::new(Counters::default());
        let reporter_counters = Arc::clone(&counters);
        let reporter = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                eprintln!(
                    "{:>5.0}s  {} requests  {:.1} MB",
                    started.elapsed().as_secs_f64(),
                    reporter_counters.requests.load(Ordering::Relaxed),
                    reporter_counters.bytes.load(Ordering::Relaxed) as f64 / 1e6
                );
            }
        });
        eprintln!("ack_sink listening on {address}");
        let served = tonic::transport::Server::builder()
            .add_service(AckSink(counters))
            .serve(address)
            .await;
        reporter.abort();
        served
    })?;
    Ok(())
}
