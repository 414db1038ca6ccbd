//! Block-wide resource and scope tables: each distinct (resource, schema URL) and (scope, schema
//! URL) is stored once in the Parquet footer's key-value metadata and referenced from span rows
//! by index, so resource attributes are never repeated per span.
//!
//! Stored as protobuf (`TracesData` / `ResourceSpans` with no spans), zstd-compressed, hex-encoded
//! (Parquet key-value metadata holds strings).

use std::collections::HashMap;

use ahash::RandomState;

use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, TracesData};
use prost::Message;

use super::RowsError;

/// Footer key of the resource table.
pub(crate) const RESOURCES_KEY: &str = "contrail.vc1.resources";
/// Footer key of the scope table.
pub(crate) const SCOPES_KEY: &str = "contrail.vc1.scopes";

/// The lookup key of a resource or scope with its schema URL, encoded from the borrowed message
/// (no clone on the hot path): a presence byte, the length-delimited message, then the URL.
fn intern_key<M: Message>(message: Option<&M>, schema_url: &str) -> Vec<u8> {
    let mut key =
        Vec::with_capacity(message.map_or(0, Message::encoded_len) + schema_url.len() + 8);
    match message {
        Some(message) => {
            key.push(1);
            // Writing into a Vec cannot run out of capacity.
            let _ = message.encode_length_delimited(&mut key);
        }
        None => key.push(0),
    }
    key.extend_from_slice(schema_url.as_bytes());
    key
}

/// The resource and scope tables of one block.
#[derive(Debug, Default, Clone)]
pub struct RefTables {
    resources: Vec<ResourceSpans>,
    scopes: Vec<ScopeSpans>,
    resource_index: HashMap<Vec<u8>, u32, RandomState>,
    scope_index: HashMap<Vec<u8>, u32, RandomState>,
    /// The wire path's lookups: the bytes a resource or scope arrived as (see [`raw_key`]) to
    /// its reference, so each distinct encoding is decoded once per block.
    raw_resource_index: HashMap<Vec<u8>, u32, RandomState>,
    raw_scope_index: HashMap<Vec<u8>, u32, RandomState>,
}

/// The wire path's lookup key of a resource or scope as encoded: a presence byte, the length
/// of the message, the message, then the schema URL. Written into `key` (reused).
pub(crate) fn raw_key(key: &mut Vec<u8>, message: Option<&[u8]>, schema_url: &[u8]) {
    key.clear();
    match message {
        Some(message) => {
            key.push(1);
            key.extend_from_slice(&(message.len() as u64).to_le_bytes());
            key.extend_from_slice(message);
        }
        None => key.push(0),
    }
    key.extend_from_slice(schema_url);
}

impl RefTables {
    /// The reference of `resource_spans`' resource and schema URL, added if new.
    pub(crate) fn intern_resource(&mut self, resource_spans: &ResourceSpans) -> u32 {
        let key = intern_key(resource_spans.resource.as_ref(), &resource_spans.schema_url);
        if let Some(index) = self.resource_index.get(&key) {
            return *index;
        }
        let index = self.resources.len() as u32;
        self.resources.push(ResourceSpans {
            resource: resource_spans.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: resource_spans.schema_url.clone(),
        });
        self.resource_index.insert(key, index);
        index
    }

    /// The reference of `scope_spans`' scope and schema URL, added if new.
    pub(crate) fn intern_scope(&mut self, scope_spans: &ScopeSpans) -> u32 {
        let key = intern_key(scope_spans.scope.as_ref(), &scope_spans.schema_url);
        if let Some(index) = self.scope_index.get(&key) {
            return *index;
        }
        let index = self.scopes.len() as u32;
        self.scopes.push(ScopeSpans {
            scope: scope_spans.scope.clone(),
            spans: Vec::new(),
            schema_url: scope_spans.schema_url.clone(),
        });
        self.scope_index.insert(key, index);
        index
    }

    /// The reference of a resource by its encoded lookup key ([`raw_key`]); on first sight
    /// `decode` builds it and it is interned as [`RefTables::intern_resource`] does, so equal
    /// resources get one reference however they were encoded.
    pub(crate) fn intern_raw_resource(
        &mut self,
        key: &[u8],
        decode: impl FnOnce() -> Result<ResourceSpans, RowsError>,
    ) -> Result<u32, RowsError> {
        if let Some(index) = self.raw_resource_index.get(key) {
            return Ok(*index);
        }
        let index = self.intern_resource(&decode()?);
        self.raw_resource_index.insert(key.to_vec(), index);
        Ok(index)
    }

    /// The reference of a scope by its encoded lookup key (see [`RefTables::intern_raw_resource`]).
    pub(crate) fn intern_raw_scope(
        &mut self,
        key: &[u8],
        decode: impl FnOnce() -> Result<ScopeSpans, RowsError>,
    ) -> Result<u32, RowsError> {
        if let Some(index) = self.raw_scope_index.get(key) {
            return Ok(*index);
        }
        let index = self.intern_scope(&decode()?);
        self.raw_scope_index.insert(key.to_vec(), index);
        Ok(index)
    }

    /// The resource entry `index` (a `ResourceSpans` without scope spans).
    pub fn resource(&self, index: u32) -> Option<&ResourceSpans> {
        self.resources.get(index as usize)
    }

    /// The scope entry `index` (a `ScopeSpans` without spans).
    pub fn scope(&self, index: u32) -> Option<&ScopeSpans> {
        self.scopes.get(index as usize)
    }

    /// Number of distinct resources.
    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    /// Number of distinct scopes.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// The two footer entries `(key, value)` that store the tables.
    pub(crate) fn to_footer(&self) -> Result<[(String, String); 2], RowsError> {
        let resources = TracesData {
            resource_spans: self.resources.clone(),
        }
        .encode_to_vec();
        let scopes = ResourceSpans {
            resource: None,
            scope_spans: self.scopes.clone(),
            schema_url: String::new(),
        }
        .encode_to_vec();
        Ok([
            (RESOURCES_KEY.to_owned(), compress(&resources)?),
            (SCOPES_KEY.to_owned(), compress(&scopes)?),
        ])
    }

    /// Rebuilds the tables from the footer values.
    pub(crate) fn from_footer(resources: &str, scopes: &str) -> Result<Self, RowsError> {
        let resources = TracesData::decode(decompress(resources)?.as_slice())
            .map_err(|error| RowsError::new(format!("resource table: {error}")))?
            .resource_spans;
        let scopes = ResourceSpans::decode(decompress(scopes)?.as_slice())
            .map_err(|error| RowsError::new(format!("scope table: {error}")))?
            .scope_spans;
        Ok(RefTables {
            resources,
            scopes,
            resource_index: HashMap::default(),
            scope_index: HashMap::default(),
            raw_resource_index: HashMap::default(),
            raw_scope_index: HashMap::default(),
        })
    }
}

fn compress(raw: &[u8]) -> Result<String, RowsError> {
    let compressed = zstd::bulk::compress(raw, 3)
        .map_err(|error| RowsError::new(format!("compress table: {error}")))?;
    Ok(hex::encode(compressed))
}

/// Tables larger than this are refused as corrupt (a block holds far fewer resources).
const MAX_TABLE_BYTES: usize = 256 * 1024 * 1024;

fn decompress(encoded: &str) -> Result<Vec<u8>, RowsError> {
    let compressed =
        hex::decode(encoded).map_err(|error| RowsError::new(format!("table hex: {error}")))?;
    crate::block::decompress_bounded(&compressed, MAX_TABLE_BYTES)
        .map_err(|error| RowsError::new(format!("table zstd: {error}")))
}
