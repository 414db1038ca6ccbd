//! Storage metrics, registered in a registry the caller injects (no globals).
//!
//! - `contrail_storage_requests_total{operation,status}`: logical object-store operations, as
//!   seen by the caller (one per call, whatever the retries underneath).
//! - `contrail_storage_request_duration_seconds{operation,status}`: their latency (for `get`:
//!   until the response headers; the body is streamed afterwards).
//! - `contrail_storage_bytes_total{operation,direction}`: payload bytes read or written.
//! - `contrail_storage_retries_total{operation}`: attempts repeated by `RetryStore`.
//!
//! `operation` is one of [`OPERATIONS`]; `status` one of [`STATUSES`]; `direction` is `read` or
//! `write`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::error::{Error, Result};

/// Values of the `operation` label.
pub const OPERATIONS: &[&str] = &[
    "put",
    "put_multipart",
    "put_part",
    "complete_multipart",
    "abort_multipart",
    "get",
    "get_ranges",
    "head",
    "delete",
    "list",
    "list_with_delimiter",
    "copy",
    "rename",
];

/// Values of the `status` label.
pub const STATUSES: &[&str] = &[
    "ok",
    "not_found",
    "already_exists",
    "precondition",
    "not_modified",
    "denied",
    "error",
    "cancelled",
];

/// The storage crate's metrics; cheap to clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    pub(crate) requests_total: IntCounterVec,
    pub(crate) request_duration_seconds: HistogramVec,
    pub(crate) bytes_total: IntCounterVec,
    pub(crate) retries_total: IntCounterVec,
}

impl StorageMetrics {
    /// Creates the collectors and registers them in `registry`.
    ///
    /// Fails when they are already registered there: build one store per registry.
    pub fn new(registry: &Registry) -> Result<Self> {
        let requests_total = IntCounterVec::new(
            Opts::new(
                "contrail_storage_requests_total",
                "Object-store operations by operation and outcome.",
            ),
            &["operation", "status"],
        )
        .map_err(metrics_error)?;
        let request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "contrail_storage_request_duration_seconds",
                "Latency of object-store operations, retries included.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ]),
            &["operation", "status"],
        )
        .map_err(metrics_error)?;
        let bytes_total = IntCounterVec::new(
            Opts::new(
                "contrail_storage_bytes_total",
                "Payload bytes read from or written to the object store.",
            ),
            &["operation", "direction"],
        )
        .map_err(metrics_error)?;
        let retries_total = IntCounterVec::new(
            Opts::new(
                "contrail_storage_retries_total",
                "Object-store operation attempts repeated after a transient failure.",
            ),
            &["operation"],
        )
        .map_err(metrics_error)?;
        registry
            .register(Box::new(requests_total.clone()))
            .map_err(metrics_error)?;
        registry
            .register(Box::new(request_duration_seconds.clone()))
            .map_err(metrics_error)?;
        registry
            .register(Box::new(bytes_total.clone()))
            .map_err(metrics_error)?;
        registry
            .register(Box::new(retries_total.clone()))
            .map_err(metrics_error)?;
        Ok(StorageMetrics {
            requests_total,
            request_duration_seconds,
            bytes_total,
            retries_total,
        })
    }

    pub(crate) fn observe_request(&self, operation: &str, status: &str, seconds: f64) {
        self.requests_total
            .with_label_values(&[operation, status])
            .inc();
        self.request_duration_seconds
            .with_label_values(&[operation, status])
            .observe(seconds);
    }

    pub(crate) fn add_bytes(&self, operation: &str, direction: &str, bytes: u64) {
        if bytes > 0 {
            self.bytes_total
                .with_label_values(&[operation, direction])
                .inc_by(bytes);
        }
    }

    pub(crate) fn inc_retry(&self, operation: &str) {
        self.retries_total.with_label_values(&[operation]).inc();
    }
}

fn metrics_error(source: prometheus::Error) -> Error {
    Error::Metrics { source }
}

/// The `status` label for an operation's outcome.
pub(crate) fn status_label<T>(result: &object_store::Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(object_store::Error::NotFound { .. }) => "not_found",
        Err(object_store::Error::AlreadyExists { .. }) => "already_exists",
        Err(object_store::Error::Precondition { .. }) => "precondition",
        Err(object_store::Error::NotModified { .. }) => "not_modified",
        Err(
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
        ) => "denied",
        Err(_) => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_twice_in_one_registry_fails_cleanly() {
        let registry = Registry::new();
        assert!(StorageMetrics::new(&registry).is_ok());
        let error = StorageMetrics::new(&registry).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot register storage metrics")
        );
    }
}
