//! [`Ingester`]: pushes (WAL append with group commit, then live traces), reads of recent data
//! (trace by ID, snapshots for search), and the lifecycle (`run`, in `lifecycle`).
//!
//! A push is checked against the tenant's limits and the memory limit before anything is
//! written; the accepted segments become one WAL record (encoded and compressed on the CPU
//! pool, the segment bytes copied as they are); the push returns once the group commit that
//! covers the record is synced, and only then are the segments added to the live traces, as
//! ranges of the record (held compressed, and uncompressed while recent: see `packed`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use contrail_proto::internal::v1::{PushErrorReason, TraceSegment};
use contrail_proto::{Clock, PushBatch, PushError, PushOutcome, PushTarget, TenantId, TraceId};
use contrail_storage::config::{BlockConfig, WalConfig};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::config::IngesterConfig;
use crate::cpu::CpuPool;
use crate::error::{Error, Result};
use crate::flush::Flusher;
use crate::instance::{CutPolicy, Instance, PushLimits};
use crate::limits::TenantLimits;
use crate::metrics::IngesterMetrics;
use crate::packed::{ChunkBytes, HeldBytes, PackedRecord, RawBudget};
use crate::trace::Chunk;
use crate::wal::segment::SegmentTracker;
use crate::wal::{Wal, WalOptions, record};

pub(crate) const STARTING: u8 = 0;
pub(crate) const READY: u8 = 1;
pub(crate) const STOPPING: u8 = 2;
pub(crate) const STOPPED: u8 = 3;

/// Everything an ingester is built from.
pub struct IngesterArgs {
    /// `ingester:`.
    pub config: IngesterConfig,
    /// `storage.trace.wal`.
    pub wal: WalConfig,
    /// `storage.trace.block`.
    pub block: BlockConfig,
    /// Where blocks are uploaded (`contrail_storage::build_object_store`).
    pub store: Arc<dyn ObjectStore>,
    /// Per-tenant limits (the binary adapts Tempo's overrides).
    pub limits: Arc<dyn TenantLimits>,
    /// Where the ingester's metrics are registered.
    pub registry: prometheus::Registry,
    /// Time for idle periods and block cuts.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IngesterArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngesterArgs")
            .field("config", &self.config)
            .field("wal", &self.wal)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) config: IngesterConfig,
    pub(crate) policy: CutPolicy,
    pub(crate) wal_options: WalOptions,
    pub(crate) limits: Arc<dyn TenantLimits>,
    pub(crate) metrics: IngesterMetrics,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cpu: CpuPool,
    pub(crate) flusher: Flusher,
    pub(crate) instances: RwLock<HashMap<TenantId, Arc<Instance>>>,
    pub(crate) wal: OnceLock<Wal>,
    pub(crate) tracker: Arc<SegmentTracker>,
    pub(crate) state: AtomicU8,
    pub(crate) state_tx: watch::Sender<u8>,
    pub(crate) bytes_in_memory: Arc<HeldBytes>,
    pub(crate) raw_budget: RawBudget,
    pub(crate) inflight_pushes: AtomicUsize,
    pub(crate) flush_requested: Notify,
    pub(crate) stop_requested: CancellationToken,
    pub(crate) flush_permits: Arc<Semaphore>,
}

/// The ingester. Cheap to clone (a handle); `run` drives it, the clones push and read.
#[derive(Clone)]
pub struct Ingester {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("wal", &self.inner.wal_options.dir)
            .field("state", &self.inner.state.load(Ordering::SeqCst))
            .finish()
    }
}

impl Ingester {
    /// Builds an ingester; nothing is replayed or accepted until [`Ingester::run`].
    pub fn new(args: IngesterArgs) -> Result<Self> {
        Self::build(args, None)
    }

    /// An ingester whose WAL segments are opened by `opener` (tests: a device that fails).
    #[cfg(test)]
    pub(crate) fn with_segment_opener(
        args: IngesterArgs,
        opener: crate::wal::writer::SegmentOpener,
    ) -> Result<Self> {
        Self::build(args, Some(opener))
    }

    fn build(
        args: IngesterArgs,
        opener: Option<crate::wal::writer::SegmentOpener>,
    ) -> Result<Self> {
        let IngesterArgs {
            config,
            wal,
            block,
            store,
            limits,
            registry,
            clock,
        } = args;
        for warning in config.validate()? {
            tracing::warn!(key = %warning.key, "{}", warning.message);
        }
        wal.validate()
            .map_err(|error| Error::invalid_config("storage.trace.wal", error.to_string()))?;
        block
            .validate()
            .map_err(|error| Error::invalid_config("storage.trace.block", error.to_string()))?;
        let metrics = IngesterMetrics::new(&registry)?;
        let mut wal_options = WalOptions::from_config(&wal);
        if let Some(opener) = opener {
            wal_options.opener = opener;
        }
        let local_dir = wal_options.dir.join("blocks");
        // Blocks left by an earlier run are kept if uploaded, else replayed (`reload`).
        std::fs::create_dir_all(&local_dir)
            .map_err(|source| Error::wal_io("create", &local_dir, source))?;
        let local: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(&local_dir)
                .map_err(|error| Error::wal_io("open", &local_dir, std::io::Error::other(error)))?,
        );
        let cpu = CpuPool::per_core();
        let nanos =
            |duration: std::time::Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let policy = CutPolicy {
            idle_nanos: nanos(config.trace_idle_period),
            max_live_nanos: nanos(config.max_trace_live_period),
            max_block_bytes: usize::try_from(config.max_block_bytes.as_u64()).unwrap_or(usize::MAX),
            max_block_nanos: nanos(config.max_block_duration),
            complete_block_nanos: nanos(config.complete_block_timeout),
        };
        let (state_tx, _) = watch::channel(STARTING);
        let raw_budget = RawBudget::new(config.uncompressed_budget());
        let held = Arc::new(HeldBytes::default());
        let inner = Inner {
            flush_permits: Arc::new(Semaphore::new(config.concurrent_flushes)),
            config,
            policy,
            tracker: Arc::new(SegmentTracker::new(wal_options.dir.clone())),
            wal_options,
            limits,
            flusher: Flusher {
                local,
                remote: store,
                block,
                cpu: cpu.clone(),
                metrics: metrics.clone(),
                held: held.clone(),
            },
            metrics,
            clock,
            cpu,
            instances: RwLock::new(HashMap::new()),
            wal: OnceLock::new(),
            state: AtomicU8::new(STARTING),
            state_tx,
            bytes_in_memory: held,
            raw_budget,
            inflight_pushes: AtomicUsize::new(0),
            flush_requested: Notify::new(),
            stop_requested: CancellationToken::new(),
        };
        Ok(Ingester {
            inner: Arc::new(inner),
        })
    }

    /// Whether the WAL is replayed and pushes are taken (`/ready`).
    pub fn is_ready(&self) -> bool {
        self.inner.state.load(Ordering::SeqCst) == READY
    }

    /// Waits until the ingester is ready; `false` if it stopped first.
    pub async fn wait_ready(&self) -> bool {
        let mut state = self.inner.state_tx.subscribe();
        state
            .wait_for(|state| *state != STARTING)
            .await
            .is_ok_and(|state| *state == READY)
    }

    /// Asks the run loop to cut and upload everything held (Tempo's `/flush`); returns at once.
    pub fn request_flush(&self) {
        self.inner.flush_requested.notify_one();
    }

    /// Stops taking pushes, flushes everything and ends `run` (Tempo's `/shutdown`).
    pub fn request_shutdown(&self) {
        self.inner.stop_requested.cancel();
    }

    /// Bytes of traces held in memory (live, head and flushing): held WAL records,
    /// compressed and, while recent, uncompressed, and the unpacked bytes of blocks being
    /// written.
    pub fn bytes_in_memory(&self) -> u64 {
        self.inner.bytes_in_memory.get()
    }

    /// The metrics of this ingester.
    pub fn metrics(&self) -> &IngesterMetrics {
        &self.inner.metrics
    }

    pub(crate) fn instance(&self, tenant: &TenantId) -> Option<Arc<Instance>> {
        self.inner
            .instances
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
            .cloned()
    }

    pub(crate) fn instance_or_create(&self, tenant: &TenantId) -> Arc<Instance> {
        if let Some(instance) = self.instance(tenant) {
            return instance;
        }
        self.inner
            .instances
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(Instance::new(tenant.clone())))
            .clone()
    }

    pub(crate) fn instances(&self) -> Vec<Arc<Instance>> {
        self.inner
            .instances
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Makes `batch` durable for `tenant`: `Ok` means every segment not listed as rejected in
    /// the outcome is in the WAL (synced per the fsync policy).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, segments = batch.segments.len()))]
    pub async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome> {
        let inner = &self.inner;
        let _inflight = InflightGuard::enter(&inner.inflight_pushes);
        match inner.state.load(Ordering::SeqCst) {
            READY => {}
            state => {
                inner
                    .metrics
                    .pushes_refused
                    .with_label_values(&["not_accepting"])
                    .inc();
                return Err(Error::NotAccepting {
                    state: if state == STARTING {
                        "replaying its wal"
                    } else {
                        "shutting down"
                    },
                });
            }
        }
        let mut sizes = Vec::with_capacity(batch.segments.len());
        for segment in &batch.segments {
            let trace_id = segment.trace_id().map_err(|error| Error::BadRequest {
                message: format!("trace segment: {error}"),
            })?;
            sizes.push((trace_id, segment.trace.len()));
        }
        let instance = self.instance_or_create(tenant);
        let limits = PushLimits {
            max_live_traces: inner.limits.max_live_traces(tenant),
            max_bytes_per_trace: inner.limits.max_bytes_per_trace(tenant),
        };
        let admission = instance.admit(&sizes, limits);
        let accepted: Vec<(TraceId, TraceSegment)> = sizes
            .iter()
            .zip(batch.segments)
            .zip(&admission.reasons)
            .filter(|(_, reason)| **reason == PushErrorReason::Unspecified)
            .map(|(((trace_id, _), segment), _)| (*trace_id, segment))
            .collect();
        for reason in admission
            .reasons
            .iter()
            .filter(|reason| **reason != PushErrorReason::Unspecified)
        {
            let status = match reason {
                PushErrorReason::MaxLiveTraces => "max_live_traces",
                PushErrorReason::TraceTooLarge => "trace_too_large",
                _ => "unknown",
            };
            inner
                .metrics
                .segments_refused
                .with_label_values(&[tenant.as_str(), status])
                .inc();
        }
        if !accepted.is_empty() {
            self.append_accepted(
                tenant,
                &instance,
                accepted,
                batch.checked,
                admission.accepted_bytes,
            )
            .await?;
        }
        let outcome = if admission
            .reasons
            .iter()
            .all(|reason| *reason == PushErrorReason::Unspecified)
        {
            PushOutcome::all_accepted()
        } else {
            PushOutcome {
                errors_by_segment: admission.reasons,
            }
        };
        Ok(outcome)
    }

    /// The refusal that taking `bytes` more bytes of segments gets now: the same check (and
    /// the same `pushes_refused{reason="memory_limit"}` count) as a push's, made before the
    /// distributor decodes a request. `None` while the ingester is not ready: its push answers.
    pub fn memory_refusal(&self, bytes: u64) -> Option<Error> {
        let inner = &self.inner;
        if inner.state.load(Ordering::SeqCst) != READY {
            return None;
        }
        let limit = inner.config.max_bytes_in_memory.as_u64();
        let held = inner.bytes_in_memory.get();
        if held.saturating_add(bytes) <= limit {
            return None;
        }
        inner
            .metrics
            .pushes_refused
            .with_label_values(&["memory_limit"])
            .inc();
        Some(Error::MemoryLimit {
            in_memory_bytes: held,
            limit_bytes: limit,
        })
    }

    async fn append_accepted(
        &self,
        tenant: &TenantId,
        instance: &Instance,
        accepted: Vec<(TraceId, TraceSegment)>,
        checked: bool,
        accepted_bytes: usize,
    ) -> Result<()> {
        let inner = &self.inner;
        let limit = inner.config.max_bytes_in_memory.as_u64();
        // Reserved until the record exists and counts itself (`PackedRecord::new`): its
        // payload (the segments plus at most 64 bytes of framing each, and the tenant) and the
        // compressed copy (at most zstd's bound of the payload), so that an accepted push
        // never takes the count past the limit.
        let payload = accepted_bytes as u64 + 64 * accepted.len() as u64 + 256;
        let bytes = 2 * payload + payload / 256 + 64;
        let held = inner.bytes_in_memory.add(bytes);
        if held + bytes > limit {
            inner.bytes_in_memory.sub(bytes);
            inner
                .metrics
                .pushes_refused
                .with_label_values(&["memory_limit"])
                .inc();
            return Err(Error::MemoryLimit {
                in_memory_bytes: held,
                limit_bytes: limit,
            });
        }
        let result = self.append_to_wal(tenant, accepted, checked).await;
        inner.bytes_in_memory.sub(bytes);
        let (chunks, seq) = match result {
            Ok(appended) => appended,
            Err(error) => {
                inner
                    .metrics
                    .pushes_refused
                    .with_label_values(&["wal_error"])
                    .inc();
                return Err(error);
            }
        };
        let spans: u64 = chunks.iter().map(|(_, chunk)| u64::from(chunk.spans)).sum();
        instance.insert(chunks, seq, inner.clock.now_unix_nanos());
        inner
            .metrics
            .spans_received
            .with_label_values(&[tenant.as_str()])
            .inc_by(spans);
        self.update_memory_gauge();
        Ok(())
    }

    /// Sets the `bytes_in_memory` gauge from the counter.
    pub(crate) fn update_memory_gauge(&self) {
        let held = self.inner.bytes_in_memory.get();
        self.inner
            .metrics
            .bytes_in_memory
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    async fn append_to_wal(
        &self,
        tenant: &TenantId,
        accepted: Vec<(TraceId, TraceSegment)>,
        checked: bool,
    ) -> Result<(Vec<(TraceId, Chunk)>, u64)> {
        let wal = self.inner.wal.get().ok_or(Error::NotAccepting {
            state: "replaying its wal",
        })?;
        let tenant_for_record = tenant.clone();
        let held = self.inner.bytes_in_memory.clone();
        let (framed, packed, chunks) = self
            .inner
            .cpu
            .run(move || {
                let encoded = record::encode_record(
                    &tenant_for_record,
                    accepted.iter().map(|(_, segment)| segment),
                )?;
                let record::EncodedRecord {
                    framed,
                    compressed,
                    raw,
                    trace_ranges,
                } = encoded;
                let packed = PackedRecord::new(compressed, raw, held);
                let chunks: Vec<(TraceId, Chunk)> = accepted
                    .into_iter()
                    .zip(trace_ranges)
                    .map(|((trace_id, segment), range)| {
                        (
                            trace_id,
                            Chunk {
                                bytes: ChunkBytes::Packed {
                                    record: packed.clone(),
                                    range,
                                },
                                spans: segment.span_count,
                                start_unix_nano: segment.start_time_unix_nano,
                                end_unix_nano: segment.end_time_unix_nano,
                                checked,
                            },
                        )
                    })
                    .collect();
                Ok::<_, std::io::Error>((framed, packed, chunks))
            })
            .await?
            .map_err(|error| Error::WalAppend {
                message: format!("encode record: {error}"),
            })?;
        let seq = wal.append(framed, chunks.len() as u64).await?;
        // Only acknowledged records take part in the budget; the others drop with `chunks`.
        self.inner.raw_budget.admit(&packed);
        Ok((chunks, seq))
    }
}

struct InflightGuard<'a>(&'a AtomicUsize);

impl<'a> InflightGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        InflightGuard(counter)
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl PushTarget for Ingester {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError> {
        Ingester::push(self, tenant, batch)
            .await
            .map_err(PushError::from)
    }

    fn refusal(&self, _tenant: &TenantId, bytes: u64) -> Option<PushError> {
        self.memory_refusal(bytes).map(PushError::from)
    }
}
