//! `build_object_store`: the one place where a backend and its decorators are put together.
//!
//! backend (with its HTTP client's timeout and request retries) → prefix → `LimitStore` →
//! `RetryStore` → `MeteredStore`.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::limit::LimitStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, Certificate, ClientOptions, ObjectStore, RetryConfig};
use prometheus::Registry;

use super::metered::MeteredStore;
use super::retry::{RetrySettings, RetryStore};
use crate::config::{AzureConfig, Backend, GcsConfig, RequestConfig, S3Config, TraceStorageConfig};
use crate::error::{Error, Result};
use crate::metrics::StorageMetrics;

/// Builds the object store described by `config`, with the decorators applied and the metrics
/// registered in `registry`.
///
/// Validates `config` first and logs its warnings. Paths given to the returned store are
/// relative to the configured prefix (`<tenant>/<block>/<object>`).
pub fn build_object_store(
    config: &TraceStorageConfig,
    registry: &Registry,
) -> Result<Arc<dyn ObjectStore>> {
    for warning in config.validate()? {
        tracing::warn!(key = %warning.key, "{}", warning.message);
    }
    let metrics = StorageMetrics::new(registry)?;
    let backend = build_backend(config)?;
    let prefix = config.prefix().trim_matches('/');
    let prefixed: Arc<dyn ObjectStore> = if prefix.is_empty() {
        backend
    } else {
        Arc::new(PrefixStore::new(backend, prefix))
    };
    let requests = &config.requests;
    let limited = LimitStore::new(prefixed, requests.max_concurrency);
    // The filesystem lists in directory order, the others in key order.
    let ordered_listing = config.backend != Backend::Local;
    let retried = RetryStore::new(limited, retry_settings(requests), ordered_listing)
        .with_metrics(metrics.clone());
    Ok(Arc::new(MeteredStore::new(retried, metrics)))
}

/// `RetryStore` settings from `storage.trace.requests`.
pub fn retry_settings(requests: &RequestConfig) -> RetrySettings {
    RetrySettings {
        max_attempts: requests.max_attempts,
        backoff_initial: requests.backoff_initial,
        backoff_max: requests.backoff_max,
        attempt_timeout: requests.timeout,
        total_timeout: requests.total_timeout,
    }
}

fn build_backend(config: &TraceStorageConfig) -> Result<Arc<dyn ObjectStore>> {
    match config.backend {
        Backend::Memory => Ok(Arc::new(InMemory::new())),
        Backend::Local => {
            let path = &config.local.path;
            std::fs::create_dir_all(path).map_err(|source| Error::LocalDirectory {
                path: path.display().to_string(),
                source,
            })?;
            let store = LocalFileSystem::new_with_prefix(path)
                .map_err(|source| build_error(Backend::Local, source))?
                .with_automatic_cleanup(true);
            Ok(Arc::new(store))
        }
        Backend::S3 => build_s3(&config.s3, &config.requests),
        Backend::Gcs => build_gcs(&config.gcs, &config.requests),
        Backend::Azure => build_azure(&config.azure, &config.requests),
    }
}

fn build_error(backend: Backend, source: object_store::Error) -> Error {
    Error::BuildBackend {
        backend: backend.as_str(),
        source,
    }
}

/// HTTP client options shared by the cloud backends: one request is cut off at `timeout`.
fn client_options(requests: &RequestConfig, allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_timeout(requests.timeout)
        .with_connect_timeout(requests.connect_timeout)
        .with_allow_http(allow_http)
}

/// Request-level retries inside the HTTP client (see the ADR for why they stay on).
fn http_retry_config(requests: &RequestConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: requests.backoff_initial,
            max_backoff: requests.backoff_max,
            base: 2.0,
        },
        max_retries: requests.http_max_retries as usize,
        retry_timeout: requests.total_timeout,
    }
}

fn build_s3(s3: &S3Config, requests: &RequestConfig) -> Result<Arc<dyn ObjectStore>> {
    let endpoint = s3.endpoint_url();
    let mut options = client_options(
        requests,
        endpoint
            .as_deref()
            .is_some_and(|url| url.starts_with("http://")),
    );
    if s3.tls_insecure_skip_verify {
        options = options.with_allow_invalid_certificates(true);
    }
    if let Some(ca_path) = &s3.tls_ca_path {
        let pem = std::fs::read(ca_path).map_err(|err| {
            Error::invalid_config(
                "storage.trace.s3.tls_ca_path",
                format!("cannot read {}: {err}", ca_path.display()),
            )
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(|err| {
            Error::invalid_config(
                "storage.trace.s3.tls_ca_path",
                format!("not a pem certificate: {err}"),
            )
        })?;
        options = options.with_root_certificate(certificate);
    }
    let mut retry = http_retry_config(requests);
    if let Some(attempts) = s3.retry_max_attempts {
        retry.max_retries = attempts.saturating_sub(1) as usize;
    }
    if let Some(initial) = s3.retry_backoff_initial {
        retry.backoff.init_backoff = initial;
    }
    if let Some(max) = s3.retry_backoff_max {
        retry.backoff.max_backoff = max;
    }
    // from_env: with no static keys, the AWS chain (env, web identity, ECS, IMDS) is used.
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&s3.bucket)
        .with_client_options(options)
        .with_retry(retry);
    if !s3.region.is_empty() {
        builder = builder.with_region(&s3.region);
    }
    if !s3.access_key.is_empty() {
        builder = builder
            .with_access_key_id(&s3.access_key)
            .with_secret_access_key(s3.secret_key.expose());
        if !s3.session_token.is_empty() {
            builder = builder.with_token(s3.session_token.expose());
        }
    }
    builder = match endpoint {
        // Custom endpoints (MinIO, Ceph, R2, ...) are addressed path-style.
        Some(url) => builder
            .with_endpoint(url)
            .with_virtual_hosted_style_request(false),
        None => builder.with_virtual_hosted_style_request(!s3.forcepathstyle),
    };
    let store = builder
        .build()
        .map_err(|source| build_error(Backend::S3, source))?;
    Ok(Arc::new(store))
}

fn build_gcs(gcs: &GcsConfig, requests: &RequestConfig) -> Result<Arc<dyn ObjectStore>> {
    let options = client_options(requests, gcs.insecure);
    let mut builder = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(&gcs.bucket_name)
        .with_client_options(options)
        .with_retry(http_retry_config(requests));
    if let Some(path) = &gcs.service_account_path {
        builder = builder.with_service_account_path(path.display().to_string());
    }
    let endpoint = gcs.endpoint.trim().trim_end_matches('/');
    if !endpoint.is_empty() {
        // Tempo's endpoint is the JSON API URL (`.../storage/v1/`); object_store wants its root.
        let base = endpoint.trim_end_matches("/storage/v1");
        builder = builder.with_base_url(base);
    }
    let store = builder
        .build()
        .map_err(|source| build_error(Backend::Gcs, source))?;
    Ok(Arc::new(store))
}

fn build_azure(azure: &AzureConfig, requests: &RequestConfig) -> Result<Arc<dyn ObjectStore>> {
    let endpoint = azure.endpoint_url();
    let allow_http = endpoint
        .as_deref()
        .is_some_and(|url| url.starts_with("http://"));
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_account(&azure.storage_account_name)
        .with_container_name(&azure.container_name)
        .with_client_options(client_options(requests, allow_http))
        .with_allow_http(allow_http)
        .with_retry(http_retry_config(requests));
    if !azure.storage_account_key.is_empty() {
        builder = builder.with_access_key(azure.storage_account_key.expose());
    }
    if !azure.user_assigned_id.is_empty() {
        builder = builder.with_client_id(&azure.user_assigned_id);
    }
    if let Some(url) = endpoint {
        builder = builder.with_endpoint(url);
    }
    let store = builder
        .build()
        .map_err(|source| build_error(Backend::Azure, source))?;
    Ok(Arc::new(store))
}
