//! Deserialization of OTLP messages from `jsonpb` form, through owned mirror structs that accept
//! both `json_name`s and proto names, numbers or strings for integers, and names or numbers for
//! enums.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::tempopb::json::{
    decode_base64, deserialize_integer, f64_special, null_as_default, u64_string,
};

fn base64_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    crate::tempopb::json::base64::deserialize(deserializer)
}

fn enum_field<'de, E: crate::tempopb::json::JsonEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<i32, D::Error> {
    crate::tempopb::json::deserialize_enum::<E, D>(deserializer)
}

fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    null_as_default(deserializer)
}

fn int<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Default,
{
    deserialize_integer(deserializer)
}

/// Declares a mirror struct with `#[serde(default)]` and the given field attributes, and its
/// conversion into the OTLP type.
macro_rules! mirror {
    ($mirror:ident => $target:ty { $($(#[$attr:meta])* $field:ident : $field_type:ty => $convert:expr),* $(,)? }) => {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        pub(super) struct $mirror {
            $($(#[$attr])* $field: $field_type,)*
        }

        impl From<$mirror> for $target {
            fn from(mirror: $mirror) -> Self {
                let $mirror { $($field),* } = mirror;
                Self { $($field: ($convert)($field)),* }
            }
        }
    };
}

fn same<T>(value: T) -> T {
    value
}

pub(super) fn into_all<T, U: From<T>>(values: Vec<T>) -> Vec<U> {
    values.into_iter().map(U::from).collect()
}

mirror!(KeyValueDe => KeyValue {
    #[serde(deserialize_with = "null_as_default")] key: String => same,
    value: Option<AnyValueDe> => |value: Option<AnyValueDe>| value.map(|value| value.0),
    #[serde(rename = "keyStrindex", alias = "key_strindex", deserialize_with = "int")] key_strindex: i32 => same,
});

mirror!(ResourceDe => Resource {
    #[serde(deserialize_with = "list")] attributes: Vec<KeyValueDe> => into_all,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count", deserialize_with = "int")]
    dropped_attributes_count: u32 => same,
    #[serde(rename = "entityRefs", alias = "entity_refs", deserialize_with = "list")]
    entity_refs: Vec<EntityRefDe> => into_all,
});

mirror!(EntityRefDe => EntityRef {
    #[serde(rename = "schemaUrl", alias = "schema_url", deserialize_with = "null_as_default")] schema_url: String => same,
    #[serde(rename = "type", deserialize_with = "null_as_default")] r#type: String => same,
    #[serde(rename = "idKeys", alias = "id_keys", deserialize_with = "list")] id_keys: Vec<String> => same,
    #[serde(rename = "descriptionKeys", alias = "description_keys", deserialize_with = "list")]
    description_keys: Vec<String> => same,
});

mirror!(ScopeDe => InstrumentationScope {
    #[serde(deserialize_with = "null_as_default")] name: String => same,
    #[serde(deserialize_with = "null_as_default")] version: String => same,
    #[serde(deserialize_with = "list")] attributes: Vec<KeyValueDe> => into_all,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count", deserialize_with = "int")]
    dropped_attributes_count: u32 => same,
});

mirror!(ResourceSpansDe => ResourceSpans {
    resource: Option<ResourceDe> => |value: Option<ResourceDe>| value.map(Resource::from),
    #[serde(rename = "scopeSpans", alias = "scope_spans", deserialize_with = "list")]
    scope_spans: Vec<ScopeSpansDe> => into_all,
    #[serde(rename = "schemaUrl", alias = "schema_url", deserialize_with = "null_as_default")] schema_url: String => same,
});

mirror!(ScopeSpansDe => ScopeSpans {
    scope: Option<ScopeDe> => |value: Option<ScopeDe>| value.map(InstrumentationScope::from),
    #[serde(deserialize_with = "list")] spans: Vec<SpanDe> => into_all,
    #[serde(rename = "schemaUrl", alias = "schema_url", deserialize_with = "null_as_default")] schema_url: String => same,
});

mirror!(SpanDe => Span {
    #[serde(rename = "traceId", alias = "trace_id", deserialize_with = "base64_field")] trace_id: Vec<u8> => same,
    #[serde(rename = "spanId", alias = "span_id", deserialize_with = "base64_field")] span_id: Vec<u8> => same,
    #[serde(rename = "traceState", alias = "trace_state", deserialize_with = "null_as_default")]
    trace_state: String => same,
    #[serde(rename = "parentSpanId", alias = "parent_span_id", deserialize_with = "base64_field")]
    parent_span_id: Vec<u8> => same,
    #[serde(deserialize_with = "int")] flags: u32 => same,
    #[serde(deserialize_with = "null_as_default")] name: String => same,
    #[serde(deserialize_with = "enum_field::<SpanKind, _>")] kind: i32 => same,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano", with = "u64_string")]
    start_time_unix_nano: u64 => same,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano", with = "u64_string")]
    end_time_unix_nano: u64 => same,
    #[serde(deserialize_with = "list")] attributes: Vec<KeyValueDe> => into_all,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count", deserialize_with = "int")]
    dropped_attributes_count: u32 => same,
    #[serde(deserialize_with = "list")] events: Vec<EventDe> => into_all,
    #[serde(rename = "droppedEventsCount", alias = "dropped_events_count", deserialize_with = "int")]
    dropped_events_count: u32 => same,
    #[serde(deserialize_with = "list")] links: Vec<LinkDe> => into_all,
    #[serde(rename = "droppedLinksCount", alias = "dropped_links_count", deserialize_with = "int")]
    dropped_links_count: u32 => same,
    status: Option<StatusDe> => |value: Option<StatusDe>| value.map(Status::from),
});

mirror!(EventDe => Event {
    #[serde(rename = "timeUnixNano", alias = "time_unix_nano", with = "u64_string")] time_unix_nano: u64 => same,
    #[serde(deserialize_with = "null_as_default")] name: String => same,
    #[serde(deserialize_with = "list")] attributes: Vec<KeyValueDe> => into_all,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count", deserialize_with = "int")]
    dropped_attributes_count: u32 => same,
});

mirror!(LinkDe => Link {
    #[serde(rename = "traceId", alias = "trace_id", deserialize_with = "base64_field")] trace_id: Vec<u8> => same,
    #[serde(rename = "spanId", alias = "span_id", deserialize_with = "base64_field")] span_id: Vec<u8> => same,
    #[serde(rename = "traceState", alias = "trace_state", deserialize_with = "null_as_default")]
    trace_state: String => same,
    #[serde(deserialize_with = "list")] attributes: Vec<KeyValueDe> => into_all,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count", deserialize_with = "int")]
    dropped_attributes_count: u32 => same,
    #[serde(deserialize_with = "int")] flags: u32 => same,
});

mirror!(StatusDe => Status {
    #[serde(deserialize_with = "null_as_default")] message: String => same,
    #[serde(deserialize_with = "enum_field::<StatusCode, _>")] code: i32 => same,
});

/// `{"values": [...]}` of `arrayValue` / `kvlistValue`.
#[derive(Deserialize)]
#[serde(default, bound = "T: Deserialize<'de>")]
struct ValuesDe<T> {
    #[serde(deserialize_with = "list")]
    values: Vec<T>,
}

impl<T> Default for ValuesDe<T> {
    fn default() -> Self {
        Self { values: Vec::new() }
    }
}

/// An `AnyValue`: an object with at most one known member; unknown members are ignored.
struct AnyValueDe(AnyValue);

impl<'de> Deserialize<'de> for AnyValueDe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyValueVisitor;

        impl<'de> Visitor<'de> for AnyValueVisitor {
            type Value = AnyValueDe;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object")
            }

            fn visit_unit<E: de::Error>(self) -> Result<AnyValueDe, E> {
                Ok(AnyValueDe(AnyValue::default()))
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<AnyValueDe, M::Error> {
                use any_value::Value;
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    let parsed = match key.as_str() {
                        "stringValue" | "string_value" => {
                            map.next_value::<Option<String>>()?.map(Value::StringValue)
                        }
                        "boolValue" | "bool_value" => {
                            map.next_value::<Option<bool>>()?.map(Value::BoolValue)
                        }
                        "intValue" | "int_value" => {
                            Some(Value::IntValue(map.next_value::<Integer<i64>>()?.0))
                        }
                        "doubleValue" | "double_value" => {
                            Some(Value::DoubleValue(map.next_value::<DoubleDe>()?.0))
                        }
                        "arrayValue" | "array_value" => map
                            .next_value::<Option<ValuesDe<AnyValueDe>>>()?
                            .map(|array| {
                                Value::ArrayValue(ArrayValue {
                                    values: array.values.into_iter().map(|item| item.0).collect(),
                                })
                            }),
                        "kvlistValue" | "kvlist_value" => map
                            .next_value::<Option<ValuesDe<KeyValueDe>>>()?
                            .map(|list| {
                                Value::KvlistValue(KeyValueList {
                                    values: into_all(list.values),
                                })
                            }),
                        "bytesValue" | "bytes_value" => {
                            let text = map.next_value::<Option<String>>()?.unwrap_or_default();
                            Some(Value::BytesValue(decode_base64(&text).map_err(
                                |error| {
                                    de::Error::custom(format!("invalid base64 {text:?}: {error}"))
                                },
                            )?))
                        }
                        "stringValueStrindex" | "string_value_strindex" => Some(
                            Value::StringValueStrindex(map.next_value::<Integer<i32>>()?.0),
                        ),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if parsed.is_some() {
                        value = parsed;
                    }
                }
                Ok(AnyValueDe(AnyValue { value }))
            }
        }

        deserializer.deserialize_any(AnyValueVisitor)
    }
}

struct Integer<T>(T);

impl<'de, T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Default> Deserialize<'de>
    for Integer<T>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_integer(deserializer).map(Integer)
    }
}

struct DoubleDe(f64);

impl<'de> Deserialize<'de> for DoubleDe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64_special::deserialize(deserializer).map(DoubleDe)
    }
}

impl From<AnyValueDe> for AnyValue {
    fn from(mirror: AnyValueDe) -> Self {
        mirror.0
    }
}
