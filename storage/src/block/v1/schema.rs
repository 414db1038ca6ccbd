//! The `vc1` Parquet schema: one row per span, rows sorted by trace ID and, within a trace, in
//! depth-first (nested-set) order. See `docs/adr/001-block-schema.md` for why.
//!
//! Trace-level fields are repeated on every span row (dictionary and run-length encoding make the
//! repeats almost free); resources and instrumentation scopes are stored once per block in the
//! footer (see `convert::tables`) and referenced by `resource_ref` / `scope_ref`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::block::meta::DedicatedColumnMeta;

/// The `format` value of `vc1` blocks.
pub const FORMAT: &str = "vc1";

// Trace-level columns (the same value on every row of a trace).
pub(crate) const TRACE_ID: &str = "trace_id";
pub(crate) const TRACE_START: &str = "trace_start_unix_nano";
pub(crate) const TRACE_DURATION: &str = "trace_duration_nano";
pub(crate) const ROOT_SERVICE_NAME: &str = "root_service_name";
pub(crate) const ROOT_SPAN_NAME: &str = "root_span_name";
// Span columns.
pub(crate) const SPAN_ID: &str = "span_id";
pub(crate) const PARENT_INDEX: &str = "parent_index";
pub(crate) const PARENT_SPAN_ID: &str = "parent_span_id";
pub(crate) const NESTED_SET_LEFT: &str = "nested_set_left";
pub(crate) const NESTED_SET_RIGHT: &str = "nested_set_right";
pub(crate) const START_OFFSET: &str = "start_offset_nano";
pub(crate) const DURATION: &str = "duration_nano";
pub(crate) const NAME: &str = "name";
pub(crate) const KIND: &str = "kind";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const STATUS_MESSAGE: &str = "status_message";
pub(crate) const TRACE_STATE: &str = "trace_state";
pub(crate) const FLAGS: &str = "flags";
pub(crate) const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
pub(crate) const DROPPED_EVENTS: &str = "dropped_events_count";
pub(crate) const DROPPED_LINKS: &str = "dropped_links_count";
pub(crate) const RESOURCE_REF: &str = "resource_ref";
pub(crate) const SCOPE_REF: &str = "scope_ref";
pub(crate) const ATTRS: &str = "attrs";
pub(crate) const EVENTS: &str = "events";
pub(crate) const LINKS: &str = "links";

/// Where a dedicated column's attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedicatedScope {
    /// A span attribute: moved out of the generic `attrs` list into the column.
    Span,
    /// A resource attribute: copied onto every span row of the resource (the resource table
    /// keeps the full attribute list).
    Resource,
}

/// The value type of a dedicated column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedicatedType {
    /// `Utf8`, holds `stringValue` attributes.
    String,
    /// `Int64`, holds `intValue` attributes.
    Int,
}

/// One dedicated column of the `vc1` schema: a hot attribute with a real column.
#[derive(Debug, Clone, Copy)]
pub struct DedicatedColumn {
    /// The Parquet column name.
    pub column: &'static str,
    /// The attribute key it holds.
    pub attribute: &'static str,
    /// Span or resource attribute.
    pub scope: DedicatedScope,
    /// String or int.
    pub value_type: DedicatedType,
}

const fn dedicated(
    column: &'static str,
    attribute: &'static str,
    scope: DedicatedScope,
    value_type: DedicatedType,
) -> DedicatedColumn {
    DedicatedColumn {
        column,
        attribute,
        scope,
        value_type,
    }
}

use DedicatedScope::{Resource, Span};
use DedicatedType::{Int, String as Str};

/// The fixed dedicated columns of `vc1` (frozen into every block's `meta.json`).
pub const DEDICATED_COLUMNS: &[DedicatedColumn] = &[
    dedicated("service_name", "service.name", Resource, Str),
    dedicated("k8s_namespace_name", "k8s.namespace.name", Resource, Str),
    dedicated("k8s_pod_name", "k8s.pod.name", Resource, Str),
    dedicated("k8s_container_name", "k8s.container.name", Resource, Str),
    dedicated("k8s_cluster_name", "k8s.cluster.name", Resource, Str),
    dedicated("http_request_method", "http.request.method", Span, Str),
    dedicated("http_method", "http.method", Span, Str),
    dedicated("url_path", "url.path", Span, Str),
    dedicated("http_route", "http.route", Span, Str),
    dedicated("url_full", "url.full", Span, Str),
    dedicated("http_url", "http.url", Span, Str),
    dedicated("server_address", "server.address", Span, Str),
    dedicated("db_system", "db.system", Span, Str),
    dedicated("db_name", "db.name", Span, Str),
    dedicated(
        "http_response_status_code",
        "http.response.status_code",
        Span,
        Int,
    ),
    dedicated("http_status_code", "http.status_code", Span, Int),
    dedicated("server_port", "server.port", Span, Int),
];

/// The dedicated columns of one scope, in schema order.
pub(crate) fn dedicated_of(
    scope: DedicatedScope,
) -> impl Iterator<Item = &'static DedicatedColumn> {
    DEDICATED_COLUMNS
        .iter()
        .filter(move |column| column.scope == scope)
}

/// The span dedicated column holding attribute `key`, if there is one.
pub(crate) fn span_dedicated(key: &str) -> Option<&'static DedicatedColumn> {
    dedicated_of(DedicatedScope::Span).find(|column| column.attribute == key)
}

pub(crate) fn attr_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("type", DataType::UInt8, false),
        Field::new("str", DataType::Utf8, true),
        Field::new("int", DataType::Int64, true),
        Field::new("double", DataType::Float64, true),
        Field::new("bool", DataType::Boolean, true),
        Field::new("bytes", DataType::Binary, true),
    ])
}

/// The data type of an attribute list column (generic span, event and link attributes).
pub(crate) fn attr_list_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(attr_fields()),
        false,
    )))
}

pub(crate) fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time_offset_nano", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attrs", attr_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

pub(crate) fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Binary, false),
        Field::new("span_id", DataType::Binary, false),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("flags", DataType::UInt32, false),
        Field::new("attrs", attr_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

pub(crate) fn event_list_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(event_fields()),
        false,
    )))
}

pub(crate) fn link_list_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(link_fields()),
        false,
    )))
}

/// The Arrow schema of a `vc1` `data.parquet`.
pub fn arrow_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(TRACE_START, DataType::UInt64, false),
        Field::new(TRACE_DURATION, DataType::UInt64, false),
        Field::new(ROOT_SERVICE_NAME, DataType::Utf8, false),
        Field::new(ROOT_SPAN_NAME, DataType::Utf8, false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(PARENT_INDEX, DataType::Int32, false),
        Field::new(PARENT_SPAN_ID, DataType::Binary, true),
        Field::new(NESTED_SET_LEFT, DataType::Int32, false),
        Field::new(NESTED_SET_RIGHT, DataType::Int32, false),
        Field::new(START_OFFSET, DataType::Int64, false),
        Field::new(DURATION, DataType::Int64, false),
        Field::new(NAME, DataType::Utf8, false),
        Field::new(KIND, DataType::Int32, false),
        Field::new(STATUS_CODE, DataType::Int32, true),
        Field::new(STATUS_MESSAGE, DataType::Utf8, true),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
        Field::new(DROPPED_EVENTS, DataType::UInt32, false),
        Field::new(DROPPED_LINKS, DataType::UInt32, false),
        Field::new(RESOURCE_REF, DataType::UInt32, false),
        Field::new(SCOPE_REF, DataType::UInt32, false),
    ];
    for column in DEDICATED_COLUMNS {
        let data_type = match column.value_type {
            DedicatedType::String => DataType::Utf8,
            DedicatedType::Int => DataType::Int64,
        };
        fields.push(Field::new(column.column, data_type, true));
    }
    fields.push(Field::new(ATTRS, attr_list_type(), false));
    fields.push(Field::new(EVENTS, event_list_type(), false));
    fields.push(Field::new(LINKS, link_list_type(), false));
    Arc::new(Schema::new(fields))
}

/// Knobs of the Parquet encoding that the ADR measured.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// zstd level for every column (1..=22); the ADR measured 1..9.
    pub zstd_level: i32,
    /// Target size of an uncompressed data page.
    pub data_page_size_bytes: usize,
    /// Dictionary-encode the trace-ID column (otherwise plain + zstd).
    pub trace_id_dictionary: bool,
    /// Delta-encode (DELTA_BINARY_PACKED) the integer span columns instead of dictionaries.
    pub delta_integers: bool,
    /// A data page is cut after this many rows even if it is smaller than
    /// `data_page_size_bytes` (Parquet's default, 20,000, is what level-0 blocks use).
    pub data_page_row_limit: usize,
    /// BYTE_STREAM_SPLIT instead of DELTA_BINARY_PACKED for `start_offset_nano` and
    /// `duration_nano`, and instead of a dictionary for the generic attributes' `int` values:
    /// the high bytes of these near-random integers become long runs zstd compresses well
    /// (docs/adr/016-compacted-block-size.md). Needs zstd to pay off.
    pub byte_stream_split_integers: bool,
    /// zstd level of the generic span attributes' string values (`attrs.str`, the largest
    /// column); `None`: `zstd_level`.
    pub attribute_string_zstd_level: Option<i32>,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            zstd_level: 3,
            data_page_size_bytes: 256 * 1024,
            trace_id_dictionary: false,
            delta_integers: true,
            data_page_row_limit: DEFAULT_DATA_PAGE_ROW_LIMIT,
            byte_stream_split_integers: false,
            attribute_string_zstd_level: None,
        }
    }
}

/// Parquet's default row limit of a data page (`WriterProperties`), kept for level-0 blocks.
pub const DEFAULT_DATA_PAGE_ROW_LIMIT: usize = 20_000;

/// A value leaf of the generic span attributes, e.g. `attrs.list.item.str` for `"str"`.
fn attribute_leaf(value: &str) -> ColumnPath {
    ColumnPath::new(vec![
        ATTRS.into(),
        "list".into(),
        "item".into(),
        value.into(),
    ])
}

/// Whether a leaf's statistics are read by nothing: search prunes with the statistics, page
/// index and dictionaries of top-level columns, of attribute keys (`attrs.key`,
/// `events.attrs.key`, `links.attrs.key`) and of the flat event and link fields (`events.name`,
/// `events.time_offset_nano`, `links.trace_id`, `links.span_id`). The values of generic
/// attributes and the other nested leaves are only ever decoded, never pruned on, and computing
/// their min/max (byte comparisons of every value) was a measurable part of encoding (ADR 007).
/// A leaf without statistics is read as "may match", so a reader that starts pruning on one is
/// still correct, only slower.
fn statistics_unused(logical_path: &str) -> bool {
    const ATTR_VALUES: [&str; 6] = ["type", "str", "int", "double", "bool", "bytes"];
    let attr_value = logical_path
        .rsplit_once('.')
        .is_some_and(|(list, leaf)| list.ends_with(ATTRS) && ATTR_VALUES.contains(&leaf));
    attr_value
        || matches!(
            logical_path,
            "events.dropped_attributes_count"
                | "links.trace_state"
                | "links.flags"
                | "links.dropped_attributes_count"
        )
}

/// The Parquet leaves of the `vc1` schema whose statistics are not written.
fn leaves_without_statistics() -> parquet::errors::Result<Vec<ColumnPath>> {
    let schema = parquet::arrow::ArrowSchemaConverter::new().convert(&arrow_schema())?;
    Ok(schema
        .columns()
        .iter()
        .filter(|column| {
            let logical: Vec<&str> = column
                .path()
                .parts()
                .iter()
                .map(String::as_str)
                .filter(|part| !matches!(*part, "list" | "item" | "element"))
                .collect();
            statistics_unused(&logical.join("."))
        })
        .map(|column| column.path().clone())
        .collect())
}

/// Writer properties for `data.parquet`: zstd, statistics and page index on (except on leaves no
/// reader prunes on), row groups cut by the block writer only (never inside a trace), IDs plain,
/// timestamps delta-encoded.
pub(crate) fn writer_properties(
    options: &ParquetOptions,
) -> parquet::errors::Result<WriterProperties> {
    let level = ZstdLevel::try_new(options.zstd_level)?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_data_page_size_limit(options.data_page_size_bytes)
        .set_data_page_row_count_limit(options.data_page_row_limit.max(1))
        .set_dictionary_page_size_limit(2 * 1024 * 1024)
        .set_column_dictionary_enabled(ColumnPath::from(SPAN_ID), false)
        .set_column_dictionary_enabled(ColumnPath::from(PARENT_SPAN_ID), false)
        .set_column_dictionary_enabled(ColumnPath::from(TRACE_ID), options.trace_id_dictionary);
    for path in leaves_without_statistics()? {
        builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    if options.delta_integers {
        for column in [
            PARENT_INDEX,
            NESTED_SET_LEFT,
            NESTED_SET_RIGHT,
            START_OFFSET,
            DURATION,
        ] {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(column), false)
                .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
        }
    }
    if options.byte_stream_split_integers {
        for column in [
            ColumnPath::from(START_OFFSET),
            ColumnPath::from(DURATION),
            attribute_leaf("int"),
        ] {
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::BYTE_STREAM_SPLIT);
        }
    }
    if let Some(level) = options.attribute_string_zstd_level {
        builder = builder.set_column_compression(
            attribute_leaf("str"),
            Compression::ZSTD(ZstdLevel::try_new(level)?),
        );
    }
    Ok(builder.build())
}

/// The dedicated columns of the `vc1` schema, as written into `meta.json`.
pub(crate) fn vc1_dedicated_columns() -> Vec<DedicatedColumnMeta> {
    DEDICATED_COLUMNS
        .iter()
        .map(|column| DedicatedColumnMeta {
            scope: match column.scope {
                DedicatedScope::Span => "span",
                DedicatedScope::Resource => "resource",
            }
            .to_owned(),
            name: column.attribute.to_owned(),
            value_type: match column.value_type {
                DedicatedType::String => "string",
                DedicatedType::Int => "int",
            }
            .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_dropped_only_on_leaves_no_reader_prunes_on() {
        let dropped: Vec<String> = leaves_without_statistics()
            .unwrap()
            .iter()
            .map(|path| path.parts().join("."))
            .collect();
        // Attribute values of span, event and link attributes, and four event/link fields.
        assert_eq!(dropped.len(), 3 * 6 + 4, "{dropped:?}");
        for kept in [
            "attrs.list.item.key",
            "events.list.item.name",
            "events.list.item.time_offset_nano",
            "events.list.item.attrs.list.item.key",
            "links.list.item.trace_id",
            "links.list.item.span_id",
            "links.list.item.attrs.list.item.key",
            "service_name",
            "trace_id",
        ] {
            assert!(
                !dropped.iter().any(|path| path == kept),
                "{kept} in {dropped:?}"
            );
        }
        assert!(dropped.iter().any(|path| path == "attrs.list.item.str"));
        assert!(
            dropped
                .iter()
                .any(|path| path == "links.list.item.attrs.list.item.bytes")
        );
    }
}
