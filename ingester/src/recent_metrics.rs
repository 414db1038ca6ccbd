//! TraceQL metrics over the recent data of one tenant (`QueryRangeRecent`): the live, head and
//! flushing traces (decoded on the CPU pool into a `traceql::MemorySource`) and the local
//! complete blocks (a `BlockSpanSource` each), run by the engine's metrics driver. The job
//! counts only its span starts (from the querier's cut between blocks and recent data on), so
//! spans this ingester has already uploaded are not counted twice: blocks count the spans that
//! started before the cut, this ingester the later ones, including those of its uploaded
//! blocks still kept locally (`complete_block_timeout`). With replicas on several ingesters
//! (RF > 1) the job counts only the traces this ingester owns among those the querier asked
//! (`ownership`, ADR 013), so each replicated trace is counted by one ingester.

use std::sync::Arc;

use contrail_proto::TenantId;
use contrail_proto::internal::v1::{MetricsJobRequest, MetricsPartial, RecentOwnership};
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_traceql::fetch::{MemoryBudget, SpanSource, TraceFilter};
use contrail_traceql::metrics::{job_from_proto, run_metrics, wire};
use contrail_traceql::search::driver::CpuRunner;
use contrail_traceql::{MemorySource, MemoryTrace};

use crate::error::{Error, Result};
use crate::ownership::Ownership;
use crate::service::Ingester;

/// Bytes one metrics job over recent data may hold when the querier sets no budget.
const METRICS_MEMORY_BYTES: usize = 256 * 1024 * 1024;

fn metrics_error(error: contrail_traceql::Error) -> Error {
    Error::RecentMetrics {
        source: Box::new(error),
    }
}

impl Ingester {
    /// Runs a metrics job over the tenant's recent data; the partial in its wire form. With
    /// `ownership` (RF > 1) only the traces this ingester owns among the asked ones count.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, owned_only = ownership.is_some()))]
    pub async fn query_range_recent(
        &self,
        tenant: &TenantId,
        request: &MetricsJobRequest,
        ownership: Option<&RecentOwnership>,
    ) -> Result<MetricsPartial> {
        let ownership = Ownership::from_proto(ownership)?.map(Arc::new);
        let received = job_from_proto(request).map_err(metrics_error)?;
        let query = Arc::new(received.query);
        let window = query.request.window;
        let starts = query.request.span_starts;
        let start = window.start_unix_nano().max(starts.first);
        let end = window.end_unix_nano().min(starts.last);
        if start > end {
            return Ok(wire::to_proto(&query.plan.empty_partial(&query.request)));
        }
        // Traces overlapping the span starts counted (a trace holding such a span overlaps).
        let snapshot = self.recent(tenant, start, end);
        let blocks = snapshot.blocks.clone();
        let keep = ownership.as_ref().map(|ownership| ownership.keep(tenant));
        let keep_live = keep.clone();
        let traces: Vec<MemoryTrace> = self
            .inner
            .cpu
            .run(move || {
                let mut snapshot = snapshot;
                if let Some(keep) = &keep_live {
                    // Before decoding: traces this ingester does not count cost nothing.
                    snapshot.traces.retain(|trace| keep(&trace.trace_id));
                }
                snapshot
                    .decode_merged()
                    .into_iter()
                    .map(|trace| MemoryTrace {
                        trace_id: trace.trace_id,
                        resource_spans: trace.resource_spans,
                    })
                    .collect()
            })
            .await?;
        let runner: Arc<dyn CpuRunner> = Arc::new(self.inner.cpu.clone());
        let mut sources: Vec<Arc<dyn SpanSource>> =
            vec![Arc::new(MemorySource::new(traces, runner.clone()))];
        sources.extend(blocks.into_iter().map(|reader| {
            let block: Arc<dyn SpanSource> = Arc::new(BlockSpanSource::new(reader, 0..usize::MAX));
            match &keep {
                Some(keep) => Arc::new(TraceFilter::new(block, keep.clone(), runner.clone())),
                None => block,
            }
        }));
        let budget = match usize::try_from(received.memory_budget_bytes).unwrap_or(usize::MAX) {
            0 => MemoryBudget::new(METRICS_MEMORY_BYTES),
            bytes => MemoryBudget::new(bytes),
        };
        let outcome = run_metrics(&query, &sources, runner.as_ref(), &budget)
            .await
            .map_err(metrics_error)?;
        let partial = outcome.partial;
        self.inner.cpu.run(move || wire::to_proto(&partial)).await
    }
}
