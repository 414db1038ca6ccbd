//! `GET /api/metrics/query_range` and `/api/metrics/query` parameters (spec §2.5, §4.11,
//! §4.12): the TraceQL metrics query (`q`, alias `query`), `start`/`end` in any of Tempo's
//! forms, `since`, `step`, `exemplars`, `maxSeries`. Defaults that need the clock (`end` = now,
//! `start` = end − since) are resolved by [`MetricsQueryRequest::window`], which the service
//! calls with its clock; every check there is a 400 naming what is wrong.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use contrail_traceql::ast::Body;
use contrail_traceql::metrics::{MAX_INTERVALS, TimeWindow, default_step_nano};
use contrail_traceql::value::format_go_duration;

use super::{QueryParams, parse_go_duration, parse_u32};
use crate::error::{Error, Result};
use crate::service::MetricsQueryRequest;

#[cfg(test)]
mod tests;

const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// `since` when the request gives neither it nor `start`.
const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// What the metrics endpoints read from `query_frontend.metrics`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsLimits {
    /// Longest `end - start`; zero = no maximum.
    pub max_duration: Duration,
    /// Most exemplars per series.
    pub max_exemplars: u32,
    /// Most series per answer.
    pub max_series: usize,
}

/// A `start`/`end` value: unix seconds (up to 10 digits), unix nanoseconds (more digits),
/// fractional seconds, or RFC 3339; as unix nanoseconds.
pub fn parse_metrics_time(key: &str, text: &str) -> Result<u64> {
    let error = |reason: &str| {
        Error::bad_request(format!(
            "could not parse '{key}' parameter: {reason}: {text:?}"
        ))
    };
    if let Some((whole, fraction)) = text.split_once('.')
        && !text.contains('T')
    {
        // Fractional seconds, read exactly (a float would lose nanoseconds).
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(error("not a number of seconds"));
        }
        let seconds: u64 = whole.parse().map_err(|_| error("out of range"))?;
        let mut nanos: u64 = 0;
        let mut scale = NANOS_PER_SECOND;
        for digit in fraction.bytes().take(9) {
            scale /= 10;
            nanos += u64::from(digit - b'0') * scale;
        }
        return seconds
            .checked_mul(NANOS_PER_SECOND)
            .and_then(|total| total.checked_add(nanos))
            .ok_or_else(|| error("out of range"));
    }
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let value: u64 = text.parse().map_err(|_| error("out of range"))?;
        return if text.len() <= 10 {
            Ok(value * NANOS_PER_SECOND)
        } else {
            Ok(value)
        };
    }
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|_| error("not unix seconds, unix nanoseconds or RFC 3339"))?;
    time.timestamp_nanos_opt()
        .and_then(|nanos| u64::try_from(nanos).ok())
        .ok_or_else(|| error("out of range"))
}

/// A Prometheus duration (`15m`, `3h`, `1d`, `1w`, `1y`, or several units: `1h30m`); Go's form
/// (`1.5h`, `300ms`) is accepted too.
pub fn parse_prometheus_duration(text: &str) -> std::result::Result<Duration, String> {
    let units: [(&str, u64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let mut rest = text;
    let mut millis: u64 = 0;
    let mut parsed_any = false;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            break;
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after_unit) = after.split_at(unit_len);
        let Some((_, scale)) = units.iter().find(|(name, _)| *name == unit) else {
            break;
        };
        let value: u64 = number.parse().map_err(|_| "out of range".to_owned())?;
        millis = value
            .checked_mul(*scale)
            .and_then(|part| millis.checked_add(part))
            .ok_or_else(|| "out of range".to_owned())?;
        parsed_any = true;
        rest = after_unit;
    }
    if parsed_any && rest.is_empty() {
        return Ok(Duration::from_millis(millis));
    }
    parse_go_duration(text)
}

/// `step`: float seconds (`60`, `0.5`) or a Go duration (`30s`, `1m30s`); must be positive.
fn parse_step(text: &str) -> Result<u64> {
    let nanos = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => {
            if seconds < 0.0 {
                return Err(Error::bad_request(format!(
                    "invalid step: must not be negative, received {text:?}"
                )));
            }
            (seconds * NANOS_PER_SECOND as f64).round() as u64
        }
        _ => {
            let duration = parse_go_duration(text)
                .map_err(|message| Error::bad_request(format!("invalid step: {message}")))?;
            u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
        }
    };
    if nanos == 0 {
        return Err(Error::bad_request(format!(
            "invalid step: must be greater than 0, received {text:?}"
        )));
    }
    Ok(nanos)
}

/// `GET /api/metrics/query_range` (`instant` false) or `/api/metrics/query` (true).
pub fn parse_metrics(
    params: &QueryParams,
    instant: bool,
    max_query_bytes: usize,
) -> Result<MetricsQueryRequest> {
    let query = params
        .get("q")
        .or_else(|| params.get("query"))
        .unwrap_or("")
        .trim()
        .to_owned();
    if query.is_empty() {
        return Err(Error::bad_request(
            "invalid TraceQL query: q is required, e.g. q={} | rate()",
        ));
    }
    if query.len() > max_query_bytes {
        return Err(Error::bad_request(format!(
            "TraceQL query exceeds the maximum size of {max_query_bytes} bytes. received {} bytes",
            query.len()
        )));
    }
    let time = |key: &str| {
        params
            .get(key)
            .filter(|text| !text.is_empty())
            .map(|text| parse_metrics_time(key, text))
            .transpose()
    };
    let start_unix_nano = time("start")?;
    let end_unix_nano = time("end")?;
    let since = params
        .get("since")
        .filter(|text| !text.is_empty())
        .map(|text| {
            parse_prometheus_duration(text)
                .map_err(|message| Error::bad_request(format!("invalid since: {message}")))
        })
        .transpose()?;
    let step_nano = if instant {
        None
    } else {
        params
            .get("step")
            .filter(|text| !text.is_empty())
            .map(parse_step)
            .transpose()?
    };
    let root = contrail_traceql::parse_and_validate(&query).map_err(Error::InvalidQuery)?;
    if !matches!(root.body, Body::Metrics(_)) {
        return Err(Error::bad_request(format!(
            "invalid TraceQL query: {query:?} is a search, not a metrics query: add a metrics \
             function such as | rate() or | count_over_time()"
        )));
    }
    Ok(MetricsQueryRequest {
        query,
        root: Arc::new(root),
        start_unix_nano,
        end_unix_nano,
        since,
        step_nano,
        instant,
        exemplars: parse_u32(params, "exemplars")?,
        max_series: parse_u32(params, "maxSeries")?,
    })
}

fn go_duration(nanos: u64) -> String {
    format_go_duration(i64::try_from(nanos).unwrap_or(i64::MAX))
}

impl MetricsQueryRequest {
    /// The query's window at `now_unix_nanos` (defaults applied, aligned, the frontend's
    /// leading interval added), checked against `limits`.
    pub fn window(&self, now_unix_nanos: u64, limits: &MetricsLimits) -> Result<TimeWindow> {
        let end = self.end_unix_nano.unwrap_or(now_unix_nanos);
        let since = u64::try_from(self.since.unwrap_or(DEFAULT_SINCE).as_nanos()).unwrap_or(0);
        let start = self
            .start_unix_nano
            .unwrap_or_else(|| end.min(now_unix_nanos).saturating_sub(since));
        if end <= start {
            return Err(Error::bad_request(format!(
                "end must be greater than start. received start={start} end={end}"
            )));
        }
        let length = end - start;
        let max = u64::try_from(limits.max_duration.as_nanos()).unwrap_or(u64::MAX);
        if max != 0 && length > max {
            return Err(Error::bad_request(format!(
                "metrics query time range exceeds the maximum allowed duration of {}",
                go_duration(max)
            )));
        }
        let window = if self.instant {
            TimeWindow::instant(start, end)
        } else {
            let step = self
                .step_nano
                .unwrap_or_else(|| default_step_nano(start, end));
            let minimum = length.div_ceil(MAX_INTERVALS);
            if step < minimum {
                return Err(Error::bad_request(format!(
                    "step of {} is too small, minimum step for given range is {}",
                    go_duration(step),
                    go_duration(minimum)
                )));
            }
            TimeWindow::for_range_request(start, end, step)
        };
        window.map_err(|error| Error::bad_request(error.to_string()))
    }

    /// Exemplars per series: the request's number (default and cap `limits.max_exemplars`),
    /// then the query's `with(exemplars=...)` hint.
    pub fn exemplar_limit(
        &self,
        hint: &contrail_traceql::metrics::MetricsHints,
        limits: &MetricsLimits,
    ) -> u32 {
        let requested = self
            .exemplars
            .unwrap_or(limits.max_exemplars)
            .min(limits.max_exemplars);
        hint.exemplar_limit(requested, limits.max_exemplars)
    }

    /// Series cap: `maxSeries` when given and smaller than the server's.
    pub fn series_cap(&self, limits: &MetricsLimits) -> usize {
        match self.max_series {
            Some(cap) if cap > 0 => (cap as usize).min(limits.max_series),
            _ => limits.max_series,
        }
    }
}
