//! Object names and paths of a block: `<tenant>/<block-uuid>/<object>`.

use contrail_proto::TenantId;
use object_store::path::Path;
use uuid::Uuid;

/// The Parquet data object of a block.
pub const DATA_OBJECT: &str = "data.parquet";
/// The meta object; its presence makes a block visible.
pub const META_OBJECT: &str = "meta.json";
/// The meta object of a compacted (replaced) block.
pub const COMPACTED_META_OBJECT: &str = "meta.compacted.json";
/// The tenant index, under `<tenant>/`.
pub const TENANT_INDEX_OBJECT: &str = "index.json.zst";

/// The name of bloom shard `shard`: `bloom-<shard>`.
pub fn bloom_object(shard: u32) -> String {
    format!("bloom-{shard}")
}

/// `<tenant>/<block>`.
pub fn block_path(tenant: &TenantId, block_id: &Uuid) -> Path {
    Path::from(tenant.as_str()).join(block_id.to_string().as_str())
}

/// `<tenant>/<block>/<object>`.
pub fn object_path(tenant: &TenantId, block_id: &Uuid, object: &str) -> Path {
    block_path(tenant, block_id).join(object)
}
