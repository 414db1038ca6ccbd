//! Local complete blocks across a restart: the blocks under `<wal>/blocks` that the object store
//! already holds stay readable from local disk for another `complete_block_timeout` (so recent
//! searches, which do not read the object store, still see them); a local block the object
//! store does not hold was cut but not uploaded, its spans are still in the WAL and its replay
//! writes them again, so the local copy is deleted.

use std::sync::Arc;

use contrail_storage::block::{BlockReader, META_OBJECT, list_blocks, list_tenants, object_path};
use object_store::ObjectStoreExt;

use crate::error::{Error, Result};
use crate::instance::CompleteBlock;
use crate::service::Ingester;

fn storage_error(source: contrail_storage::Error) -> Error {
    Error::Storage {
        source: Box::new(source),
    }
}

impl Ingester {
    /// Registers the uploaded local blocks as complete; deletes the others. Returns how many
    /// were kept.
    pub(crate) async fn reload_local_blocks(&self) -> Result<usize> {
        let local = self.inner.flusher.local.clone();
        let remote = self.inner.flusher.remote.clone();
        let now = self.inner.clock.now_unix_nanos();
        let root = self.inner.wal_options.dir.join("blocks");
        let mut kept = 0;
        for tenant in list_tenants(local.as_ref()).await.map_err(storage_error)? {
            let listing = list_blocks(local.clone(), &tenant)
                .await
                .map_err(storage_error)?;
            for meta in listing.live {
                let uploaded = match remote
                    .head(&object_path(&tenant, &meta.block_id, META_OBJECT))
                    .await
                {
                    Ok(_) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(source) => {
                        return Err(storage_error(contrail_storage::Error::from_store(
                            "head",
                            object_path(&tenant, &meta.block_id, META_OBJECT),
                            source,
                        )));
                    }
                };
                if uploaded {
                    let reader = BlockReader::open(local.clone(), meta).map_err(storage_error)?;
                    self.instance_or_create(&tenant)
                        .add_complete(CompleteBlock {
                            reader: Arc::new(reader),
                            uploaded_unix_nano: now,
                            trace_ids: None,
                        });
                    kept += 1;
                } else {
                    delete_local(&root, &tenant, &meta.block_id).await;
                }
            }
            for corrupt in listing.corrupt {
                delete_local(&root, &tenant, &corrupt.block_id).await;
            }
        }
        Ok(kept)
    }
}

/// Deletes a local block's folder (a failure is logged: the files only cost disk).
async fn delete_local(
    root: &std::path::Path,
    tenant: &contrail_proto::TenantId,
    block_id: &uuid::Uuid,
) {
    let folder = root.join(tenant.as_str()).join(block_id.to_string());
    if let Err(error) = tokio::fs::remove_dir_all(&folder).await {
        tracing::warn!(%block_id, %error, "cannot delete a local block that was never uploaded");
    }
}
