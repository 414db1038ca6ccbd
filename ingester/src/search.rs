//! TraceQL search over the recent data of one tenant (`SearchRecent`): the live, head and
//! flushing traces are decoded on the CPU pool into a `traceql::MemorySource` and searched by
//! the engine's driver. Complete blocks are searched where they also are, in the object store
//! (by the querier): searching their local copies here too would only repeat those results.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::{TenantId, tempopb};
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::search::driver::{CpuRunError, CpuRunner};
use contrail_traceql::{MemorySource, MemoryTrace, SearchOptions, plan_search, search};

use crate::cpu::CpuPool;
use crate::error::{Error, Result};
use crate::service::Ingester;

/// Bytes one search over recent data may hold (fetched spans and results).
const SEARCH_MEMORY_BYTES: usize = 256 * 1024 * 1024;

#[async_trait]
impl CpuRunner for CpuPool {
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), CpuRunError> {
        CpuPool::run(self, job).await.map_err(|error| CpuRunError {
            message: error.to_string(),
        })
    }
}

fn search_error(error: contrail_traceql::Error) -> Error {
    Error::Search {
        source: Box::new(error),
    }
}

/// Tempo's search parameters as the engine's options: `start`/`end` in seconds (0 = open),
/// `limit` 0 = 20, `spss` 0 = 3.
fn options(request: &tempopb::SearchRequest) -> SearchOptions {
    let defaults = SearchOptions::default();
    SearchOptions {
        start_unix_nano: u64::from(request.start) * 1_000_000_000,
        end_unix_nano: match request.end {
            0 => defaults.end_unix_nano,
            end => u64::from(end) * 1_000_000_000,
        },
        limit: match request.limit {
            0 => defaults.limit,
            limit => limit as usize,
        },
        spans_per_spanset: match request.spans_per_span_set {
            0 => defaults.spans_per_spanset,
            spss => spss as usize,
        },
        most_recent: false,
    }
}

impl Ingester {
    /// Runs a TraceQL search (`request.query`; empty = `{}`) over the tenant's recent traces.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn search_recent(
        &self,
        tenant: &TenantId,
        request: &tempopb::SearchRequest,
    ) -> Result<tempopb::SearchResponse> {
        if request.query.trim().is_empty() && !request.tags.is_empty() {
            return Err(Error::BadRequest {
                message: "tag-based search is not supported; send a traceql query".to_owned(),
            });
        }
        let query = if request.query.trim().is_empty() {
            "{}"
        } else {
            request.query.as_str()
        };
        let root = contrail_traceql::parse(query).map_err(search_error)?;
        let options = options(request);
        let plan = Arc::new(plan_search(&root, options.clone()).map_err(search_error)?);
        let end = if options.end_unix_nano == u64::MAX {
            0
        } else {
            options.end_unix_nano
        };
        let snapshot = self.recent(tenant, options.start_unix_nano, end);
        let cpu = self.inner.cpu.clone();
        let traces: Vec<MemoryTrace> = cpu
            .run(move || {
                snapshot
                    .traces
                    .iter()
                    .filter_map(|recent| recent.decode())
                    .map(|trace| MemoryTrace {
                        trace_id: trace.trace_id,
                        resource_spans: trace.resource_spans,
                    })
                    .collect()
            })
            .await?;
        let runner: Arc<dyn CpuRunner> = Arc::new(self.inner.cpu.clone());
        let sources: Vec<Arc<dyn SpanSource>> =
            vec![Arc::new(MemorySource::new(traces, runner.clone()))];
        let budget = MemoryBudget::new(SEARCH_MEMORY_BYTES);
        let outcome = search(&plan, &sources, runner.as_ref(), &budget)
            .await
            .map_err(search_error)?;
        Ok(outcome.response)
    }
}
