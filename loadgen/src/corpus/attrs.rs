//! Attribute constructors for every OTLP value type, and the pools of realistic values the trace
//! shapes draw from (user agents, search terms, error texts, ids).

use contrail_proto::otlp::common::v1::any_value::Value;
use contrail_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn kv_str(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

pub(crate) fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

pub(crate) fn kv_f64(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

pub(crate) fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

pub(crate) fn kv_bytes(key: &str, value: Vec<u8>) -> KeyValue {
    kv(key, Value::BytesValue(value))
}

pub(crate) fn kv_str_array<S: Into<String>>(
    key: &str,
    values: impl IntoIterator<Item = S>,
) -> KeyValue {
    array(
        key,
        values
            .into_iter()
            .map(|value| Value::StringValue(value.into())),
    )
}

pub(crate) fn kv_int_array(key: &str, values: impl IntoIterator<Item = i64>) -> KeyValue {
    array(key, values.into_iter().map(Value::IntValue))
}

pub(crate) fn kv_f64_array(key: &str, values: impl IntoIterator<Item = f64>) -> KeyValue {
    array(key, values.into_iter().map(Value::DoubleValue))
}

fn array(key: &str, values: impl Iterator<Item = Value>) -> KeyValue {
    let values = values
        .map(|value| AnyValue { value: Some(value) })
        .collect();
    kv(key, Value::ArrayValue(ArrayValue { values }))
}

pub(crate) fn kv_list(key: &str, entries: Vec<KeyValue>) -> KeyValue {
    kv(key, Value::KvlistValue(KeyValueList { values: entries }))
}

/// `len` lowercase hex characters.
pub(crate) fn random_hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

pub(crate) fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.random::<u8>()).collect()
}

pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A 128-bit id with at least one non-zero byte, as a trace id must be.
pub(crate) fn random_trace_id(rng: &mut ChaCha8Rng) -> [u8; 16] {
    loop {
        let id: [u8; 16] = rng.random();
        if id != [0; 16] {
            return id;
        }
    }
}

pub(crate) fn random_span_id(rng: &mut ChaCha8Rng) -> [u8; 8] {
    loop {
        let id: [u8; 8] = rng.random();
        if id != [0; 8] {
            return id;
        }
    }
}

pub(crate) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "ShopApp/4.12.0 (iOS 17.5; iPhone15,2)",
];

pub(crate) const SEARCH_TERMS: &[&str] = &[
    "running shoes",
    "wireless headphones",
    "coffee grinder",
    "usb-c cable",
    "yoga mat",
    "mechanical keyboard",
    "rain jacket",
    "standing desk",
    "espresso machine",
    "kids bike",
];

pub(crate) const CATEGORIES: &[&str] = &[
    "electronics",
    "sports",
    "kitchen",
    "fashion",
    "home",
    "toys",
    "books",
];

pub(crate) const LOCALES: &[&str] = &["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL"];

pub(crate) const FEATURE_FLAGS: &[&str] = &[
    "new-checkout",
    "recommendations-v2",
    "dark-mode",
    "express-shipping",
    "search-typo-tolerance",
];

pub(crate) const CURRENCIES: &[&str] = &["EUR", "USD", "GBP"];

/// A product id as the catalogue names them, e.g. `SKU-48213`.
pub(crate) fn product_id(rng: &mut ChaCha8Rng) -> String {
    format!("SKU-{:05}", rng.random_range(10_000..99_999))
}

pub(crate) fn user_id(rng: &mut ChaCha8Rng) -> i64 {
    rng.random_range(100_000..2_500_000)
}

/// An IPv4 client address in a private range, as seen behind the load balancer.
pub(crate) fn client_address(rng: &mut ChaCha8Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.random_range(0..16),
        rng.random_range(0..256),
        rng.random_range(1..255)
    )
}
