//! OTLP messages inside `tempopb` responses, in gogo `jsonpb` form (spec §2.3, §4.4): IDs as
//! base64 (not the hex of OTLP/JSON), enums by name (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`),
//! 64-bit integers as strings, zero values omitted, and a span's `status` always present (`{}`
//! when unset, as Tempo's non-nullable status renders).
//!
//! Serialization borrows ([`Jsonpb`]); deserialization goes through owned mirror structs that
//! accept both `json_name`s and proto names, numbers or strings for integers, and names or
//! numbers for enums.

use std::marker::PhantomData;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::Serialize;
use serde::de::Deserializer;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::json::{EnumValue, encode_base64, f64_special, null_as_default};

mod de;

use de::{KeyValueDe, LinkDe, ResourceSpansDe, into_all};

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

list_with!(key_values, KeyValue, KeyValueDe);
list_with!(resource_spans, ResourceSpans, ResourceSpansDe);
list_with!(links, Link, LinkDe);
