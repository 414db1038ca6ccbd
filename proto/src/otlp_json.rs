//! OTLP/HTTP JSON (`POST /v1/traces` with `Content-Type: application/json`, spec §7.2).
//!
//! Decoding uses `opentelemetry-proto`'s serde support (hex trace/span IDs, camelCase keys,
//! `intValue` as string or number, base64 `bytesValue`) after a normalization pass that fixes
//! what it gets wrong for the OTLP/JSON spec and for real senders:
//!
//! - snake_case keys (`resource_spans`, `trace_id`) were silently ignored, dropping every span;
//!   they are renamed to lowerCamelCase;
//! - enum names (`"kind": "SPAN_KIND_SERVER"`, `"code": "STATUS_CODE_ERROR"`) were rejected; they
//!   become their numbers;
//! - `null` fields and `{"arrayValue": {}}` / `{"kvlistValue": {}}` were rejected; they mean
//!   "empty";
//! - 32-bit counters and flags sent as strings (`"droppedAttributesCount": "3"`) were rejected.
//!
//! `doubleValue` strings are parsed as numbers; `"NaN"`/`"Infinity"` cannot be represented on this
//! path and are rejected with a clear error, in both directions. Encoding omits `null` members.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Map, Number, Value};

use crate::ErrorCode;

/// An OTLP/JSON payload that could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
pub enum OtlpJsonError {
    /// Not JSON, or JSON that does not match the OTLP schema.
    #[error("invalid OTLP/JSON payload: {0}")]
    Invalid(#[from] serde_json::Error),
    /// An enum given by a name that does not exist.
    #[error("invalid OTLP/JSON payload: unknown {field} value {value:?}")]
    UnknownEnumName {
        /// `kind` or `code`.
        field: &'static str,
        /// The name received.
        value: String,
    },
    /// A number given as a string that is not a usable number.
    #[error("invalid OTLP/JSON payload: {field} value {value:?} is not a supported number")]
    BadNumber {
        /// The member name.
        field: String,
        /// The string received.
        value: String,
    },
}

impl OtlpJsonError {
    /// Every OTLP/JSON error is the client's: [`ErrorCode::BadRequest`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body (already decompressed).
pub fn decode_export_request_json(body: &[u8]) -> Result<ExportTraceServiceRequest, OtlpJsonError> {
    let mut value: Value = serde_json::from_slice(body)?;
    normalize(&mut value)?;
    Ok(serde_json::from_value(value)?)
}

/// Encodes an `ExportTraceServiceRequest` as OTLP/JSON (hex IDs, camelCase, no `null` members).
pub fn encode_export_request_json(
    request: &ExportTraceServiceRequest,
) -> Result<Vec<u8>, OtlpJsonError> {
    encode_without_nulls(request)
}

/// Encodes an `ExportTraceServiceResponse` as OTLP/JSON: `{}` on full success.
pub fn encode_export_response_json(
    response: &ExportTraceServiceResponse,
) -> Result<Vec<u8>, OtlpJsonError> {
    encode_without_nulls(response)
}

fn encode_without_nulls<T: serde::Serialize>(message: &T) -> Result<Vec<u8>, OtlpJsonError> {
    let mut value = serde_json::to_value(message)?;
    remove_nulls(&mut value)?;
    Ok(serde_json::to_vec(&value)?)
}

/// Drops `null` members. A `null` `doubleValue` is a NaN or infinity that `serde_json` could
/// not represent: an error rather than a silently dropped value.
fn remove_nulls(value: &mut Value) -> Result<(), OtlpJsonError> {
    match value {
        Value::Object(members) => {
            if members.get("doubleValue").is_some_and(Value::is_null) {
                return Err(OtlpJsonError::BadNumber {
                    field: "doubleValue".to_owned(),
                    value: "NaN or Infinity".to_owned(),
                });
            }
            members.retain(|_, member| !member.is_null());
            members.values_mut().try_for_each(remove_nulls)
        }
        Value::Array(items) => items.iter_mut().try_for_each(remove_nulls),
        _ => Ok(()),
    }
}

/// lowerCamelCase of a proto field name, as protobuf JSON expects.
fn camel_case(key: &str) -> String {
    let mut camel = String::with_capacity(key.len());
    let mut upper_next = false;
    for character in key.chars() {
        if character == '_' {
            upper_next = true;
        } else if upper_next {
            camel.push(character.to_ascii_uppercase());
            upper_next = false;
        } else {
            camel.push(character);
        }
    }
    camel
}

/// Members that are `uint32`/`fixed32` in the OTLP trace schema.
const U32_MEMBERS: [&str; 4] = [
    "droppedAttributesCount",
    "droppedEventsCount",
    "droppedLinksCount",
    "flags",
];

/// Rewrites `value` in place into the shape `opentelemetry-proto`'s serde accepts. Object keys in
/// OTLP trace JSON are always schema field names (attribute names are values of `key`), so keys
/// can be rewritten without touching user data.
fn normalize(value: &mut Value) -> Result<(), OtlpJsonError> {
    match value {
        Value::Object(members) => {
            let owned = std::mem::take(members);
            let mut rebuilt = Map::with_capacity(owned.len());
            for (key, mut member) in owned {
                if member.is_null() {
                    continue;
                }
                let key = if key.contains('_') {
                    camel_case(&key)
                } else {
                    key
                };
                normalize(&mut member)?;
                normalize_member(&key, &mut member)?;
                rebuilt.insert(key, member);
            }
            *members = rebuilt;
        }
        Value::Array(items) => {
            for item in items {
                normalize(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn normalize_member(key: &str, member: &mut Value) -> Result<(), OtlpJsonError> {
    match (key, &mut *member) {
        ("kind", Value::String(name)) => {
            let number =
                SpanKind::from_str_name(name).ok_or_else(|| OtlpJsonError::UnknownEnumName {
                    field: "kind",
                    value: name.clone(),
                })?;
            *member = Value::from(number as i32);
        }
        ("code", Value::String(name)) => {
            let number =
                StatusCode::from_str_name(name).ok_or_else(|| OtlpJsonError::UnknownEnumName {
                    field: "code",
                    value: name.clone(),
                })?;
            *member = Value::from(number as i32);
        }
        ("arrayValue" | "kvlistValue", Value::Object(list)) => {
            list.entry("values")
                .or_insert_with(|| Value::Array(Vec::new()));
        }
        ("doubleValue", Value::String(text)) => {
            let number = text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .ok_or_else(|| OtlpJsonError::BadNumber {
                    field: key.to_owned(),
                    value: text.clone(),
                })?;
            *member = Value::Number(number);
        }
        (key, Value::String(text)) if U32_MEMBERS.contains(&key) => {
            let number = text.parse::<u32>().map_err(|_| OtlpJsonError::BadNumber {
                field: key.to_owned(),
                value: text.clone(),
            })?;
            *member = Value::from(number);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
