//! The `with(...)` hints metrics queries read (spec §11): `sample`, `span_sample`,
//! `trace_sample` and `exemplars`. Lookups are type directed: a hint given with the wrong literal
//! type is ignored; float hints accept ints.
//!
//! Sampling is deterministic: a trace (or span) is kept when a hash of its identity falls below
//! the rate, so the same spans are kept whichever partial sees them, and the multiplier `1/rate`
//! applied when the partials are finalized scales exact integer counts. `sample=true` (Tempo's
//! adaptive sampling) runs unsampled: Contrail answers at full scan speed, and an exact answer is
//! a valid adaptive choice (ADR 012).

use crate::ast::{Hint, Static};

/// The sampling and exemplar hints of a query.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricsHints {
    /// Fraction of spans kept (span-level sampling), in (0, 1).
    pub span_sample: Option<f64>,
    /// Fraction of traces kept (trace-level sampling), in (0, 1).
    pub trace_sample: Option<f64>,
    /// `sample=<fraction>`: applied at trace level when the query needs whole traces, else at
    /// span level (resolved by [`MetricsHints::sampling`]).
    pub sample: Option<f64>,
    /// `exemplars=false` (0) or `exemplars=<n>`; `exemplars=true` keeps the request's value.
    pub exemplars: Option<u32>,
}

/// The sampling a query runs with.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    pub span_rate: Option<f64>,
    pub trace_rate: Option<f64>,
}

impl Sampling {
    /// What every count and sum is multiplied by.
    pub fn multiplier(&self) -> f64 {
        let span = self.span_rate.map_or(1.0, |rate| 1.0 / rate);
        let trace = self.trace_rate.map_or(1.0, |rate| 1.0 / rate);
        span * trace
    }

    /// `true` when nothing is sampled.
    pub fn is_exact(&self) -> bool {
        self.span_rate.is_none() && self.trace_rate.is_none()
    }
}

fn fraction(value: &Static) -> Option<f64> {
    let rate = match value {
        Static::Float(rate) => *rate,
        Static::Int(rate) => *rate as f64,
        _ => return None,
    };
    (rate > 0.0 && rate < 1.0).then_some(rate)
}

impl MetricsHints {
    /// Reads the metrics hints of a query's `with(...)` (the last value of a repeated hint wins).
    pub fn from_hints(hints: &[Hint]) -> MetricsHints {
        let mut result = MetricsHints::default();
        for hint in hints {
            match (hint.name.as_str(), &hint.value) {
                ("sample", value) => {
                    if let Some(rate) = fraction(value) {
                        result.sample = Some(rate);
                    }
                }
                ("span_sample", value) => {
                    if let Some(rate) = fraction(value) {
                        result.span_sample = Some(rate);
                    }
                }
                ("trace_sample", value) => {
                    if let Some(rate) = fraction(value) {
                        result.trace_sample = Some(rate);
                    }
                }
                ("exemplars", Static::Bool(false)) => result.exemplars = Some(0),
                ("exemplars", Static::Int(count)) if *count >= 0 => {
                    result.exemplars = Some(u32::try_from(*count).unwrap_or(u32::MAX));
                }
                _ => {}
            }
        }
        result
    }

    /// The sampling of a query; `needs_full_trace` places `sample=<fraction>` at trace level.
    pub fn sampling(&self, needs_full_trace: bool) -> Sampling {
        let mut sampling = Sampling {
            span_rate: self.span_sample,
            trace_rate: self.trace_sample,
        };
        if let Some(rate) = self.sample {
            if needs_full_trace {
                sampling.trace_rate = Some(rate);
            } else {
                sampling.span_rate = Some(rate);
            }
        }
        sampling
    }

    /// How many exemplars per series to keep: the request's number (`exemplars=`), overridden
    /// by the hint, never above `server_max`.
    pub fn exemplar_limit(&self, requested: u32, server_max: u32) -> u32 {
        self.exemplars.unwrap_or(requested).min(server_max)
    }
}

/// A 64-bit mix (splitmix64's finalizer), so structured inputs spread over the whole range.
#[inline]
pub(crate) fn mix64(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// The sampling hash of a trace.
#[inline]
pub(crate) fn trace_hash(trace_id: &[u8; 16]) -> u64 {
    let high = u64::from_be_bytes(trace_id[..8].try_into().unwrap_or_default());
    let low = u64::from_be_bytes(trace_id[8..].try_into().unwrap_or_default());
    mix64(high ^ mix64(low))
}

/// `true` when a hash is kept at `rate`.
#[inline]
pub(crate) fn keeps(hash: u64, rate: f64) -> bool {
    (hash as f64) < rate * u64::MAX as f64
}
