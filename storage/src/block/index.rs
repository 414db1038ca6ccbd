//! The tenant index `<tenant>/index.json.zst`: every block meta of a tenant in one object, so
//! readers poll one GET instead of listing. zstd-compressed JSON.

use chrono::{DateTime, Utc};
use contrail_proto::TenantId;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::decompress_bounded;
use super::list::tenant_index_path;
use super::meta::{BlockMeta, CompactedBlockMeta};
use crate::error::{Error, Result};

/// A decompressed index larger than this is refused as corrupt.
const MAX_INDEX_BYTES: usize = 1024 * 1024 * 1024;

/// The tenant index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantIndex {
    /// When the index was built.
    pub created_at: DateTime<Utc>,
    /// Live blocks.
    pub meta: Vec<BlockMeta>,
    /// Compacted blocks.
    pub compacted: Vec<CompactedBlockMeta>,
}

/// Writes the index of `tenant`.
pub async fn write_tenant_index(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    index: &TenantIndex,
) -> Result<()> {
    let path = tenant_index_path(tenant);
    let json = serde_json::to_vec(index).map_err(|error| Error::BlockTask {
        message: format!("encode {path}: {error}"),
    })?;
    let compressed = zstd::bulk::compress(&json, 3).map_err(|error| Error::BlockTask {
        message: format!("compress {path}: {error}"),
    })?;
    store
        .put(&path, PutPayload::from(compressed))
        .await
        .map_err(|source| Error::from_store("put", &path, source))?;
    Ok(())
}

/// Reads the index of `tenant`; `None` when there is none.
pub async fn read_tenant_index(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<Option<TenantIndex>> {
    let path = tenant_index_path(tenant);
    let bytes = match store.get(&path).await {
        Ok(result) => result
            .bytes()
            .await
            .map_err(|source| Error::from_store("get", &path, source))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(Error::from_store("get", &path, source)),
    };
    let corrupt = |message: String| Error::CorruptTenantIndex {
        object: path.to_string(),
        message,
    };
    let json =
        decompress_bounded(&bytes, MAX_INDEX_BYTES).map_err(|error| corrupt(error.to_string()))?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|error| corrupt(error.to_string()))
}
