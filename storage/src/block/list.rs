//! Listing a tenant's blocks, reading metas, and marking blocks compacted.
//!
//! Only blocks whose `meta.json` (live) or `meta.compacted.json` (compacted) exists are listed:
//! a writer that died before writing `meta.json` leaves objects that no reader ever sees. A block
//! whose meta cannot be decoded is reported in [`BlockList::corrupt`] and skipped, so one bad
//! block never hides a tenant's other blocks; store errors (unavailable, timeouts) still fail the
//! listing, since skipping those would silently drop healthy blocks.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use contrail_proto::TenantId;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::meta::{BlockMeta, CompactedBlockMeta};
use super::{COMPACTED_META_OBJECT, META_OBJECT, TENANT_INDEX_OBJECT, corrupt, object_path};
use crate::error::{Error, Result};

/// Concurrent meta reads while listing.
const LIST_CONCURRENCY: usize = 16;

/// The blocks of one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockList {
    /// Blocks with a `meta.json`, sorted by block ID.
    pub live: Vec<BlockMeta>,
    /// Blocks with a `meta.compacted.json` (and no `meta.json`), sorted by block ID.
    pub compacted: Vec<CompactedBlockMeta>,
    /// Blocks whose meta exists but is corrupt, sorted by block ID: skipped, for operators to see.
    pub corrupt: Vec<CorruptBlock>,
}

/// A block left out of a listing because its meta could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptBlock {
    /// The block's ID (its folder name).
    pub block_id: Uuid,
    /// Why it was left out: the error naming the object.
    pub reason: String,
}

/// The tenants that have at least one object (folders at the store's root whose names are valid
/// tenant IDs; anything else at the root is not Contrail's and is skipped).
pub async fn list_tenants(store: &dyn ObjectStore) -> Result<Vec<TenantId>> {
    let listing = store
        .list_with_delimiter(None)
        .await
        .map_err(|source| Error::from_store("list", "/", source))?;
    let mut tenants: Vec<TenantId> = listing
        .common_prefixes
        .iter()
        .filter_map(|prefix| prefix.filename())
        .filter_map(|name| TenantId::new(name).ok())
        .collect();
    tenants.sort();
    Ok(tenants)
}

/// Lists the blocks of `tenant`.
pub async fn list_blocks(store: Arc<dyn ObjectStore>, tenant: &TenantId) -> Result<BlockList> {
    let prefix = Path::from(tenant.as_str());
    let listing = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|source| Error::from_store("list", &prefix, source))?;
    let block_ids: Vec<Uuid> = listing
        .common_prefixes
        .iter()
        .filter_map(|prefix| {
            prefix
                .filename()
                .and_then(|name| Uuid::parse_str(name).ok())
        })
        .collect();
    let found: Vec<Option<Found>> = futures::stream::iter(block_ids)
        .map(|block_id| {
            let store = store.clone();
            async move {
                match find_meta(store.as_ref(), tenant, &block_id).await {
                    Err(error) if error.code() == contrail_proto::ErrorCode::DataCorrupt => {
                        Ok(Some(Found::Corrupt(CorruptBlock {
                            block_id,
                            reason: error.to_string(),
                        })))
                    }
                    other => other,
                }
            }
        })
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
    let mut list = BlockList::default();
    for entry in found.into_iter().flatten() {
        match entry {
            Found::Live(meta) => list.live.push(*meta),
            Found::Compacted(meta) => list.compacted.push(*meta),
            Found::Corrupt(corrupt) => list.corrupt.push(corrupt),
        }
    }
    list.corrupt.sort_by_key(|corrupt| corrupt.block_id);
    list.live.sort_by_key(|meta| meta.block_id);
    list.compacted.sort_by_key(|meta| meta.meta.block_id);
    Ok(list)
}

enum Found {
    Live(Box<BlockMeta>),
    Compacted(Box<CompactedBlockMeta>),
    Corrupt(CorruptBlock),
}

async fn find_meta(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block_id: &Uuid,
) -> Result<Option<Found>> {
    let live_path = object_path(tenant, block_id, META_OBJECT);
    if let Some(meta) = get_json::<BlockMeta>(store, &live_path).await? {
        return Ok(Some(Found::Live(Box::new(meta))));
    }
    let compacted_path = object_path(tenant, block_id, COMPACTED_META_OBJECT);
    Ok(get_json::<CompactedBlockMeta>(store, &compacted_path)
        .await?
        .map(|meta| Found::Compacted(Box::new(meta))))
}

/// Reads and decodes a JSON object; `None` when it does not exist.
pub(crate) async fn get_json<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<T>> {
    let bytes = match store.get(path).await {
        Ok(result) => result
            .bytes()
            .await
            .map_err(|source| Error::from_store("get", path, source))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(Error::from_store("get", path, source)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| corrupt(path, error))
}

/// Reads `meta.json` of a block; a missing block is `Error::NotFound`.
pub async fn read_block_meta(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block_id: &Uuid,
) -> Result<BlockMeta> {
    let path = object_path(tenant, block_id, META_OBJECT);
    let bytes = store
        .get(&path)
        .await
        .map_err(|source| Error::from_store("get", &path, source))?
        .bytes()
        .await
        .map_err(|source| Error::from_store("get", &path, source))?;
    let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(|error| corrupt(&path, error))?;
    if meta.block_id != *block_id || meta.tenant_id != *tenant {
        return Err(corrupt(
            &path,
            format!("meta names block {}/{}", meta.tenant_id, meta.block_id),
        ));
    }
    Ok(meta)
}

/// Marks a block compacted: writes `meta.compacted.json`, then deletes `meta.json` (a reader
/// may briefly see both; listing then reports the block as live, which is safe).
pub async fn mark_compacted(
    store: &dyn ObjectStore,
    meta: &BlockMeta,
    compacted_time: DateTime<Utc>,
) -> Result<()> {
    let compacted = CompactedBlockMeta {
        meta: meta.clone(),
        compacted_time,
    };
    let compacted_path = object_path(&meta.tenant_id, &meta.block_id, COMPACTED_META_OBJECT);
    let body = serde_json::to_vec(&compacted).map_err(|error| Error::BlockTask {
        message: format!("encode {compacted_path}: {error}"),
    })?;
    store
        .put(&compacted_path, PutPayload::from(body))
        .await
        .map_err(|source| Error::from_store("put", &compacted_path, source))?;
    let live_path = object_path(&meta.tenant_id, &meta.block_id, META_OBJECT);
    match store.delete(&live_path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(Error::from_store("delete", &live_path, source)),
    }
}

/// The path of a tenant's index.
pub(crate) fn tenant_index_path(tenant: &TenantId) -> Path {
    Path::from(tenant.as_str()).join(TENANT_INDEX_OBJECT)
}
