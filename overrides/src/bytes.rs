//! Byte counts in overrides: read as Tempo writes them (an integer) or with a unit (`15MB`),
//! written back as an integer so a per-tenant merge round-trips exactly.

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(size: &ByteSize, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(size.as_u64())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<ByteSize, D::Error> {
    ByteSize::deserialize(deserializer)
}
