//! Splitting a request's time range between the ingesters and the blocks.
//!
//! Ingesters are asked for `[max(start, now − query_ingesters_until), end]`, blocks for
//! `[start, min(end, now − query_backend_after)]`. Config validation keeps
//! `query_backend_after ≤ query_ingesters_until`, so the two windows cover the whole range
//! without a gap; where they overlap (or touch, when both settings are equal), a trace found on
//! both sides is merged by trace ID into one result, never reported twice. A request without
//! `start`/`end` reads recent data only, as Tempo does. `query_end_cutoff` trims the end first.

use std::time::Duration;

use crate::service::TimeRange;

/// The split settings (`query_frontend.search`).
#[derive(Debug, Clone, Copy)]
pub struct SplitSettings {
    pub query_backend_after: Duration,
    pub query_ingesters_until: Duration,
    pub query_end_cutoff: Duration,
}

/// The windows of one request, unix nanoseconds, inclusive; `None` when a side is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub recent: Option<(u64, u64)>,
    pub blocks: Option<(u64, u64)>,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Splits `range` at `now_unix_nanos`.
pub fn split_windows(range: TimeRange, now_unix_nanos: u64, settings: SplitSettings) -> Windows {
    let Some((start, requested_end)) = range.nanos() else {
        return Windows {
            recent: Some((0, u64::MAX)),
            blocks: None,
        };
    };
    let end = if settings.query_end_cutoff.is_zero() {
        requested_end
    } else {
        requested_end.min(now_unix_nanos.saturating_sub(nanos(settings.query_end_cutoff)))
    };
    if end < start {
        return Windows {
            recent: None,
            blocks: None,
        };
    }
    let ingesters_from = now_unix_nanos.saturating_sub(nanos(settings.query_ingesters_until));
    let blocks_until = now_unix_nanos.saturating_sub(nanos(settings.query_backend_after));
    let recent = (end >= ingesters_from).then(|| (start.max(ingesters_from), end));
    let blocks = (start <= blocks_until).then(|| (start, end.min(blocks_until)));
    Windows { recent, blocks }
}
