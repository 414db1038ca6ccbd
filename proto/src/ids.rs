//! Identifiers shared by every crate: [`TraceId`], [`SpanId`], [`TenantId`] and the [`IdError`]
//! they fail with. Parsing rules follow Tempo (spec §2.1 and §2.5), so the same inputs are
//! accepted and the same error texts reach clients.

mod error;
mod hex_id;
mod tenant;

#[cfg(test)]
mod tests;

pub use error::{IdError, IdKind};
pub use hex_id::{SpanId, TraceId};
pub use tenant::{
    ORG_ID_HEADER, ORG_ID_METADATA_KEY, TenantId, parse_tenants, tenants_from_grpc_metadata,
    tenants_from_http_headers,
};
