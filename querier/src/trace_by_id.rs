//! Trace by ID: recent data and blocks at once, merged.
//!
//! Blocks: candidates are the live blocks whose trace-ID range holds the ID and whose time range
//! overlaps the request's hints (`start`/`end`), then `BlockReader::find_trace` on each, all at
//! once (bounded): one bloom shard GET per candidate (cached), and for the block that holds the
//! trace, the footer (cached) and only the pages of the row group whose ID range holds it. A
//! block gone under the lookup is skipped when the blocklist now knows it compacted, and the
//! blocks that replaced it are read instead.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use contrail_proto::otlp::trace::v1::ResourceSpans;
use contrail_proto::tempopb::Trace;
use contrail_proto::{ErrorCode, TenantId, TraceId};
use contrail_storage::block::{BlockMeta, BlockReader, Uuid};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use prost::Message;

use crate::blocklist::{Blocklist, TenantBlocks};
use crate::error::{Error, Result};
use crate::merge::combine_trace_parts;
use crate::recent::RecentData;
use crate::service::{QueryMode, TraceByIdRequest, TraceByIdResult};

/// Candidate blocks read at once by one lookup.
const BLOCK_LOOKUP_CONCURRENCY: usize = 64;
/// How many times a lookup re-reads the blocklist after finding blocks compacted away.
const COMPACTION_RETRIES: usize = 2;

/// Per-tenant limits the querier applies; the binary implements it over the overrides.
pub trait TenantLimits: Send + Sync + 'static {
    /// The tenant's `max_bytes_per_trace`; 0 means no limit.
    fn max_bytes_per_trace(&self, tenant: &TenantId) -> u64;
}

/// The same limits for every tenant.
#[derive(Debug, Clone, Copy)]
pub struct StaticLimits {
    /// Bytes of one trace returned at most (Tempo's default is 5 MB); 0 = no limit.
    pub max_bytes_per_trace: u64,
}

impl Default for StaticLimits {
    fn default() -> Self {
        StaticLimits {
            max_bytes_per_trace: 5_000_000,
        }
    }
}

impl TenantLimits for StaticLimits {
    fn max_bytes_per_trace(&self, _tenant: &TenantId) -> u64 {
        self.max_bytes_per_trace
    }
}

/// Finds traces by ID; see the module docs.
pub(crate) struct TraceFinder {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) limits: Arc<dyn TenantLimits>,
    pub(crate) timeout: Duration,
}

struct BlockParts {
    parts: Vec<Vec<ResourceSpans>>,
    inspected_bytes: u64,
}

fn is_candidate(meta: &BlockMeta, request: &TraceByIdRequest) -> bool {
    if !meta.may_contain(&request.trace_id) {
        return false;
    }
    if let Some((start, end)) = request.range.nanos() {
        let block_start =
            u64::try_from(meta.start_time.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
        let block_end = u64::try_from(meta.end_time.timestamp_nanos_opt().unwrap_or(i64::MAX))
            .unwrap_or(u64::MAX);
        if block_end < start || block_start > end {
            return false;
        }
    }
    request
        .block_start
        .is_none_or(|first| meta.block_id >= first)
        && request.block_end.is_none_or(|last| meta.block_id <= last)
}

fn is_not_found(error: &contrail_storage::Error) -> bool {
    error.code() == ErrorCode::NotFound
}

impl TraceFinder {
    /// The trace across `tenants` (one for a normal request).
    pub(crate) async fn find(
        &self,
        tenants: &[TenantId],
        request: &TraceByIdRequest,
    ) -> Result<TraceByIdResult> {
        let lookups = tenants
            .iter()
            .map(|tenant| self.find_in_tenant(tenant, request));
        let work = futures::future::try_join_all(lookups);
        let answers = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| Error::Timeout)??;
        let max_bytes = tenants
            .iter()
            .map(|tenant| self.limits.max_bytes_per_trace(tenant))
            .min()
            .unwrap_or(0);
        let mut parts = Vec::new();
        let mut inspected_bytes = 0;
        for answer in answers {
            parts.extend(answer.parts);
            inspected_bytes += answer.inspected_bytes;
        }
        // Merging re-encodes every span (dedupe, size accounting): off the async threads.
        let (resource_spans, truncated) =
            tokio::task::spawn_blocking(move || combine_trace_parts(parts, max_bytes))
                .await
                .map_err(|error| Error::internal(format!("merging trace parts: {error}")))?;
        Ok(TraceByIdResult {
            trace: Trace { resource_spans },
            partial_message: truncated.then(|| {
                format!(
                    "Trace exceeds maximum size of {max_bytes} bytes, a partial trace is returned"
                )
            }),
            inspected_bytes,
        })
    }

    async fn find_in_tenant(
        &self,
        tenant: &TenantId,
        request: &TraceByIdRequest,
    ) -> Result<BlockParts> {
        let recent = async {
            if request.mode == QueryMode::Blocks {
                return Ok(Vec::new());
            }
            let traces = self
                .recent
                .find_trace_by_id(tenant, &request.trace_id)
                .await?;
            Ok::<_, Error>(
                traces
                    .into_iter()
                    .map(|trace| trace.resource_spans)
                    .collect(),
            )
        };
        let blocks = async {
            if request.mode == QueryMode::Ingesters {
                return Ok(BlockParts {
                    parts: Vec::new(),
                    inspected_bytes: 0,
                });
            }
            self.find_in_blocks(tenant, request).await
        };
        let (recent_parts, mut block_parts) = tokio::try_join!(recent, blocks)?;
        // Recent data first: the freshest copy of a span wins the deduplication.
        let mut parts = recent_parts;
        parts.append(&mut block_parts.parts);
        Ok(BlockParts {
            parts,
            inspected_bytes: block_parts.inspected_bytes,
        })
    }

    async fn find_in_blocks(
        &self,
        tenant: &TenantId,
        request: &TraceByIdRequest,
    ) -> Result<BlockParts> {
        let mut blocks: Arc<TenantBlocks> = self.blocklist.blocks(tenant).await?;
        let mut searched: HashSet<Uuid> = HashSet::new();
        let mut found = BlockParts {
            parts: Vec::new(),
            inspected_bytes: 0,
        };
        for attempt in 0..=COMPACTION_RETRIES {
            let candidates: Vec<Arc<BlockMeta>> = blocks
                .live
                .iter()
                .filter(|meta| !searched.contains(&meta.block_id) && is_candidate(meta, request))
                .cloned()
                .collect();
            searched.extend(candidates.iter().map(|meta| meta.block_id));
            let missing = self
                .lookup(candidates, &request.trace_id, &mut found)
                .await?;
            if missing.is_empty() {
                return Ok(found);
            }
            blocks = self.blocklist.refresh(tenant).await?;
            if let Some(gone) = missing.iter().find(|id| !blocks.compacted.contains(id)) {
                return Err(Error::Storage(contrail_storage::Error::CorruptBlock {
                    object: format!("{tenant}/{gone}"),
                    message: "objects of a live block are missing".to_owned(),
                }));
            }
            tracing::debug!(tenant = %tenant, blocks = missing.len(), attempt, "blocks compacted under a trace lookup; reading their replacements");
        }
        Err(Error::Storage(contrail_storage::Error::CorruptBlock {
            object: tenant.to_string(),
            message: "blocks kept being compacted away during the lookup".to_owned(),
        }))
    }

    /// Reads `candidates`; returns the IDs of those that turned out to be gone.
    async fn lookup(
        &self,
        candidates: Vec<Arc<BlockMeta>>,
        trace_id: &TraceId,
        found: &mut BlockParts,
    ) -> Result<Vec<Uuid>> {
        let results: Vec<(Uuid, Option<Vec<ResourceSpans>>, bool)> =
            futures::stream::iter(candidates)
                .map(|meta| {
                    let store = self.store.clone();
                    let trace_id = *trace_id;
                    async move {
                        let block_id = meta.block_id;
                        let reader = BlockReader::open(store, (*meta).clone())?;
                        match reader.find_trace(&trace_id).await {
                            Ok(trace) => {
                                Ok((block_id, trace.map(|trace| trace.resource_spans), false))
                            }
                            Err(error) if is_not_found(&error) => Ok((block_id, None, true)),
                            Err(error) => Err(Error::Storage(error)),
                        }
                    }
                })
                .buffer_unordered(BLOCK_LOOKUP_CONCURRENCY)
                .try_collect()
                .await?;
        let mut results = results;
        // Block order, not completion order: the first copy of a duplicated span wins.
        results.sort_by_key(|(block_id, _, _)| *block_id);
        let mut missing = Vec::new();
        for (block_id, trace, gone) in results {
            if gone {
                missing.push(block_id);
            }
            if let Some(resource_spans) = trace {
                found.inspected_bytes += resource_spans
                    .iter()
                    .map(|rs| rs.encoded_len() as u64)
                    .sum::<u64>();
                found.parts.push(resource_spans);
            }
        }
        Ok(missing)
    }
}
