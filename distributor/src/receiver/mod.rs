//! The OTLP receivers: gRPC ([`grpc`]) and HTTP ([`http`]) listeners bound from
//! `distributor.receivers.otlp.protocols`, both feeding [`Distributor::push`].

pub(crate) mod grpc;
pub(crate) mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::service::Distributor;

/// The bound OTLP listeners of one distributor.
pub struct Receivers {
    distributor: Arc<Distributor>,
    grpc_opt: Option<TcpListener>,
    http_opt: Option<TcpListener>,
}

impl std::fmt::Debug for Receivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receivers")
            .field("grpc", &self.grpc_address())
            .field("http", &self.http_address())
            .finish()
    }
}

async fn bind(receiver: &'static str, endpoint: &str) -> Result<TcpListener> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|source| Error::Bind {
            receiver,
            address: endpoint.to_owned(),
            source,
        })
}

/// Binds the configured OTLP listeners (so a port in use fails start-up, and port 0 can be
/// read back before serving).
pub async fn bind_receivers(distributor: Arc<Distributor>) -> Result<Receivers> {
    let protocols = distributor
        .config()
        .receivers
        .otlp
        .as_ref()
        .map(|otlp| otlp.protocols.clone())
        .unwrap_or_default();
    let grpc_opt = match &protocols.grpc {
        Some(grpc) => Some(bind("otlp grpc", &grpc.endpoint).await?),
        None => None,
    };
    let http_opt = match &protocols.http {
        Some(http) => Some(bind("otlp http", &http.endpoint).await?),
        None => None,
    };
    Ok(Receivers {
        distributor,
        grpc_opt,
        http_opt,
    })
}

impl Receivers {
    /// Where OTLP/gRPC listens, if enabled.
    pub fn grpc_address(&self) -> Option<SocketAddr> {
        self.grpc_opt
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Where OTLP/HTTP listens, if enabled.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http_opt
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown`, then lets in-flight exports finish.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let grpc_future = async {
            match self.grpc_opt {
                Some(listener) => {
                    grpc::serve(Arc::clone(&self.distributor), listener, shutdown.clone()).await
                }
                None => Ok(()),
            }
        };
        let http_future = async {
            match self.http_opt {
                Some(listener) => {
                    http::serve(Arc::clone(&self.distributor), listener, shutdown.clone()).await
                }
                None => Ok(()),
            }
        };
        let (grpc_result, http_result) = tokio::join!(grpc_future, http_future);
        grpc_result.and(http_result)
    }
}

/// Sets TCP_NODELAY on an accepted connection. tonic's `TcpIncoming::from(listener)` and
/// `axum::serve` leave Nagle on, and a response then waits for the client's delayed ACK (40 ms
/// on Linux): every OTLP export took ~44 ms on loopback, which bounded W1's 8 streams.
pub fn no_delay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
}
