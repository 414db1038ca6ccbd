//! Time bucketing of metrics queries (../shared/spec/traceql.md §10.1).
//!
//! A range query with `start`, `end` and `step` is aligned to the step (start down, end up) and
//! split into right-closed intervals: interval `i` is `(start + i·step, start + (i+1)·step]`, so a
//! span starting exactly at `start` is outside and one starting exactly at an interval's end is
//! inside that interval. A sample's timestamp is its interval's end. The query frontend also adds
//! one extra leading interval ([`TimeWindow::for_range_request`]). An instant query has a single
//! closed interval `[start, end]`.
//!
//! Every partial result of a query uses the same window, so partials merge cell by cell.

use strength_reduce::StrengthReducedU64;

use crate::error::{Error, Result};

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The intervals of a metrics query, in unix nanoseconds (already aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    start_unix_nano: u64,
    end_unix_nano: u64,
    step_nano: u64,
    instant: bool,
}

impl TimeWindow {
    /// A range window: `start` aligned down and `end` aligned up to multiples of `step`, without
    /// the frontend's extra leading interval (jobs and tests that want exactly these intervals).
    pub fn range(start_unix_nano: u64, end_unix_nano: u64, step_nano: u64) -> Result<Self> {
        check_bounds(start_unix_nano, end_unix_nano)?;
        if step_nano == 0 {
            return Err(Error::metrics_request("step must be greater than 0"));
        }
        let aligned_start = start_unix_nano - start_unix_nano % step_nano;
        let remainder = end_unix_nano % step_nano;
        let aligned_end = if remainder == 0 {
            end_unix_nano
        } else {
            end_unix_nano
                .checked_add(step_nano - remainder)
                .ok_or_else(|| Error::metrics_request("end is out of range"))?
        };
        Ok(TimeWindow {
            start_unix_nano: aligned_start,
            end_unix_nano: aligned_end,
            step_nano,
            instant: false,
        })
    }

    /// The window the query frontend uses for a range request: aligned to the step, plus one
    /// extra leading interval (as Tempo's frontend does, so the first partial step is shown).
    pub fn for_range_request(
        start_unix_nano: u64,
        end_unix_nano: u64,
        step_nano: u64,
    ) -> Result<Self> {
        let mut window = TimeWindow::range(start_unix_nano, end_unix_nano, step_nano)?;
        if window.start_unix_nano > step_nano {
            window.start_unix_nano -= step_nano;
        }
        Ok(window)
    }

    /// An instant window: one closed interval `[start, end]`.
    pub fn instant(start_unix_nano: u64, end_unix_nano: u64) -> Result<Self> {
        check_bounds(start_unix_nano, end_unix_nano)?;
        Ok(TimeWindow {
            start_unix_nano,
            end_unix_nano,
            step_nano: end_unix_nano - start_unix_nano,
            instant: true,
        })
    }

    /// A window from its aligned parts, as another process sent them ([`crate::metrics::job`]):
    /// checked, never trusted (a positive step dividing the range, at most `max_intervals`).
    pub fn from_parts(
        start_unix_nano: u64,
        end_unix_nano: u64,
        step_nano: u64,
        instant: bool,
        max_intervals: u64,
    ) -> Result<Self> {
        if instant {
            let window = TimeWindow::instant(start_unix_nano, end_unix_nano)?;
            if window.step_nano != step_nano {
                return Err(Error::metrics_request(
                    "an instant window's step must be its length",
                ));
            }
            return Ok(window);
        }
        let window = TimeWindow::range(start_unix_nano, end_unix_nano, step_nano)?;
        if window.end_unix_nano != end_unix_nano || window.start_unix_nano != start_unix_nano {
            return Err(Error::metrics_request(
                "the window is not aligned to its step",
            ));
        }
        if window.intervals() as u64 > max_intervals {
            return Err(Error::metrics_request(format!(
                "the window has {} intervals, more than {max_intervals}",
                window.intervals()
            )));
        }
        Ok(window)
    }

    /// Aligned start (the left border of interval 0, exclusive for range windows).
    pub fn start_unix_nano(&self) -> u64 {
        self.start_unix_nano
    }

    /// Aligned end (the right border of the last interval, inclusive).
    pub fn end_unix_nano(&self) -> u64 {
        self.end_unix_nano
    }

    /// Interval width; for an instant window the whole window.
    pub fn step_nano(&self) -> u64 {
        self.step_nano
    }

    /// `true` for an instant window.
    pub fn is_instant(&self) -> bool {
        self.instant
    }

    /// Number of intervals.
    pub fn intervals(&self) -> usize {
        if self.instant {
            return 1;
        }
        ((self.end_unix_nano - self.start_unix_nano) / self.step_nano) as usize
    }

    /// The interval a span starting at `start_unix_nano` belongs to, `None` outside the window.
    #[inline]
    pub fn interval_of(&self, start_unix_nano: u64) -> Option<usize> {
        if self.instant {
            return (start_unix_nano >= self.start_unix_nano
                && start_unix_nano <= self.end_unix_nano)
                .then_some(0);
        }
        if start_unix_nano <= self.start_unix_nano || start_unix_nano > self.end_unix_nano {
            return None;
        }
        Some(((start_unix_nano - self.start_unix_nano - 1) / self.step_nano) as usize)
    }

    /// The same mapping as [`TimeWindow::interval_of`] for hot loops (no 64-bit division).
    pub fn mapper(&self) -> IntervalMapper {
        self.mapper_within(SpanStarts::ALL)
    }

    /// [`TimeWindow::mapper`] for a job that counts only the spans of `starts`.
    pub fn mapper_within(&self, starts: SpanStarts) -> IntervalMapper {
        IntervalMapper {
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: self.end_unix_nano,
            step: StrengthReducedU64::new(self.step_nano.max(1)),
            instant: self.instant,
            starts,
        }
    }

    /// The sample timestamp of interval `index`: its end, in unix milliseconds.
    pub fn timestamp_ms_of(&self, index: usize) -> i64 {
        let end = if self.instant {
            self.end_unix_nano
        } else {
            self.start_unix_nano + (index as u64 + 1) * self.step_nano
        };
        (end / NANOS_PER_MILLI) as i64
    }

    /// The interval a millisecond timestamp (an exemplar's) belongs to.
    pub fn interval_of_ms(&self, timestamp_ms: u64) -> Option<usize> {
        self.interval_of(timestamp_ms.saturating_mul(NANOS_PER_MILLI))
    }

    /// Interval width in seconds (`rate()` divides by it).
    pub fn step_seconds(&self) -> f64 {
        self.step_nano as f64 / NANOS_PER_SECOND as f64
    }
}

/// The span starts one job counts, unix nanoseconds, both ends inclusive. Data split in time
/// between jobs (blocks before a cut, the ingesters' recent data from it on) is counted by
/// disjoint jobs this way, while every job keeps the query's cells ([`TimeWindow`]): a span
/// outside a job's range is left to the job that owns it, so no span is counted twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanStarts {
    pub first: u64,
    pub last: u64,
}

impl SpanStarts {
    /// Every span start.
    pub const ALL: SpanStarts = SpanStarts {
        first: 0,
        last: u64::MAX,
    };

    /// Spans starting before `cut`.
    pub fn before(cut_unix_nano: u64) -> SpanStarts {
        SpanStarts {
            first: 0,
            last: cut_unix_nano.saturating_sub(1),
        }
    }

    /// Spans starting at `cut` or later.
    pub fn from(cut_unix_nano: u64) -> SpanStarts {
        SpanStarts {
            first: cut_unix_nano,
            last: u64::MAX,
        }
    }

    /// Whether a span starting at `start_unix_nano` is counted.
    #[inline]
    pub fn contains(&self, start_unix_nano: u64) -> bool {
        start_unix_nano >= self.first && start_unix_nano <= self.last
    }

    /// `true` when no span start is excluded.
    pub fn is_all(&self) -> bool {
        *self == SpanStarts::ALL
    }
}

impl Default for SpanStarts {
    fn default() -> Self {
        SpanStarts::ALL
    }
}

/// Span start → interval, precomputed for a loop over many spans (the division by the step
/// is a multiply by a precomputed reciprocal). Spans outside the job's [`SpanStarts`] map to
/// no interval.
#[derive(Debug, Clone, Copy)]
pub struct IntervalMapper {
    start_unix_nano: u64,
    end_unix_nano: u64,
    step: StrengthReducedU64,
    instant: bool,
    starts: SpanStarts,
}

impl IntervalMapper {
    /// See [`TimeWindow::interval_of`].
    #[inline]
    pub fn interval_of(&self, start_unix_nano: u64) -> Option<usize> {
        if !self.starts.contains(start_unix_nano) {
            return None;
        }
        if self.instant {
            return (start_unix_nano >= self.start_unix_nano
                && start_unix_nano <= self.end_unix_nano)
                .then_some(0);
        }
        if start_unix_nano <= self.start_unix_nano || start_unix_nano > self.end_unix_nano {
            return None;
        }
        let offset = start_unix_nano - self.start_unix_nano - 1;
        Some((offset / self.step) as usize)
    }
}

fn check_bounds(start_unix_nano: u64, end_unix_nano: u64) -> Result<()> {
    if start_unix_nano == 0 {
        return Err(Error::metrics_request("start is required"));
    }
    if end_unix_nano <= start_unix_nano {
        return Err(Error::metrics_request("end must be greater than start"));
    }
    Ok(())
}

/// The default step of a range query (spec §10.1): about 240 points, `(end − start)/240` rounded
/// down to a multiple of the largest of 1h, 5m, 1m, 15s, 5s and 1s that fits, at least 1s; for
/// windows under one minute, a multiple of 50ms (at least 50ms).
pub fn default_step_nano(start_unix_nano: u64, end_unix_nano: u64) -> u64 {
    const SECOND: u64 = NANOS_PER_SECOND;
    const UNITS: [u64; 6] = [
        3600 * SECOND,
        300 * SECOND,
        60 * SECOND,
        15 * SECOND,
        5 * SECOND,
        SECOND,
    ];
    let window = end_unix_nano.saturating_sub(start_unix_nano);
    let baseline = window / 240;
    if window < 60 * SECOND {
        let unit = 50 * NANOS_PER_MILLI;
        return (baseline / unit * unit).max(unit);
    }
    UNITS
        .iter()
        .find(|unit| baseline >= **unit)
        .map_or(SECOND, |unit| baseline / unit * unit)
}
