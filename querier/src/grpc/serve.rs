//! One service for the HTTP listener that carries both the query API and gRPC (h2c): a request
//! is gRPC when it is HTTP/2 and its `content-type` starts with `application/grpc`, as Grafana
//! sends `StreamingQuerier` calls to the datasource's HTTP port (spec §1, §5). Everything else
//! goes to the HTTP router.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use tower::ServiceExt;

/// Whether `request` is a gRPC call.
pub fn is_grpc(request: &Request) -> bool {
    request.version() == http::Version::HTTP_2
        && request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|content_type| content_type.starts_with("application/grpc"))
}

/// The service for the HTTP listener: `http` for HTTP requests, `grpc` (for example
/// `tonic::service::Routes::new(api.into_server())`) for gRPC ones. Serve it with
/// `axum::serve(listener, router)`, which speaks HTTP/1.1 and h2c on one port.
pub fn http_and_grpc(http: Router, grpc: tonic::service::Routes) -> Router {
    let grpc = grpc.prepare().into_axum_router();
    let http = http.with_state(());
    let steer = tower::service_fn(move |request: Request| {
        let http = http.clone();
        let grpc = grpc.clone();
        async move {
            let response: Response = if is_grpc(&request) {
                grpc.oneshot(request).await?
            } else {
                http.oneshot(request).await?
            };
            Ok::<Response<Body>, Infallible>(response)
        }
    });
    Router::new().fallback_service(steer)
}
