//! The ingester's lifecycle: `run` replays the WAL, becomes ready, sweeps live traces into head
//! blocks every `flush_check_period`, flushes cut blocks (at most `concurrent_flushes` at once,
//! retried until they land), and on shutdown stops taking pushes, flushes everything (with
//! `flush_all_on_shutdown`) and closes the WAL.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::BlockReader;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::instance::{CompleteBlock, CutBlock};
use crate::packed::{ChunkBytes, PackedRecord};
use crate::service::{Ingester, READY, STOPPED, STOPPING};
use crate::trace::Chunk;
use crate::wal::record::WalEntry;
use crate::wal::replay::ReplaySink;
use crate::wal::{self, ReplayStats, Wal};

/// Attempts per block once shutting down (the data stays in the WAL if all fail).
const SHUTDOWN_FLUSH_ATTEMPTS: u32 = 3;
/// Longest wait between two attempts of one block.
const MAX_FLUSH_BACKOFF: Duration = Duration::from_secs(30);

struct Replayer {
    ingester: Ingester,
}

impl ReplaySink for Replayer {
    fn replay(&mut self, seq: u64, entry: WalEntry, compressed: &[u8], raw: Bytes) -> Result<()> {
        let Ok(tenant) = TenantId::new(entry.tenant.clone()) else {
            tracing::warn!(tenant = %entry.tenant, "wal record with an invalid tenant skipped");
            return Ok(());
        };
        let instance = self.ingester.instance_or_create(&tenant);
        // Held like a pushed record: compressed, and uncompressed within the budget. The
        // chunks were acknowledged once: replay keeps them whatever the limits say.
        let record = PackedRecord::new(
            Bytes::copy_from_slice(compressed),
            raw.clone(),
            self.ingester.inner.bytes_in_memory.clone(),
        );
        let base = raw.as_ptr() as usize;
        let chunks: Vec<(TraceId, Chunk)> = entry
            .traces
            .into_iter()
            .filter_map(|trace| {
                let trace_id = TraceId::from_ingest_bytes(&trace.trace_id).ok()?;
                // Decoded from `raw`, so the trace bytes are a slice of it.
                let range = (trace.trace.as_ptr() as usize)
                    .checked_sub(base)
                    .map(|start| start..start + trace.trace.len())
                    .filter(|range| !range.is_empty() && range.end <= raw.len());
                let bytes = match range {
                    Some(range) => ChunkBytes::Packed {
                        record: record.clone(),
                        range,
                    },
                    None => ChunkBytes::Raw(trace.trace),
                };
                Some((
                    trace_id,
                    Chunk {
                        bytes,
                        spans: trace.span_count,
                        start_unix_nano: trace.start_time_unix_nano,
                        end_unix_nano: trace.end_time_unix_nano,
                        // Replayed bytes get the flush's full check.
                        checked: false,
                    },
                ))
            })
            .collect();
        drop(raw);
        self.ingester.inner.raw_budget.admit(&record);
        self.ingester.inner.tracker.add(seq, chunks.len() as u64);
        instance.insert(chunks, seq, self.ingester.inner.clock.now_unix_nanos());
        Ok(())
    }
}

impl Ingester {
    /// Replays the WAL, takes pushes until `shutdown` (or `/shutdown`), then stops taking them,
    /// flushes and returns. Errors: the WAL cannot be replayed (a corrupt record names its file
    /// and offset) or opened, or blocks could not be uploaded at shutdown (they stay in the WAL).
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        match self.reload_local_blocks().await {
            Ok(0) => {}
            Ok(kept) => tracing::info!(blocks = kept, "local complete blocks reloaded"),
            Err(error) => {
                self.set_state(STOPPED);
                return Err(error);
            }
        }
        let stats = match self.replay().await {
            Ok(stats) => stats,
            Err(error) => {
                self.set_state(STOPPED);
                return Err(error);
            }
        };
        tracing::info!(
            segments = stats.segments,
            records = stats.records,
            torn_tails = stats.torn_tails,
            skipped = stats.skipped,
            "wal replayed"
        );
        let wal = match Wal::start(
            &self.inner.wal_options,
            stats.next_seq,
            self.inner.tracker.clone(),
            self.inner.metrics.clone(),
        )
        .await
        {
            Ok(wal) => wal,
            Err(error) => {
                self.set_state(STOPPED);
                return Err(error);
            }
        };
        let _ = self.inner.wal.set(wal);
        let mut flushes = JoinSet::new();
        // Replayed data goes straight to blocks: its segments can then be deleted.
        if stats.records > 0 {
            self.sweep_all(true, &mut flushes);
        }
        self.set_state(READY);
        let period = self.inner.config.flush_check_period;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.stop_requested.cancelled() => break,
                _ = ticker.tick() => self.sweep_all(false, &mut flushes),
                _ = self.inner.flush_requested.notified() => self.sweep_all(true, &mut flushes),
                Some(joined) = flushes.join_next(), if !flushes.is_empty() => {
                    log_flush(joined);
                }
            }
        }
        self.stop(flushes).await
    }

    async fn stop(&self, mut flushes: JoinSet<Result<()>>) -> Result<()> {
        self.set_state(STOPPING);
        // Pushes already past the state check finish (their records are acknowledged).
        while self.inner.inflight_pushes.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.inner.config.flush_all_on_shutdown {
            self.sweep_all(true, &mut flushes);
        }
        let mut failed = 0usize;
        while let Some(joined) = flushes.join_next().await {
            if !log_flush(joined) {
                failed += 1;
            }
        }
        if let Some(wal) = self.inner.wal.get() {
            wal.close().await;
        }
        self.set_state(STOPPED);
        if failed > 0 {
            return Err(Error::Task {
                message: format!(
                    "{failed} blocks could not be uploaded at shutdown; their traces stay in the wal"
                ),
            });
        }
        tracing::info!("ingester stopped");
        Ok(())
    }

    fn set_state(&self, state: u8) {
        self.inner.state.store(state, Ordering::SeqCst);
        self.inner.state_tx.send_replace(state);
    }

    async fn replay(&self) -> Result<ReplayStats> {
        let ingester = self.clone();
        tokio::task::spawn_blocking(move || {
            let inner = ingester.inner.clone();
            let mut sink = Replayer { ingester };
            wal::replay(
                &inner.wal_options,
                &inner.tracker,
                &inner.metrics,
                &mut sink,
            )
        })
        .await
        .map_err(|error| Error::Task {
            message: format!("wal replay: {error}"),
        })?
    }

    /// Sweeps every tenant; cut blocks are flushed by tasks in `flushes`.
    fn sweep_all(&self, force: bool, flushes: &mut JoinSet<Result<()>>) {
        // Records are released when their last trace drops: the gauge catches up here too.
        self.update_memory_gauge();
        let now = self.inner.clock.now_unix_nanos();
        for instance in self.instances() {
            let sweep = instance.sweep(now, self.inner.policy, force);
            self.inner
                .metrics
                .live_traces
                .with_label_values(&[instance.tenant.as_str()])
                .set(i64::try_from(sweep.live_traces).unwrap_or(i64::MAX));
            if !sweep.expired.is_empty() {
                let local_dir = self.inner.wal_options.dir.join("blocks");
                let expired: Vec<_> = sweep
                    .expired
                    .iter()
                    .map(|block| {
                        let meta = block.reader.meta();
                        local_dir
                            .join(meta.tenant_id.as_str())
                            .join(meta.block_id.to_string())
                    })
                    .collect();
                flushes.spawn_blocking(move || {
                    for dir in expired {
                        if let Err(error) = std::fs::remove_dir_all(&dir) {
                            tracing::warn!(path = %dir.display(), error = %error, "cannot delete local block");
                        }
                    }
                    Ok(())
                });
            }
            for block in sweep.cut {
                let ingester = self.clone();
                flushes.spawn(async move { ingester.flush_block(block).await });
            }
        }
    }

    /// Writes, uploads and completes one cut block, retrying until it lands (or, when shutting
    /// down, a few attempts).
    async fn flush_block(&self, block: Arc<CutBlock>) -> Result<()> {
        let inner = &self.inner;
        let _permit = inner
            .flush_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Task {
                message: "flush permits closed".to_owned(),
            })?;
        let started = Instant::now();
        let mut written = None;
        let mut attempt = 0u32;
        let mut backoff = Duration::from_millis(500);
        loop {
            let step = tokio::time::timeout(inner.config.flush_op_timeout, async {
                if written.is_none() {
                    match inner.flusher.write_local(&block).await? {
                        Some(block_written) => written = Some(block_written),
                        None => return Ok(false),
                    }
                }
                match &written {
                    Some(block_written) => inner.flusher.upload(block_written).await.map(|()| true),
                    None => Ok(false),
                }
            })
            .await
            .unwrap_or_else(|_| {
                Err(Error::FlushTimeout {
                    tenant: block.tenant.to_string(),
                    block_id: block.block_id,
                })
            });
            match step {
                Ok(uploaded) => {
                    let written = if uploaded { written.take() } else { None };
                    self.finish_flush(&block, written, started).await?;
                    return Ok(());
                }
                Err(error) => {
                    attempt += 1;
                    inner.metrics.flush_failures.inc();
                    tracing::warn!(
                        tenant = %block.tenant,
                        block_id = %block.block_id,
                        attempt,
                        error = %error,
                        "block flush failed"
                    );
                    if inner.state.load(Ordering::SeqCst) >= STOPPING
                        && attempt >= SHUTDOWN_FLUSH_ATTEMPTS
                    {
                        return Err(error);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_FLUSH_BACKOFF);
                }
            }
        }
    }

    async fn finish_flush(
        &self,
        block: &Arc<CutBlock>,
        written: Option<contrail_storage::block::WrittenBlock>,
        started: Instant,
    ) -> Result<()> {
        let inner = &self.inner;
        let Some(instance) = self.instance(&block.tenant) else {
            return Err(Error::Task {
                message: format!("tenant {} vanished during a flush", block.tenant),
            });
        };
        match written {
            Some(written) => {
                let reader = BlockReader::open(inner.flusher.local.clone(), written.meta).map_err(
                    |source| Error::Storage {
                        source: Box::new(source),
                    },
                )?;
                instance.complete(
                    block.block_id,
                    CompleteBlock {
                        reader: Arc::new(reader),
                        uploaded_unix_nano: inner.clock.now_unix_nanos(),
                        trace_ids: Some(
                            block.traces.iter().map(|(trace_id, _)| *trace_id).collect(),
                        ),
                    },
                );
                inner
                    .metrics
                    .blocks_flushed
                    .with_label_values(&[block.tenant.as_str()])
                    .inc();
                inner
                    .metrics
                    .spans_flushed
                    .with_label_values(&[block.tenant.as_str()])
                    .inc_by(block.spans);
                inner
                    .metrics
                    .flush_duration_seconds
                    .observe(started.elapsed().as_secs_f64());
                tracing::info!(
                    tenant = %block.tenant,
                    block_id = %block.block_id,
                    traces = block.traces.len(),
                    spans = block.spans,
                    seconds = started.elapsed().as_secs_f64(),
                    "block flushed"
                );
            }
            None => instance.discard(block.block_id),
        }
        // The block's records are released as its last holder drops it (this task, or a
        // search still reading it); the gauge follows the counter after a flush too.
        self.update_memory_gauge();
        let refs: Vec<(u64, u32)> = block
            .traces
            .iter()
            .flat_map(|(_, trace)| trace.refs.iter().copied())
            .collect();
        let ingester = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(wal) = ingester.inner.wal.get() {
                wal.release(&refs);
            }
        })
        .await
        .map_err(|error| Error::Task {
            message: error.to_string(),
        })
    }
}

/// Logs a finished flush task; `false` when it failed.
fn log_flush(joined: std::result::Result<Result<()>, tokio::task::JoinError>) -> bool {
    match joined {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::error!(error = %error, "block flush given up; its traces stay in the wal");
            false
        }
        Err(error) => {
            tracing::error!(error = %error, "flush task failed");
            false
        }
    }
}
