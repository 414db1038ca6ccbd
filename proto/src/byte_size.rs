//! Byte sizes in config files as Tempo users write them: an integer (`5000000`), an integer
//! with YAML 1.1 digit separators (`1_000_000`, which Go's YAML reads as a number), or a size
//! with a unit (`15MB`, `64 MiB`). Use with `#[serde(deserialize_with = "...")]`.

use bytesize::ByteSize;
use serde::de::{self, Deserializer, Visitor};

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = ByteSize;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a byte size: an integer or a size with a unit such as 15MB")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ByteSize, E> {
        Ok(ByteSize::b(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ByteSize, E> {
        u64::try_from(value)
            .map(ByteSize::b)
            .map_err(|_| E::custom(format!("a byte size cannot be negative, got {value}")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<ByteSize, E> {
        if value >= 0.0 && value.fract() == 0.0 && value < u64::MAX as f64 {
            Ok(ByteSize::b(value as u64))
        } else {
            Err(E::custom(format!(
                "a byte size must be a whole number, got {value}"
            )))
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ByteSize, E> {
        let trimmed = value.trim();
        if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return trimmed
                .replace('_', "")
                .parse::<u64>()
                .map(ByteSize::b)
                .map_err(|error| E::custom(format!("invalid byte size {value:?}: {error}")));
        }
        trimmed
            .parse::<ByteSize>()
            .map_err(|error| E::custom(format!("invalid byte size {value:?}: {error}")))
    }
}

/// Deserializes a [`ByteSize`] as described in the module docs.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
    deserializer.deserialize_any(SizeVisitor)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "super::deserialize")]
        size: bytesize::ByteSize,
    }

    fn parse(yaml: &str) -> Result<u64, String> {
        serde_json::from_str::<Holder>(yaml)
            .map(|holder| holder.size.as_u64())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn integers_separators_and_units_are_read() {
        assert_eq!(parse(r#"{"size": 5000000}"#), Ok(5_000_000));
        assert_eq!(parse(r#"{"size": "1_000_000"}"#), Ok(1_000_000));
        assert_eq!(parse(r#"{"size": "15MB"}"#), Ok(15_000_000));
        assert_eq!(parse(r#"{"size": "1MiB"}"#), Ok(1_048_576));
    }

    #[test]
    fn bad_sizes_are_errors_naming_the_value() {
        assert!(parse(r#"{"size": -1}"#).unwrap_err().contains("negative"));
        assert!(parse(r#"{"size": "lots"}"#).unwrap_err().contains("lots"));
        assert!(parse(r#"{"size": 1.5}"#).unwrap_err().contains("whole"));
    }
}
