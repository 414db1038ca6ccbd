//! Per-tenant ingestion limits applied by this distributor: the byte-rate token bucket
//! ([`RateLimiter`]) and attribute truncation (`max_attribute_bytes`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::trace::v1::Span;
use contrail_proto::{Clock, TenantId};

/// Token buckets in bytes, one per tenant, refilled at the tenant's `rate_limit_bytes` per
/// second up to `burst_size_bytes`. One short lock per request.
#[derive(Debug)]
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last_unix_nanos: u64,
}

/// Why the bucket refused a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateLimitRefusal {
    pub(crate) message: String,
    pub(crate) retry_after: Duration,
}

impl RateLimiter {
    /// An empty set of buckets reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        RateLimiter {
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `bytes` from `tenant`'s bucket, or says why not. `rate_bytes_per_second == 0`
    /// means no limit.
    pub(crate) fn admit(
        &self,
        tenant: &TenantId,
        bytes: u64,
        rate_bytes_per_second: u64,
        burst_bytes: u64,
    ) -> Result<(), RateLimitRefusal> {
        if rate_bytes_per_second == 0 {
            return Ok(());
        }
        if bytes > burst_bytes {
            return Err(RateLimitRefusal {
                message: format!(
                    "batch size ({bytes} bytes) exceeds ingestion limit (local: {rate_bytes_per_second} bytes/s, burst size: {burst_bytes} bytes) while adding {bytes} bytes"
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        let now = self.clock.now_unix_nanos();
        let rate = rate_bytes_per_second as f64;
        let burst = burst_bytes as f64;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: burst,
            last_unix_nanos: now,
        });
        let elapsed_seconds = now.saturating_sub(bucket.last_unix_nanos) as f64 / 1e9;
        bucket.tokens = (bucket.tokens + elapsed_seconds * rate).min(burst);
        bucket.last_unix_nanos = now;
        let wanted = bytes as f64;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            return Ok(());
        }
        let missing_seconds = (wanted - bucket.tokens) / rate;
        Err(RateLimitRefusal {
            message: format!(
                "ingestion rate limit (local: {rate_bytes_per_second} bytes/s, burst size: {burst_bytes} bytes) exceeded while adding {bytes} bytes"
            ),
            retry_after: Duration::from_secs_f64(missing_seconds.ceil().max(1.0)),
        })
    }
}

/// Truncates every attribute key and string value longer than `max_bytes` (at a character
/// boundary) in a span, its events and its links; returns how many were cut.
pub(crate) fn truncate_span(span: &mut Span, max_bytes: usize) -> u64 {
    let mut truncated = truncate_list(&mut span.attributes, max_bytes);
    for event in &mut span.events {
        truncated += truncate_list(&mut event.attributes, max_bytes);
    }
    for link in &mut span.links {
        truncated += truncate_list(&mut link.attributes, max_bytes);
    }
    truncated
}

/// Truncates the attributes of a list (resource, scope, span, event or link attributes).
pub(crate) fn truncate_list(attributes: &mut [KeyValue], max_bytes: usize) -> u64 {
    let mut truncated = 0;
    for attribute in attributes {
        let mut cut = truncate_string(&mut attribute.key, max_bytes);
        if let Some(value) = &mut attribute.value {
            cut |= truncate_value(value, max_bytes, &mut truncated);
        }
        truncated += u64::from(cut);
    }
    truncated
}

/// Truncates a value in place; nested array and kvlist members count on their own.
fn truncate_value(value: &mut AnyValue, max_bytes: usize, nested_truncated: &mut u64) -> bool {
    match &mut value.value {
        Some(any_value::Value::StringValue(text)) => truncate_string(text, max_bytes),
        Some(any_value::Value::ArrayValue(array)) => {
            for member in &mut array.values {
                *nested_truncated += u64::from(truncate_value(member, max_bytes, nested_truncated));
            }
            false
        }
        Some(any_value::Value::KvlistValue(list)) => {
            *nested_truncated += truncate_list(&mut list.values, max_bytes);
            false
        }
        _ => false,
    }
}

fn truncate_string(text: &mut String, max_bytes: usize) -> bool {
    if text.len() <= max_bytes {
        return false;
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    true
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use contrail_proto::{ManualClock, TenantId};

    use super::{RateLimiter, truncate_string};

    #[test]
    fn the_bucket_refills_at_the_rate_and_caps_at_the_burst() {
        let clock = ManualClock::new(1_000_000_000);
        let limiter = RateLimiter::new(Arc::new(clock.clone()));
        let tenant = TenantId::new("a").expect("tenant");
        assert!(limiter.admit(&tenant, 100, 100, 150).is_ok());
        let refusal = limiter.admit(&tenant, 100, 100, 150).unwrap_err();
        assert!(
            refusal.message.starts_with("ingestion rate limit"),
            "{}",
            refusal.message
        );
        assert_eq!(refusal.retry_after, Duration::from_secs(1));
        clock.advance(Duration::from_millis(500));
        assert!(
            limiter.admit(&tenant, 100, 100, 150).is_ok(),
            "50 left + 50 refilled"
        );
        clock.advance(Duration::from_secs(100));
        assert!(
            limiter.admit(&tenant, 150, 100, 150).is_ok(),
            "refill stops at the burst"
        );
        assert!(limiter.admit(&tenant, 1, 100, 150).is_err());
        let too_big = limiter.admit(&tenant, 151, 100, 150).unwrap_err();
        assert!(
            too_big.message.starts_with("batch size (151 bytes)"),
            "{}",
            too_big.message
        );
        assert!(
            limiter.admit(&tenant, 10_000, 0, 0).is_ok(),
            "rate 0 = no limit"
        );
        let other = TenantId::new("b").expect("tenant");
        assert!(
            limiter.admit(&other, 150, 100, 150).is_ok(),
            "buckets are per tenant"
        );
    }

    #[test]
    fn long_waits_are_reported_in_whole_seconds() {
        let clock = ManualClock::new(0);
        let limiter = RateLimiter::new(Arc::new(clock));
        let tenant = TenantId::new("a").expect("tenant");
        assert!(limiter.admit(&tenant, 1000, 100, 1000).is_ok());
        let refusal = limiter.admit(&tenant, 950, 100, 1000).unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_secs(10));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut text = "aé".repeat(4);
        assert!(truncate_string(&mut text, 4));
        assert_eq!(text, "aéa");
        let mut short = "abc".to_owned();
        assert!(!truncate_string(&mut short, 3));
    }
}
