//! [`TenantId`]: a validated `X-Scope-OrgID` value, with the rules Tempo inherits from dskit.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use super::error::{IdError, echo_input};

/// A tenant (organisation) ID.
///
/// Valid IDs are 1 to 150 bytes of `a-z A-Z 0-9 ! - _ . * ' ( )`, and are not `.` or `..`
/// (so a tenant ID is always safe as an object-store path segment). `|` is never part of an ID:
/// it separates tenants in cross-tenant queries, see [`parse_tenants`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Longest valid tenant ID, in bytes.
    pub const MAX_LEN: usize = 150;

    /// The tenant every request is attributed to when multitenancy is off.
    pub const SINGLE_TENANT: &'static str = "single-tenant";

    /// Validates a tenant ID.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        validate(&id)?;
        Ok(Self(id))
    }

    /// The tenant Tempo uses when multitenancy is disabled: `single-tenant`.
    pub fn single_tenant() -> Self {
        Self(Self::SINGLE_TENANT.to_owned())
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ID as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_supported_character(character: char) -> bool {
    character.is_ascii_alphanumeric()
        || matches!(character, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

fn validate(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::MissingTenant);
    }
    if let Some((index, character)) = id
        .chars()
        .enumerate()
        .find(|(_, c)| !is_supported_character(*c))
    {
        return Err(IdError::TenantUnsupportedCharacter {
            input: echo_input(id),
            character,
            position: index + 1,
        });
    }
    if id.len() > TenantId::MAX_LEN {
        return Err(IdError::TenantTooLong {
            input: echo_input(id),
            max: TenantId::MAX_LEN,
        });
    }
    if id == "." || id == ".." {
        return Err(IdError::TenantDots {
            input: id.to_owned(),
        });
    }
    Ok(())
}

/// The HTTP header carrying the tenant (`X-Scope-OrgID`).
pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";

/// The gRPC metadata key carrying the tenant (metadata keys are lowercase).
pub const ORG_ID_METADATA_KEY: &str = "x-scope-orgid";

/// Decodes a raw header value; bytes that are not UTF-8 become U+FFFD, which validation then
/// reports as an unsupported character.
fn header_text(raw_opt: Option<&[u8]>) -> Result<std::borrow::Cow<'_, str>, IdError> {
    match raw_opt {
        Some(raw) if !raw.is_empty() => Ok(String::from_utf8_lossy(raw)),
        _ => Err(IdError::MissingTenant),
    }
}

impl TenantId {
    /// The tenant of an ingest request from its `X-Scope-OrgID` HTTP header (one tenant, no `|`).
    /// Missing or empty is [`IdError::MissingTenant`].
    pub fn from_http_headers(headers: &http::HeaderMap) -> Result<Self, IdError> {
        Self::new(header_text(
            headers.get(ORG_ID_HEADER).map(http::HeaderValue::as_bytes),
        )?)
    }

    /// The tenant of an ingest request from its `x-scope-orgid` gRPC metadata.
    pub fn from_grpc_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<Self, IdError> {
        Self::new(header_text(
            metadata
                .get(ORG_ID_METADATA_KEY)
                .map(|value| value.as_bytes()),
        )?)
    }
}

/// The tenants of a query request from its `X-Scope-OrgID` HTTP header (`|`-separated, see
/// [`parse_tenants`]).
pub fn tenants_from_http_headers(headers: &http::HeaderMap) -> Result<Vec<TenantId>, IdError> {
    parse_tenants(&header_text(
        headers.get(ORG_ID_HEADER).map(http::HeaderValue::as_bytes),
    )?)
}

/// The tenants of a query request from its `x-scope-orgid` gRPC metadata (`|`-separated).
pub fn tenants_from_grpc_metadata(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<Vec<TenantId>, IdError> {
    parse_tenants(&header_text(
        metadata
            .get(ORG_ID_METADATA_KEY)
            .map(|value| value.as_bytes()),
    )?)
}

/// Parses a query-path `X-Scope-OrgID` header that may name several tenants joined by `|`
/// (cross-tenant queries, e.g. `team-a|team-b`).
///
/// Every segment must be a valid [`TenantId`]; an empty header or an empty segment (`|a`, `a|`,
/// `a||b`) is [`IdError::MissingTenant`] (`no org id`). The result is sorted and de-duplicated,
/// so `b|a|b` and `a|b` name the same tenant set. The ingest path must use [`TenantId::new`],
/// which rejects `|`.
pub fn parse_tenants(header: &str) -> Result<Vec<TenantId>, IdError> {
    let mut tenants = header
        .split('|')
        .map(TenantId::new)
        .collect::<Result<Vec<_>, _>>()?;
    tenants.sort_unstable();
    tenants.dedup();
    Ok(tenants)
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", self.0)
    }
}

impl FromStr for TenantId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;

    fn try_from(id: String) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl TryFrom<&str> for TenantId {
    type Error = IdError;

    fn try_from(id: &str) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        TenantId::new(id).map_err(serde::de::Error::custom)
    }
}
