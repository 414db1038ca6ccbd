//! [`TraceId`] and [`SpanId`]: fixed-width binary identifiers with Tempo's hex rules.
//!
//! Parsing follows Tempo (`pkg/util/traceid.go` behaviour, see spec §2.5): hex is
//! case-insensitive, an odd number of digits gets a leading `0`, shorter IDs are left-padded with
//! zero bytes, anything that is not `0-9a-fA-F` (including a `0x` prefix or dashes) is rejected,
//! and more digits than fit are rejected even when they are leading zeros.

use std::fmt;
use std::str::FromStr;

use super::error::{IdError, IdKind, echo_input};

/// Parses Tempo-style hex into `N` bytes, left-padding with zeros.
fn parse_hex<const N: usize>(input: &str, kind: IdKind) -> Result<[u8; N], IdError> {
    if input.is_empty() {
        return Err(IdError::EmptyHex { kind });
    }
    if let Some((index, character)) = input
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        return Err(IdError::NotHex {
            kind,
            input: echo_input(input),
            character,
            position: index + 1,
        });
    }
    // All characters are ASCII hex digits from here on, so bytes == characters.
    let digits = input.as_bytes();
    if digits.len().div_ceil(2) > N {
        return Err(IdError::HexTooLong {
            kind,
            input: echo_input(input),
        });
    }
    let mut out = [0u8; N];
    // Walk from the least significant digit; each pair fills one byte from the right.
    for (digit_index_from_end, digit) in digits.iter().rev().enumerate() {
        let nibble = hex_value(*digit);
        let byte_index = N - 1 - digit_index_from_end / 2;
        if digit_index_from_end % 2 == 0 {
            out[byte_index] |= nibble;
        } else {
            out[byte_index] |= nibble << 4;
        }
    }
    Ok(out)
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        // Unreachable: callers check `is_ascii_hexdigit` first. Zero keeps this total.
        _ => 0,
    }
}

/// Left-pads `bytes` to `N`; empty or longer than `N` is an error.
#[inline]
fn pad_bytes<const N: usize>(bytes: &[u8], kind: IdKind) -> Result<[u8; N], IdError> {
    // the common case, full width: a fixed-size copy (no call to `memmove`)
    if let Ok(full) = <[u8; N]>::try_from(bytes) {
        return Ok(full);
    }
    if bytes.is_empty() || bytes.len() > N {
        return Err(IdError::BytesLength {
            kind,
            len: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    out[N - bytes.len()..].copy_from_slice(bytes);
    Ok(out)
}

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident, $len:expr, $kind:expr) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Width in bytes.
            pub const LEN: usize = $len;
            /// The all-zero ID (invalid on the wire, useful as a sentinel).
            pub const ZERO: Self = Self([0u8; $len]);

            /// Wraps raw bytes.
            pub const fn from_array(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Parses hex the way Tempo does: case-insensitive, odd lengths and short IDs
            /// left-padded with zeros; non-hex characters, empty input and too many digits are
            /// rejected.
            pub fn from_hex(input: &str) -> Result<Self, IdError> {
                parse_hex::<$len>(input, $kind).map(Self)
            }

            /// Converts a binary ID; shorter slices are left-padded with zero bytes, empty or
            /// longer slices are rejected.
            #[inline]
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                pad_bytes::<$len>(bytes, $kind).map(Self)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_array(self) -> [u8; $len] {
                self.0
            }

            /// Whether every byte is zero.
            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|byte| *byte == 0)
            }

            /// Lowercase hex, full width (leading zeros kept).
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len * 2];
                // Cannot fail: the buffer is exactly twice the input length.
                hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
                // Hex digits are ASCII, so this is valid UTF-8.
                f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(input: &str) -> Result<Self, IdError> {
                Self::from_hex(input)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = IdError;

            fn try_from(bytes: &[u8]) -> Result<Self, IdError> {
                Self::from_bytes(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct HexVisitor;

                impl serde::de::Visitor<'_> for HexVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a hex ", stringify!($name)))
                    }

                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        $name::from_hex(value).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(HexVisitor)
            }
        }
    };
}

hex_id!(
    /// A 128-bit trace ID. Serializes as 32 lowercase hex characters.
    TraceId,
    16,
    IdKind::Trace
);

hex_id!(
    /// A 64-bit span ID. Serializes as 16 lowercase hex characters.
    SpanId,
    8,
    IdKind::Span
);

impl TraceId {
    /// The ID as a big-endian integer (same order as the bytes).
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The ID of a big-endian integer.
    pub const fn from_u128(value: u128) -> Self {
        Self(value.to_be_bytes())
    }

    /// Validates a trace ID on the ingest path (OTLP `trace_id`): exactly 16 bytes, as Tempo's
    /// distributor requires (`trace ids must be 128 bit, received N bits`). Receivers that
    /// translate 64-bit Jaeger IDs widen them with [`TraceId::from_bytes`] first.
    pub fn from_ingest_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| IdError::IngestTraceId { len: bytes.len() })
    }

    /// Hex as Tempo writes it in search results (`traceID`): lowercase with leading zeros
    /// stripped, e.g. `d6e9329d67b6146a` for a widened 64-bit ID. The all-zero ID is `0`.
    /// [`TraceId::from_hex`] parses this form back to the same ID.
    pub fn to_hex_trimmed(&self) -> String {
        let full = self.to_hex();
        let trimmed = full.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    }
}

impl SpanId {
    /// The ID as a big-endian integer (same order as the bytes).
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// The ID of a big-endian integer.
    pub const fn from_u64(value: u64) -> Self {
        Self(value.to_be_bytes())
    }

    /// Validates a span ID on the ingest path (OTLP `span_id`): exactly 8 bytes and not all
    /// zero, as Tempo's distributor requires.
    pub fn from_ingest_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        match <[u8; 8]>::try_from(bytes) {
            Ok(array) if array != [0u8; 8] => Ok(Self(array)),
            _ => Err(IdError::IngestSpanId { len: bytes.len() }),
        }
    }

    /// Reads an OTLP `parent_span_id`: empty (or all zero) means "no parent".
    pub fn from_parent_bytes(bytes: &[u8]) -> Result<Option<Self>, IdError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let id = Self::from_bytes(bytes)?;
        Ok(if id.is_zero() { None } else { Some(id) })
    }
}
