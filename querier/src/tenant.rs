//! Which tenants a query reads: `single-tenant` when `multitenancy_enabled` is off (any
//! `X-Scope-OrgID` is ignored), otherwise the header's tenants, several joined by `|` when
//! `query_frontend.multi_tenant_queries_enabled` allows it (spec §2.1).

use contrail_proto::ids::{parse_tenants, tenants_from_grpc_metadata, tenants_from_http_headers};
use contrail_proto::{IdError, TenantId};

use crate::error::{Error, Result};

/// Resolves the tenants of a request from its headers or gRPC metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantResolver {
    /// Tempo's top-level `multitenancy_enabled`.
    pub multitenancy_enabled: bool,
    /// `query_frontend.multi_tenant_queries_enabled`.
    pub multi_tenant_queries_enabled: bool,
}

impl TenantResolver {
    /// The tenants of an HTTP request.
    pub fn from_http(&self, headers: &http::HeaderMap) -> Result<Vec<TenantId>> {
        if !self.multitenancy_enabled {
            return Ok(vec![TenantId::single_tenant()]);
        }
        self.checked(tenants_from_http_headers(headers))
    }

    /// The tenants of a gRPC request.
    pub fn from_grpc(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Vec<TenantId>> {
        if !self.multitenancy_enabled {
            return Ok(vec![TenantId::single_tenant()]);
        }
        self.checked(tenants_from_grpc_metadata(metadata))
    }

    fn checked(
        &self,
        parsed: std::result::Result<Vec<TenantId>, IdError>,
    ) -> Result<Vec<TenantId>> {
        let tenants = parsed.map_err(Error::Tenant)?;
        if tenants.len() > 1 && !self.multi_tenant_queries_enabled {
            // Without cross-tenant queries `a|b` is one (invalid) tenant ID, as in Tempo.
            let joined: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
            return Err(Error::Tenant(
                TenantId::new(joined.join("|")).expect_err("'|' is never valid in a tenant ID"),
            ));
        }
        Ok(tenants)
    }
}

/// Parses `a|b` as the cross-tenant header would (for internal calls that carry tenants).
pub fn parse_tenant_list(text: &str) -> Result<Vec<TenantId>> {
    parse_tenants(text).map_err(Error::Tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = value {
            headers.insert("x-scope-orgid", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn single_tenant_ignores_the_header() {
        let resolver = TenantResolver {
            multitenancy_enabled: false,
            multi_tenant_queries_enabled: true,
        };
        assert_eq!(
            resolver.from_http(&headers(Some("a#b"))).unwrap(),
            vec![TenantId::single_tenant()]
        );
    }

    #[test]
    fn multitenancy_requires_a_valid_header() {
        let resolver = TenantResolver {
            multitenancy_enabled: true,
            multi_tenant_queries_enabled: true,
        };
        let missing = resolver.from_http(&headers(None)).unwrap_err();
        assert_eq!(missing.to_string(), "no org id");
        assert_eq!(missing.code().http_status(), 401);
        let invalid = resolver.from_http(&headers(Some("a#b"))).unwrap_err();
        assert!(invalid.to_string().contains("unsupported character"));
        assert_eq!(invalid.code().http_status(), 400);
        let both = resolver.from_http(&headers(Some("t2|t1"))).unwrap();
        assert_eq!(both.len(), 2);
        assert!(resolver.from_http(&headers(Some("a||b"))).is_err());
        let single_only = TenantResolver {
            multi_tenant_queries_enabled: false,
            ..resolver
        };
        let error = single_only.from_http(&headers(Some("t1|t2"))).unwrap_err();
        assert!(
            error.to_string().contains("unsupported character"),
            "{error}"
        );
    }
}
