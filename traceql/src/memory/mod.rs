//! The in-memory [`SpanSource`]: a set of OTLP traces (the ingester's live, not yet flushed
//! traces) answering fetches with the same semantics as the vc1 source. Conditions are checked
//! on the OTLP structs and only the selected spans are materialised, so a search over recent
//! data costs little more than the matching spans. Nested-set numbers come from
//! [`crate::structure::numbers`] (spans not connected to a root get 0s); a trace whose spans
//! reference a parent it does not hold reports `has_orphans`. Attributes the blocks keep in
//! dedicated columns (`service.name`, `http.response.status_code`, ...) are plain attributes
//! here and behave the same.

mod check;
mod fetch;
pub mod otlp;
mod trace;

pub use trace::MemoryTrace;

use std::sync::Arc;

use async_trait::async_trait;

use crate::cpu::{CpuRunner, run_cpu};
use crate::fetch::{
    FetchError, FetchOutput, FetchRequest, MemoryBudget, SecondPassBatch, SecondPassRequest,
    SpanSource,
};

/// A [`SpanSource`] over traces held in memory; fetches run on the given CPU pool.
pub struct MemorySource {
    traces: Arc<Vec<MemoryTrace>>,
    runner: Arc<dyn CpuRunner>,
    latest_start_unix_nano: Option<u64>,
}

impl std::fmt::Debug for MemorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySource")
            .field("traces", &self.traces.len())
            .finish()
    }
}

impl MemorySource {
    /// A source over `traces`.
    pub fn new(traces: Vec<MemoryTrace>, runner: Arc<dyn CpuRunner>) -> Self {
        let latest_start_unix_nano = traces
            .iter()
            .flat_map(|trace| &trace.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans)
            .map(|span| span.start_time_unix_nano)
            .max();
        MemorySource {
            traces: Arc::new(traces),
            runner,
            latest_start_unix_nano,
        }
    }
}

#[async_trait]
impl SpanSource for MemorySource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        _budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        let traces = Arc::clone(&self.traces);
        let request = request.clone();
        run_cpu(self.runner.as_ref(), move || {
            fetch::fetch(&traces, &request)
        })
        .await
        .map_err(FetchError::from)
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        _budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        let traces = Arc::clone(&self.traces);
        let request = request.clone();
        run_cpu(self.runner.as_ref(), move || {
            fetch::second_pass(&traces, &request)
        })
        .await
        .map_err(FetchError::from)
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        self.latest_start_unix_nano
    }
}
