//! A metrics job as it travels to another process (`contrail.internal.v1.MetricsJobRequest`):
//! the query text, the query's window and limits, and the span starts the job counts. The
//! receiver re-plans the query from its text and checks every field, so a corrupt or hostile
//! message is an error naming the field, never a panic or an unbounded allocation.

use contrail_proto::internal::v1 as pb;

use crate::error::{Error, Result};
use crate::metrics::engine::MetricsQuery;
use crate::metrics::plan::MetricsPlan;
use crate::metrics::query::{DEFAULT_MAX_SERIES, MAX_EXEMPLARS, MetricsRequest};
use crate::metrics::window::{SpanStarts, TimeWindow};
use crate::metrics::wire::window_to_proto;

/// The most intervals a query may have (Tempo's limit), plus the frontend's leading one.
pub const MAX_INTERVALS: u64 = 10_000;

/// The most series a job may be asked to keep per leaf.
const MAX_JOB_SERIES: u32 = 1_000_000;

/// The message of a job running `query` (its text) for `request`.
pub fn job_to_proto(
    query: &str,
    request: &MetricsRequest,
    memory_budget_bytes: u64,
) -> pb::MetricsJobRequest {
    pb::MetricsJobRequest {
        query: query.to_owned(),
        window: Some(window_to_proto(&request.window)),
        max_series: u32::try_from(request.max_series).unwrap_or(u32::MAX),
        max_exemplars: request.max_exemplars,
        span_start_first: request.span_starts.first,
        span_start_last: request.span_starts.last,
        memory_budget_bytes,
    }
}

/// A received job: the compiled query and the memory budget its sender asked for (0:
/// unlimited).
#[derive(Debug, Clone)]
pub struct ReceivedJob {
    pub query: MetricsQuery,
    pub memory_budget_bytes: u64,
}

fn bad(message: impl Into<String>) -> Error {
    Error::metrics_request(message)
}

/// The job of a message, planned and compiled.
pub fn job_from_proto(message: &pb::MetricsJobRequest) -> Result<ReceivedJob> {
    let wire = message
        .window
        .as_ref()
        .ok_or_else(|| bad("the metrics job has no window"))?;
    let window = TimeWindow::from_parts(
        wire.start_unix_nano,
        wire.end_unix_nano,
        wire.step_nano,
        wire.instant,
        MAX_INTERVALS + 1,
    )?;
    if message.span_start_first > message.span_start_last {
        return Err(bad(format!(
            "the metrics job's span starts are empty: first {} after last {}",
            message.span_start_first, message.span_start_last
        )));
    }
    if message.max_series > MAX_JOB_SERIES {
        return Err(bad(format!(
            "max_series {} is above {MAX_JOB_SERIES}",
            message.max_series
        )));
    }
    let max_series = match message.max_series {
        0 => DEFAULT_MAX_SERIES,
        cap => cap as usize,
    };
    let plan = MetricsPlan::parse(&message.query)?;
    let request = MetricsRequest {
        window,
        max_series,
        max_exemplars: message.max_exemplars.min(MAX_EXEMPLARS),
        span_starts: SpanStarts {
            first: message.span_start_first,
            last: message.span_start_last,
        },
    };
    Ok(ReceivedJob {
        query: MetricsQuery::new(plan, request)?,
        memory_budget_bytes: message.memory_budget_bytes,
    })
}
