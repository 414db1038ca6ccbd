//! `meta.json` and `meta.compacted.json`: Tempo's JSON key names where Tempo has the same thing
//! (`format`, `blockID`, `tenantID`, `startTime`, `endTime`, `totalObjects`, `size`,
//! `footerSize`, `bloomShards`, `totalRecords`, `compactionLevel`, `replicationFactor`,
//! `dedicatedColumns`, `minID`/`maxID`, `compactedTime`); Contrail's additions are
//! `totalSpans`, `rowGroups` and `compactedFrom`. IDs are hex (Tempo writes base64 because Go
//! marshals `[]byte`).

use chrono::{DateTime, Utc};
use contrail_proto::{TenantId, TraceId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The metadata of one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Format version, e.g. `vc1` (selects the reader through `Encoding::from_version`).
    pub format: String,
    /// The block's UUID (its folder name).
    #[serde(rename = "blockID")]
    pub block_id: Uuid,
    /// The tenant that owns the block.
    #[serde(rename = "tenantID")]
    pub tenant_id: TenantId,
    /// Earliest span start.
    pub start_time: DateTime<Utc>,
    /// Latest span end.
    pub end_time: DateTime<Utc>,
    /// Smallest trace ID in the block.
    #[serde(rename = "minID")]
    pub min_id: TraceId,
    /// Largest trace ID in the block.
    #[serde(rename = "maxID")]
    pub max_id: TraceId,
    /// Number of traces (Tempo's "objects").
    pub total_objects: u64,
    /// Number of spans (rows of `data.parquet`).
    pub total_spans: u64,
    /// Number of row groups (Tempo's meaning of `totalRecords` for Parquet blocks).
    pub total_records: u32,
    /// Bytes of `data.parquet`.
    pub size: u64,
    /// Bytes at the end of `data.parquet` holding the page indexes and the footer: one ranged
    /// GET of this many bytes gives everything a reader needs besides the pages.
    pub footer_size: u32,
    /// Number of `bloom-N` objects.
    pub bloom_shards: u32,
    /// Total bytes of the bloom shards.
    #[serde(default)]
    pub bloom_size: u64,
    /// 0 for freshly written blocks; a compaction output gets max(inputs) + 1.
    pub compaction_level: u32,
    /// 1 for RF1 blocks; 0 (absent) when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replication_factor: u32,
    /// The dedicated columns of the block's schema.
    #[serde(default)]
    pub dedicated_columns: Vec<DedicatedColumnMeta>,
    /// Per row group: trace-ID range, counts, time range, bytes.
    #[serde(default)]
    pub row_groups: Vec<RowGroupMeta>,
    /// The blocks this block replaces (a compaction output's inputs; empty for level 0). Every
    /// span of those blocks is in this one, so while a listed block is still live (a compactor
    /// stopped between writing this meta and marking its inputs) a reader may skip it, and the
    /// next compaction cycle marks it compacted.
    #[serde(
        rename = "compactedFrom",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub compacted_from: Vec<Uuid>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl BlockMeta {
    /// Whether `trace_id` is inside the block's ID range.
    pub fn may_contain(&self, trace_id: &TraceId) -> bool {
        self.min_id <= *trace_id && *trace_id <= self.max_id
    }

    /// The row groups whose trace-ID range includes `trace_id`.
    pub fn row_groups_for<'a>(&'a self, trace_id: &'a TraceId) -> impl Iterator<Item = usize> + 'a {
        self.row_groups
            .iter()
            .enumerate()
            .filter(move |(_, row_group)| {
                row_group.min_id <= *trace_id && *trace_id <= row_group.max_id
            })
            .map(|(index, _)| index)
    }
}

/// Per-row-group statistics, so trace by ID picks the row group without the footer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowGroupMeta {
    /// First trace ID of the row group.
    #[serde(rename = "minID")]
    pub min_id: TraceId,
    /// Last trace ID of the row group.
    #[serde(rename = "maxID")]
    pub max_id: TraceId,
    /// Traces in the row group (a trace is never split across row groups).
    pub traces: u64,
    /// Spans (rows) in the row group.
    pub spans: u64,
    /// Earliest span start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Latest span end, unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Compressed bytes of the row group.
    pub size: u64,
}

/// A dedicated column as Tempo writes it: `{s: scope, n: name, t: type}`, scope `span` and type
/// `string` omitted as defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedicatedColumnMeta {
    /// `span` or `resource`.
    #[serde(
        rename = "s",
        default = "default_scope",
        skip_serializing_if = "is_default_scope"
    )]
    pub scope: String,
    /// The attribute name.
    #[serde(rename = "n")]
    pub name: String,
    /// `string` or `int`.
    #[serde(
        rename = "t",
        default = "default_type",
        skip_serializing_if = "is_default_type"
    )]
    pub value_type: String,
}

fn default_scope() -> String {
    "span".to_owned()
}
fn is_default_scope(scope: &str) -> bool {
    scope == "span"
}
fn default_type() -> String {
    "string".to_owned()
}
fn is_default_type(value_type: &str) -> bool {
    value_type == "string"
}

/// `meta.compacted.json`: the block's meta plus when it was compacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactedBlockMeta {
    /// The meta of the block as it was.
    #[serde(flatten)]
    pub meta: BlockMeta,
    /// When the block was marked compacted.
    pub compacted_time: DateTime<Utc>,
}
