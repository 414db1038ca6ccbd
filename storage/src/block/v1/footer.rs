//! The decoded footer of a `vc1` data file: the Parquet metadata with its page indexes, the
//! reader metadata for condition and result columns, and the resource and scope tables.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use object_store::path::Path;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

use super::schema::{ROOT_SERVICE_NAME, ROOT_SPAN_NAME};
use crate::block::v1::convert::RefTables;
use crate::block::v1::convert::tables::{RESOURCES_KEY, SCOPES_KEY};
use crate::error::{Result, corrupt};

/// The decoded footer of a block: Parquet metadata with page indexes, and the resource and
/// scope tables.
#[derive(Debug)]
pub struct Footer {
    pub metadata: Arc<ParquetMetaData>,
    pub arrow: ArrowReaderMetadata,
    /// The same file for result columns: the trace-level strings (root service and name)
    /// decode as dictionaries, one key per row instead of a copy of the string.
    pub results: ArrowReaderMetadata,
    pub tables: Arc<RefTables>,
}

/// The footer of `path` from its Parquet metadata, checked against the row groups `meta.json`
/// names.
pub(crate) fn build_footer(
    path: &Path,
    metadata: ParquetMetaData,
    row_groups: usize,
) -> Result<Footer> {
    let metadata = Arc::new(metadata);
    if metadata.num_row_groups() != row_groups {
        return Err(corrupt(
            path,
            format!(
                "{} row groups, meta.json says {row_groups}",
                metadata.num_row_groups()
            ),
        ));
    }
    let value_of = |key: &str| {
        metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|entries| entries.iter().find(|entry| entry.key == key))
            .and_then(|entry| entry.value.clone())
            .ok_or_else(|| corrupt(path, format!("footer has no {key}")))
    };
    let tables = RefTables::from_footer(&value_of(RESOURCES_KEY)?, &value_of(SCOPES_KEY)?)
        .map_err(|error| corrupt(path, error))?;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let arrow = ArrowReaderMetadata::try_new(metadata.clone(), options.clone())
        .map_err(|error| corrupt(path, error))?;
    let results = ArrowReaderMetadata::try_new(
        metadata.clone(),
        options.with_schema(trace_strings_as_dictionaries(arrow.schema())),
    )
    .map_err(|error| corrupt(path, error))?;
    Ok(Footer {
        metadata,
        arrow,
        results,
        tables: Arc::new(tables),
    })
}

/// `schema` with the root service and name columns as `Dictionary(Int32, Utf8)`.
fn trace_strings_as_dictionaries(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|field| {
            let root = field.name() == ROOT_SERVICE_NAME || field.name() == ROOT_SPAN_NAME;
            if root && field.data_type() == &DataType::Utf8 {
                Arc::new(Field::new(
                    field.name(),
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    field.is_nullable(),
                ))
            } else {
                field.clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
