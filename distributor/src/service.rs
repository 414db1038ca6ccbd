//! [`Distributor`]: the push pipeline shared by both receivers: tenant → decode and regroup
//! (off the runtime when big) → rate limit → route to the replicas → summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use contrail_overrides::Overrides;
use contrail_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use contrail_proto::{Clock, IdError, PushError, TenantId};
use contrail_ring::Ring;
use prometheus::Registry;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::config::DistributorConfig;
use crate::decode::{ContentEncoding, DecodeJob, Decoded, PayloadFormat, run_decode_job};
use crate::error::{Error, Result};
use crate::limits::RateLimiter;
use crate::metrics::DistributorMetrics;
use crate::routing::{RouteArgs, quorum_for, refusal_label, route};

/// Bodies up to this size are decoded on the async runtime (tens of microseconds); bigger ones
/// on the blocking pool, at most `decode_workers` at a time.
const INLINE_DECODE_MAX_BYTES: usize = 64 * 1024;

/// What [`Distributor::new`] needs.
pub struct DistributorArgs<'a> {
    /// The `distributor` section.
    pub config: DistributorConfig,
    /// Tempo's top-level `multitenancy_enabled`.
    pub multitenancy_enabled: bool,
    /// Per-tenant limits.
    pub overrides: Arc<Overrides>,
    /// Where segments go.
    pub ring: Ring,
    /// Time for the rate limiter.
    pub clock: Arc<dyn Clock>,
    /// Where the metrics are registered.
    pub registry: &'a Registry,
}

/// One export as a receiver got it.
#[derive(Debug, Clone)]
pub struct RawExport {
    /// The resolved tenant.
    pub tenant: TenantId,
    /// The body (gRPC: the decompressed message).
    pub body: Bytes,
    /// The body's compression.
    pub encoding: ContentEncoding,
    /// The body's format.
    pub format: PayloadFormat,
    /// Largest decompressed body the receiver allows.
    pub max_body_bytes: u64,
    /// `grpc` or `http` (metrics label).
    pub protocol: &'static str,
}

/// The answer to an export that was not refused as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Spans durable on a write quorum.
    pub accepted_spans: u64,
    /// Spans refused for good (partial success).
    pub rejected_spans: u64,
    /// Why, when `rejected_spans > 0` (the OTLP partial-success `error_message`).
    pub message: String,
}

impl PushSummary {
    /// The OTLP response: empty on full success, `partial_success` otherwise.
    pub fn to_export_response(&self) -> ExportTraceServiceResponse {
        if self.rejected_spans == 0 {
            return ExportTraceServiceResponse::default();
        }
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: i64::try_from(self.rejected_spans).unwrap_or(i64::MAX),
                error_message: self.message.clone(),
            }),
        }
    }
}

/// The distributor.
pub struct Distributor {
    config: DistributorConfig,
    multitenancy_enabled: bool,
    overrides: Arc<Overrides>,
    ring: Ring,
    quorum: usize,
    limiter: RateLimiter,
    metrics: DistributorMetrics,
    decode_permits: Semaphore,
    background: TaskTracker,
    accepting: AtomicBool,
}

impl std::fmt::Debug for Distributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributor")
            .field("ring", &self.ring)
            .field("multitenancy_enabled", &self.multitenancy_enabled)
            .finish_non_exhaustive()
    }
}

impl Distributor {
    /// Builds a distributor; registers its metrics.
    pub fn new(
        DistributorArgs {
            config,
            multitenancy_enabled,
            overrides,
            ring,
            clock,
            registry,
        }: DistributorArgs<'_>,
    ) -> Result<Arc<Self>> {
        let metrics = DistributorMetrics::new(registry)?;
        let workers = match config.decode_workers {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            workers => workers,
        };
        Ok(Arc::new(Distributor {
            quorum: quorum_for(ring.replication_factor()),
            config,
            multitenancy_enabled,
            overrides,
            ring,
            limiter: RateLimiter::new(clock),
            metrics,
            decode_permits: Semaphore::new(workers),
            background: TaskTracker::new(),
            accepting: AtomicBool::new(true),
        }))
    }

    /// The `distributor` section this distributor runs with.
    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }

    /// The tenant of a request from its `X-Scope-OrgID` HTTP header.
    pub fn tenant_from_http(&self, headers: &http::HeaderMap) -> Result<TenantId> {
        if !self.multitenancy_enabled {
            return Ok(TenantId::single_tenant());
        }
        TenantId::from_http_headers(headers).map_err(tenant_error)
    }

    /// The tenant of a request from its `x-scope-orgid` gRPC metadata.
    pub fn tenant_from_grpc(&self, metadata: &tonic::metadata::MetadataMap) -> Result<TenantId> {
        if !self.multitenancy_enabled {
            return Ok(TenantId::single_tenant());
        }
        TenantId::from_grpc_metadata(metadata).map_err(tenant_error)
    }

    /// Counts a request refused before it reached [`Distributor::push`] (no tenant, bad
    /// content type, ...); `tenant` is empty when unknown.
    pub fn count_refused(&self, tenant: &str, reason: &str) {
        self.metrics
            .requests_refused
            .with_label_values(&[tenant, reason])
            .inc();
    }

    /// Stops taking pushes (shutdown step 1): new exports get UNAVAILABLE / 503.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// Whether pushes are taken.
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Waits for the replica pushes still running after their requests were answered.
    pub async fn drain(&self, timeout: Duration) {
        self.background.close();
        if tokio::time::timeout(timeout, self.background.wait())
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?timeout, "replica pushes still running at shutdown");
        }
    }

    /// Pushes one export: `Ok` when every segment not listed as rejected is durable on a write
    /// quorum of ingesters.
    #[tracing::instrument(skip_all, fields(tenant = %export.tenant, protocol = export.protocol))]
    pub async fn push(&self, export: RawExport) -> Result<PushSummary> {
        let started = Instant::now();
        let protocol = export.protocol;
        let tenant = export.tenant.clone();
        let result = self.push_inner(export).await;
        if let Err(error) = &result {
            self.count_refused(tenant.as_str(), error.reason());
            tracing::debug!(error = %error, "export refused");
        }
        self.metrics
            .push_duration
            .with_label_values(&[protocol])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn push_inner(&self, export: RawExport) -> Result<PushSummary> {
        if !self.is_accepting() {
            return Err(Error::ShuttingDown);
        }
        if let Some(refusal) = self.refusal_before_decode(&export) {
            return Err(Error::QuorumFailed(refusal));
        }
        let tenant = export.tenant;
        let tenant_label = tenant.as_str();
        let limits = self.overrides.limits_for(&tenant);
        let job = DecodeJob {
            body: export.body,
            encoding: export.encoding,
            format: export.format,
            max_body_bytes: export.max_body_bytes,
            max_attribute_bytes: limits.max_attribute_bytes_or(self.config.max_attribute_bytes),
            max_bytes_per_trace: limits.global.max_bytes_per_trace.as_u64(),
        };
        let Decoded {
            regrouped,
            received_bytes,
        } = self.decode(job).await?;
        self.metrics
            .spans_received
            .with_label_values(&[tenant_label])
            .inc_by(regrouped.received_spans);
        self.metrics
            .bytes_received
            .with_label_values(&[tenant_label])
            .inc_by(received_bytes);
        if regrouped.truncated_attributes > 0 {
            self.metrics
                .attributes_truncated
                .with_label_values(&[tenant_label])
                .inc_by(regrouped.truncated_attributes);
        }
        let ingestion = &limits.ingestion;
        if let Err(refusal) = self.limiter.admit(
            &tenant,
            received_bytes,
            ingestion.rate_limit_bytes.as_u64(),
            ingestion.burst_size_bytes.as_u64(),
        ) {
            self.discard(tenant_label, "rate_limited", regrouped.received_spans);
            let retry_after = if !ingestion.retry_info_enabled {
                None
            } else if self.config.retry_after_on_resource_exhausted.is_zero() {
                Some(refusal.retry_after)
            } else {
                Some(self.config.retry_after_on_resource_exhausted)
            };
            return Err(Error::RateLimited {
                message: refusal.message,
                retry_after,
            });
        }
        self.discard(tenant_label, "trace_too_large", regrouped.too_large_spans);
        self.metrics
            .traces_per_batch
            .observe(regrouped.segments.len() as f64);
        let routed_spans = regrouped.spans;
        let outcome = route(RouteArgs {
            tenant: &tenant,
            segments: regrouped.segments,
            checked: regrouped.checked,
            snapshot: self.ring.snapshot(),
            quorum: self.quorum,
            tracker: &self.background,
            metrics: &self.metrics,
        })
        .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.discard(tenant_label, "no_quorum", routed_spans);
                return Err(error);
            }
        };
        let mut summary = PushSummary {
            accepted_spans: outcome.accepted_spans,
            rejected_spans: regrouped.too_large_spans,
            message: String::new(),
        };
        let mut reasons = Vec::new();
        if regrouped.too_large_spans > 0 {
            reasons.push(format!(
                "TRACE_TOO_LARGE: {} spans of traces larger than max_bytes_per_trace ({} bytes) discarded",
                regrouped.too_large_spans,
                limits.global.max_bytes_per_trace.as_u64()
            ));
        }
        for (reason, spans) in outcome.refused_spans {
            let label = refusal_label(reason);
            self.discard(tenant_label, label, spans);
            summary.rejected_spans += spans;
            reasons.push(format!(
                "{}: {spans} spans refused by the ingesters",
                label.to_uppercase()
            ));
        }
        summary.message = reasons.join("; ");
        Ok(summary)
    }

    /// The refusal of an export that every healthy ingester would refuse now (the in-process
    /// ingester of the single binary at its memory limit), found before the export is decoded:
    /// under overload the decode of requests refused afterwards was a tenth of the server's CPU
    /// (docs/adr/007-block-writer-speed.md). Only uncompressed protobuf bodies are judged: their
    /// size is about that of the segments they become (the same spans, regrouped).
    fn refusal_before_decode(&self, export: &RawExport) -> Option<PushError> {
        if export.format != PayloadFormat::Protobuf || export.encoding != ContentEncoding::Identity
        {
            return None;
        }
        let bytes = export.body.len() as u64;
        let snapshot = self.ring.snapshot();
        let mut refusal = None;
        for member in snapshot.members() {
            let refused = member.target().refusal(&export.tenant, bytes)?;
            refusal.get_or_insert(refused);
        }
        refusal
    }

    async fn decode(&self, job: DecodeJob) -> Result<Decoded> {
        if job.body.len() <= INLINE_DECODE_MAX_BYTES {
            return run_decode_job(job);
        }
        let _permit = self
            .decode_permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("decode pool closed".to_owned()))?;
        tokio::task::spawn_blocking(move || run_decode_job(job))
            .await
            .map_err(|error| Error::Internal(format!("decode task failed: {error}")))?
    }

    fn discard(&self, tenant: &str, reason: &str, spans: u64) {
        if spans > 0 {
            self.metrics
                .discarded_spans
                .with_label_values(&[tenant, reason])
                .inc_by(spans);
        }
    }
}

fn tenant_error(error: IdError) -> Error {
    match error {
        IdError::MissingTenant => Error::MissingTenant,
        other => Error::InvalidTenant(other),
    }
}
