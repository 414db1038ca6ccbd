//! Scalar (de)serializers reproducing gogo `jsonpb` (spec §2.3), named by the serde attributes
//! `build.rs` puts on the generated `tempopb` types.
//!
//! Output: 64-bit integers as decimal strings, `bytes` as standard padded base64, enums by name,
//! `NaN`/`Infinity`/`-Infinity` as strings. Input is lenient the way `jsonpb` is: 64-bit integers
//! as strings or numbers, enums as names or numbers, base64 standard or URL-safe with or without
//! padding, and `null` for any field means its zero value.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use ::base64::Engine as _;
use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// Standard alphabet, emits padding, accepts input with or without it.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &::base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe alphabet, accepted on input like `jsonpb` does.
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &::base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Whether `value` is its type's zero value (such fields are omitted).
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Deserializes `null` as the zero value.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Encodes bytes as standard padded base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    BASE64_STANDARD.encode(bytes)
}

/// Decodes standard or URL-safe base64, padded or not.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, ::base64::DecodeError> {
    BASE64_STANDARD
        .decode(text)
        .or_else(|_| BASE64_URL_SAFE.decode(text))
}

/// An integer that `jsonpb` accepts as a JSON number or a decimal string.
struct IntegerVisitor<T>(PhantomData<T>);

impl<T> Visitor<'_> for IntegerVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Default,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string holding an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("integer {value} out of range")))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("integer {value} out of range")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        // `1e3` style numbers that are exact integers.
        if value.fract() == 0.0 && value.abs() < 9.007_199_254_740_992e15 {
            #[allow(clippy::cast_possible_truncation)]
            return self.visit_i64(value as i64);
        }
        Err(E::custom(format!("expected an integer, found {value}")))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value
            .parse::<T>()
            .map_err(|_| E::custom(format!("invalid integer {value:?}")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
}

pub(crate) fn deserialize_integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Default,
{
    deserializer.deserialize_any(IntegerVisitor(PhantomData))
}

/// `uint64`/`fixed64` fields: a decimal string.
pub(crate) mod u64_string {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserialize_integer(deserializer)
    }
}

/// `int64`/`sfixed64` fields: a decimal string.
pub(crate) mod i64_string {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        deserialize_integer(deserializer)
    }
}

/// `map<string, int64>` fields: values as decimal strings, keys in order.
pub(crate) mod i64_string_map {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &BTreeMap<String, i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        // A BTreeMap iterates in key order: deterministic output, like jsonpb.
        let mut map = serializer.serialize_map(Some(value.len()))?;
        for (key, number) in value {
            map.serialize_entry(key, &number.to_string())?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, i64>, D::Error> {
        #[derive(Deserialize)]
        struct Number(#[serde(deserialize_with = "super::deserialize_integer")] i64);
        let map =
            Option::<BTreeMap<String, Number>>::deserialize(deserializer)?.unwrap_or_default();
        Ok(map
            .into_iter()
            .map(|(key, Number(number))| (key, number))
            .collect())
    }
}

/// `double` fields: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) mod f64_special {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if value.is_sign_positive() {
                "Infinity"
            } else {
                "-Infinity"
            })
        } else {
            serializer.serialize_f64(*value)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        struct DoubleVisitor;

        impl Visitor<'_> for DoubleVisitor {
            type Value = f64;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
                Ok(value)
            }

            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
                Ok(value as f64)
            }

            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
                Ok(value as f64)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
                match value {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    other => other
                        .parse()
                        .map_err(|_| E::custom(format!("invalid double {other:?}"))),
                }
            }

            fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
                Ok(0.0)
            }
        }

        deserializer.deserialize_any(DoubleVisitor)
    }
}

/// `bytes` fields: base64.
pub(crate) mod base64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode_base64(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        decode_base64(&text)
            .map_err(|error| de::Error::custom(format!("invalid base64 {text:?}: {error}")))
    }
}

/// `repeated bytes` fields: a list of base64 strings.
pub(crate) mod base64_list {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(value.len()))?;
        for bytes in value {
            seq.serialize_element(&encode_base64(bytes))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default();
        texts
            .iter()
            .map(|text| {
                decode_base64(text)
                    .map_err(|error| de::Error::custom(format!("invalid base64 {text:?}: {error}")))
            })
            .collect()
    }
}

/// A prost enum whose values `jsonpb` writes by name.
pub(crate) trait JsonEnum {
    /// The proto name of `value`, or `None` for a number without a name.
    fn name_of(value: i32) -> Option<&'static str>;
    /// The number of the proto name `name`.
    fn value_of(name: &str) -> Option<i32>;
}

macro_rules! json_enum {
    ($($enum_type:ty),* $(,)?) => {
        $(
            impl JsonEnum for $enum_type {
                fn name_of(value: i32) -> Option<&'static str> {
                    <$enum_type>::try_from(value).ok().map(|known| known.as_str_name())
                }

                fn value_of(name: &str) -> Option<i32> {
                    <$enum_type>::from_str_name(name).map(|known| known as i32)
                }
            }
        )*
    };
}

json_enum!(
    crate::tempopb::PartialStatus,
    crate::tempopb::PushErrorReason,
    crate::tempopb::dedicated_column::Type,
    crate::tempopb::dedicated_column::Scope,
    crate::tempopb::dedicated_column::Options,
    opentelemetry_proto::tonic::trace::v1::span::SpanKind,
    opentelemetry_proto::tonic::trace::v1::status::StatusCode,
);

/// An enum value as written by `jsonpb`: its name, or its number when it has none.
pub(crate) struct EnumValue<E>(pub(crate) i32, pub(crate) PhantomData<E>);

impl<E: JsonEnum> Serialize for EnumValue<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match E::name_of(self.0) {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_i32(self.0),
        }
    }
}

impl<'de, E: JsonEnum> Deserialize<'de> for EnumValue<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnumVisitor<E>(PhantomData<E>);

        impl<E: JsonEnum> Visitor<'_> for EnumVisitor<E> {
            type Value = EnumValue<E>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an enum name or number")
            }

            fn visit_str<Er: de::Error>(self, name: &str) -> Result<Self::Value, Er> {
                E::value_of(name)
                    .map(|value| EnumValue(value, PhantomData))
                    .ok_or_else(|| Er::custom(format!("unknown enum value {name:?}")))
            }

            fn visit_i64<Er: de::Error>(self, value: i64) -> Result<Self::Value, Er> {
                i32::try_from(value)
                    .map(|value| EnumValue(value, PhantomData))
                    .map_err(|_| Er::custom(format!("enum number {value} out of range")))
            }

            fn visit_u64<Er: de::Error>(self, value: u64) -> Result<Self::Value, Er> {
                i32::try_from(value)
                    .map(|value| EnumValue(value, PhantomData))
                    .map_err(|_| Er::custom(format!("enum number {value} out of range")))
            }

            fn visit_unit<Er: de::Error>(self) -> Result<Self::Value, Er> {
                Ok(EnumValue(0, PhantomData))
            }
        }

        deserializer.deserialize_any(EnumVisitor(PhantomData))
    }
}

pub(crate) fn serialize_enum<E: JsonEnum, S: Serializer>(
    value: &i32,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    EnumValue::<E>(*value, PhantomData).serialize(serializer)
}

pub(crate) fn deserialize_enum<'de, E: JsonEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<i32, D::Error> {
    Ok(EnumValue::<E>::deserialize(deserializer)?.0)
}

pub(crate) fn serialize_enum_list<E: JsonEnum, S: Serializer>(
    values: &[i32],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for value in values {
        seq.serialize_element(&EnumValue::<E>(*value, PhantomData))?;
    }
    seq.end()
}

pub(crate) fn deserialize_enum_list<'de, E: JsonEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<i32>, D::Error> {
    let values = Option::<Vec<EnumValue<E>>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(values.into_iter().map(|value| value.0).collect())
}
