//! OTLP messages inside `tempopb` responses, in gogo `jsonpb` form (spec §2.3, §4.4): IDs as
//! base64 (not the hex of OTLP/JSON), enums by name (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`),
//! 64-bit integers as strings, zero values omitted, and a span's `status` always present (`{}`
//! when unset, as Tempo's non-nullable status renders).
//!
//! Serialization borrows ([`Jsonpb`]); deserialization goes through owned mirror structs that
//! accept both `json_name`s and proto names, numbers or strings for integers, and names or
//! numbers for enums.

use std::fmt;
use std::marker::PhantomData;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::json::{
    EnumValue, decode_base64, deserialize_integer, encode_base64, f64_special, null_as_default,
    u64_string,
};

/// Borrowing `jsonpb` view of an OTLP message or list.
pub(crate) struct Jsonpb<'a, T: ?Sized>(pub(crate) &'a T);

/// A list of OTLP messages in `jsonpb` form.
pub(crate) struct Seq<'a, T>(pub(crate) &'a [T]);

impl<T> Serialize for Seq<'_, T>
where
    for<'b> Jsonpb<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Jsonpb(item))?;
        }
        seq.end()
    }
}

/// A `double` in `jsonpb` form.
struct Double(f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        f64_special::serialize(&self.0, serializer)
    }
}

/// Small helpers so each message reads as a list of its fields.
trait MapExt: SerializeMap {
    fn text(&mut self, key: &'static str, value: &str) -> Result<(), Self::Error> {
        if value.is_empty() {
            Ok(())
        } else {
            self.serialize_entry(key, value)
        }
    }
    fn number<N: Serialize + Default + PartialEq>(
        &mut self,
        key: &'static str,
        value: N,
    ) -> Result<(), Self::Error> {
        if value == N::default() {
            Ok(())
        } else {
            self.serialize_entry(key, &value)
        }
    }
    fn long(&mut self, key: &'static str, value: u64) -> Result<(), Self::Error> {
        if value == 0 {
            Ok(())
        } else {
            self.serialize_entry(key, &value.to_string())
        }
    }
    fn bytes(&mut self, key: &'static str, value: &[u8]) -> Result<(), Self::Error> {
        if value.is_empty() {
            Ok(())
        } else {
            self.serialize_entry(key, &encode_base64(value))
        }
    }
    fn list<T>(&mut self, key: &'static str, value: &[T]) -> Result<(), Self::Error>
    where
        for<'b> Jsonpb<'b, T>: Serialize,
    {
        if value.is_empty() {
            Ok(())
        } else {
            self.serialize_entry(key, &Seq(value))
        }
    }
    fn strings(&mut self, key: &'static str, value: &[String]) -> Result<(), Self::Error> {
        if value.is_empty() {
            Ok(())
        } else {
            self.serialize_entry(key, value)
        }
    }
}

impl<M: SerializeMap> MapExt for M {}

impl Serialize for Jsonpb<'_, KeyValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.text("key", &self.0.key)?;
        if let Some(value) = &self.0.value {
            map.serialize_entry("value", &Jsonpb(value))?;
        }
        map.number("keyStrindex", self.0.key_strindex)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, AnyValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use any_value::Value;
        let mut map = serializer.serialize_map(Some(1))?;
        // A oneof member is written even when it holds its zero value.
        match &self.0.value {
            Some(Value::StringValue(text)) => map.serialize_entry("stringValue", text)?,
            Some(Value::BoolValue(flag)) => map.serialize_entry("boolValue", flag)?,
            Some(Value::IntValue(number)) => {
                map.serialize_entry("intValue", &number.to_string())?
            }
            Some(Value::DoubleValue(number)) => {
                map.serialize_entry("doubleValue", &Double(*number))?
            }
            Some(Value::ArrayValue(array)) => {
                map.serialize_entry("arrayValue", &Values(&array.values))?
            }
            Some(Value::KvlistValue(list)) => {
                map.serialize_entry("kvlistValue", &Values(&list.values))?
            }
            Some(Value::BytesValue(bytes)) => {
                map.serialize_entry("bytesValue", &encode_base64(bytes))?
            }
            Some(Value::StringValueStrindex(index)) => {
                map.serialize_entry("stringValueStrindex", index)?
            }
            None => {}
        }
        map.end()
    }
}

/// `ArrayValue` / `KeyValueList`: `{"values": [...]}`, `{}` when empty.
struct Values<'a, T>(&'a [T]);

impl<T> Serialize for Values<'_, T>
where
    for<'b> Jsonpb<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.list("values", self.0)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, Resource> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.list("attributes", &self.0.attributes)?;
        map.number("droppedAttributesCount", self.0.dropped_attributes_count)?;
        map.list("entityRefs", &self.0.entity_refs)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, EntityRef> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.text("schemaUrl", &self.0.schema_url)?;
        map.text("type", &self.0.r#type)?;
        map.strings("idKeys", &self.0.id_keys)?;
        map.strings("descriptionKeys", &self.0.description_keys)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, InstrumentationScope> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.text("name", &self.0.name)?;
        map.text("version", &self.0.version)?;
        map.list("attributes", &self.0.attributes)?;
        map.number("droppedAttributesCount", self.0.dropped_attributes_count)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, ResourceSpans> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(resource) = &self.0.resource {
            map.serialize_entry("resource", &Jsonpb(resource))?;
        }
        map.list("scopeSpans", &self.0.scope_spans)?;
        map.text("schemaUrl", &self.0.schema_url)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, ScopeSpans> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(scope) = &self.0.scope {
            map.serialize_entry("scope", &Jsonpb(scope))?;
        }
        map.list("spans", &self.0.spans)?;
        map.text("schemaUrl", &self.0.schema_url)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, Span> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let span = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.bytes("traceId", &span.trace_id)?;
        map.bytes("spanId", &span.span_id)?;
        map.text("traceState", &span.trace_state)?;
        map.bytes("parentSpanId", &span.parent_span_id)?;
        map.number("flags", span.flags)?;
        map.text("name", &span.name)?;
        if span.kind != 0 {
            map.serialize_entry("kind", &EnumValue::<SpanKind>(span.kind, PhantomData))?;
        }
        map.long("startTimeUnixNano", span.start_time_unix_nano)?;
        map.long("endTimeUnixNano", span.end_time_unix_nano)?;
        map.list("attributes", &span.attributes)?;
        map.number("droppedAttributesCount", span.dropped_attributes_count)?;
        map.list("events", &span.events)?;
        map.number("droppedEventsCount", span.dropped_events_count)?;
        map.list("links", &span.links)?;
        map.number("droppedLinksCount", span.dropped_links_count)?;
        let unset = Status::default();
        map.serialize_entry("status", &Jsonpb(span.status.as_ref().unwrap_or(&unset)))?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, Event> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.long("timeUnixNano", self.0.time_unix_nano)?;
        map.text("name", &self.0.name)?;
        map.list("attributes", &self.0.attributes)?;
        map.number("droppedAttributesCount", self.0.dropped_attributes_count)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, Link> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.bytes("traceId", &self.0.trace_id)?;
        map.bytes("spanId", &self.0.span_id)?;
        map.text("traceState", &self.0.trace_state)?;
        map.list("attributes", &self.0.attributes)?;
        map.number("droppedAttributesCount", self.0.dropped_attributes_count)?;
        map.number("flags", self.0.flags)?;
        map.end()
    }
}

impl Serialize for Jsonpb<'_, Status> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.text("message", &self.0.message)?;
        if self.0.code != 0 {
            map.serialize_entry("code", &EnumValue::<StatusCode>(self.0.code, PhantomData))?;
        }
        map.end()
    }
}

// ---- deserialization: owned mirrors ----

fn base64_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    super::json::base64::deserialize(deserializer)
}

fn enum_field<'de, E: super::json::JsonEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<i32, D::Error> {
    super::json::deserialize_enum::<E, D>(deserializer)
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
        struct $mirror {
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

fn into_all<T, U: From<T>>(values: Vec<T>) -> Vec<U> {
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

macro_rules! list_with {
    ($module:ident, $item:ty, $mirror:ty) => {
        #[doc = concat!("`repeated ", stringify!($item), "` fields in `jsonpb` form.")]
        pub(crate) mod $module {
            use super::*;

            pub(crate) fn serialize<S: Serializer>(
                value: &[$item],
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                Seq(value).serialize(serializer)
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Vec<$item>, D::Error> {
                let mirrors: Vec<$mirror> = null_as_default(deserializer)?;
                Ok(into_all(mirrors))
            }
        }
    };
}

impl From<AnyValueDe> for AnyValue {
    fn from(mirror: AnyValueDe) -> Self {
        mirror.0
    }
}

list_with!(key_values, KeyValue, KeyValueDe);
list_with!(resource_spans, ResourceSpans, ResourceSpansDe);
list_with!(links, Link, LinkDe);
