//! The block half of the tag endpoints: attribute names by scope and typed values of one
//! attribute over a range of a `vc1` block's row groups, optionally only over the rows a `q`
//! filter matched ([`RowSelection`], from `contrail_traceql::tags::SpanFilter`). Fills the same
//! collectors as the in-memory half (`contrail_traceql::tags`), so answers agree.
//!
//! What is read, per row group: only the leaves the request needs. Names never decode values:
//! the `key` leaves of the span, event and link attribute lists, the span dedicated columns
//! (their presence), and `resource_ref` / `scope_ref`, whose distinct values pick entries of the
//! footer's resource and scope tables (resource and scope attributes are stored once per block,
//! so no per-span copy is read). Values read the one attribute list (or dedicated column,
//! intrinsic column, table) that can hold the attribute. IO is async; decoding and the walk over
//! the decoded columns run on the reader's decode pool, one row group at a time.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch;
use contrail_traceql::tags::{DataScope, IntrinsicValues, TagNames, TagValues, ValueTarget};

use crate::block::v1::convert::{RefTables, RowsError};
use crate::block::v1::footer::Footer;
use crate::block::v1::reader::{BlockReader, read_error};
use crate::block::v1::schema::{self, DedicatedScope, dedicated_of, span_dedicated};
use crate::error::{Result, corrupt};
use crate::parquet_query::{LeafRead, decode};

mod walk;

/// Rows of a block selected by a filter, by row group (row references as the block's span
/// source hands them out: row group in the high 32 bits, row in the low 32).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowSelection {
    by_group: BTreeMap<usize, Vec<Range<usize>>>,
}

impl RowSelection {
    /// The selection of `row_refs` (any order, duplicates allowed).
    pub fn from_row_refs(row_refs: &[u64]) -> Self {
        let mut rows: Vec<(usize, usize)> = row_refs
            .iter()
            .map(|row_ref| ((row_ref >> 32) as usize, (*row_ref & 0xffff_ffff) as usize))
            .collect();
        rows.sort_unstable();
        rows.dedup();
        let mut by_group: BTreeMap<usize, Vec<Range<usize>>> = BTreeMap::new();
        for (group, row) in rows {
            let ranges = by_group.entry(group).or_default();
            match ranges.last_mut() {
                Some(last) if last.end == row => last.end = row + 1,
                _ => ranges.push(row..row + 1),
            }
        }
        RowSelection { by_group }
    }

    /// Whether no row is selected.
    pub fn is_empty(&self) -> bool {
        self.by_group.is_empty()
    }

    fn rows_of(&self, row_group: usize) -> Option<&Vec<Range<usize>>> {
        self.by_group.get(&row_group)
    }
}

/// What one scan collects.
enum Collect {
    Names(TagNames),
    Values(Arc<ValueTarget>, TagValues),
}

impl Collect {
    fn is_done(&self) -> bool {
        match self {
            Collect::Names(names) => names.is_done(),
            Collect::Values(_, values) => values.is_done(),
        }
    }

    /// The logical leaf paths to read (`attrs.key`; `attrs` = every leaf under it).
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        let mut add = |path: &str| paths.push(path.to_owned());
        match self {
            Collect::Names(names) => {
                if names.wants(DataScope::Span) {
                    add("attrs.key");
                    for column in dedicated_of(DedicatedScope::Span) {
                        add(column.column);
                    }
                }
                if names.wants(DataScope::Event) {
                    add("events.attrs.key");
                }
                if names.wants(DataScope::Link) {
                    add("links.attrs.key");
                }
                if names.wants(DataScope::Resource) {
                    add(schema::RESOURCE_REF);
                }
                if names.wants(DataScope::Instrumentation) {
                    add(schema::SCOPE_REF);
                }
            }
            Collect::Values(target, _) => {
                if let Some(key) = &target.span {
                    add(schema::ATTRS);
                    if let Some(column) = span_dedicated(key) {
                        add(column.column);
                    }
                }
                if target.resource.is_some() {
                    add(schema::RESOURCE_REF);
                }
                if target.event.is_some() {
                    add("events.attrs");
                }
                if target.link.is_some() {
                    add("links.attrs");
                }
                if target.instrumentation.is_some() {
                    add(schema::SCOPE_REF);
                }
                match target.intrinsic {
                    Some(IntrinsicValues::SpanName) => add(schema::NAME),
                    Some(IntrinsicValues::StatusMessage) => add(schema::STATUS_MESSAGE),
                    Some(IntrinsicValues::RootName) => add(schema::ROOT_SPAN_NAME),
                    Some(IntrinsicValues::RootService) => add(schema::ROOT_SERVICE_NAME),
                    Some(IntrinsicValues::EventName) => add("events.name"),
                    Some(
                        IntrinsicValues::InstrumentationName
                        | IntrinsicValues::InstrumentationVersion,
                    ) => add(schema::SCOPE_REF),
                    None => {}
                }
            }
        }
        paths
    }
}

/// The leaf indexes whose logical path (list wrappers left out) is one of `paths` or under one.
fn leaves_for(footer: &Footer, paths: &[String]) -> Vec<usize> {
    let schema = footer.metadata.file_metadata().schema_descr();
    (0..schema.num_columns())
        .filter(|leaf| {
            let column = schema.column(*leaf);
            let logical: Vec<&str> = column
                .path()
                .parts()
                .iter()
                .map(String::as_str)
                .filter(|part| !matches!(*part, "list" | "item" | "element"))
                .collect();
            let logical = logical.join(".");
            paths.iter().any(|path| {
                logical == *path
                    || (logical.starts_with(path.as_str())
                        && logical.as_bytes().get(path.len()) == Some(&b'.'))
            })
        })
        .collect()
}

/// Attribute names by scope over `row_groups` of the block (only the `selection`'s rows when
/// given), added to `names`.
pub async fn block_tag_names(
    reader: &BlockReader,
    row_groups: Range<usize>,
    selection: Option<&RowSelection>,
    names: TagNames,
) -> Result<TagNames> {
    match scan(reader, row_groups, selection, Collect::Names(names)).await? {
        Collect::Names(names) => Ok(names),
        Collect::Values(..) => unreachable_collect(reader),
    }
}

/// Typed values of `target` over `row_groups` of the block (only the `selection`'s rows when
/// given), added to `values`.
pub async fn block_tag_values(
    reader: &BlockReader,
    row_groups: Range<usize>,
    selection: Option<&RowSelection>,
    target: &ValueTarget,
    values: TagValues,
) -> Result<TagValues> {
    if target.is_empty() {
        return Ok(values);
    }
    let collect = Collect::Values(Arc::new(target.clone()), values);
    match scan(reader, row_groups, selection, collect).await? {
        Collect::Values(_, values) => Ok(values),
        Collect::Names(_) => unreachable_collect(reader),
    }
}

fn unreachable_collect<T>(reader: &BlockReader) -> Result<T> {
    Err(crate::error::Error::BlockTask {
        message: format!(
            "tag scan of {} returned the wrong collector",
            reader.data_path()
        ),
    })
}

async fn scan(
    reader: &BlockReader,
    row_groups: Range<usize>,
    selection: Option<&RowSelection>,
    mut collect: Collect,
) -> Result<Collect> {
    let total = reader.meta().row_groups.len();
    let row_groups = row_groups.start.min(total)..row_groups.end.min(total);
    if row_groups.is_empty() || selection.is_some_and(RowSelection::is_empty) {
        return Ok(collect);
    }
    let footer = reader.footer().await?;
    let leaves = leaves_for(&footer, &collect.paths());
    if leaves.is_empty() {
        return Ok(collect);
    }
    for row_group in row_groups {
        if collect.is_done() {
            break;
        }
        let rows = match selection {
            None => None,
            Some(selection) => match selection.rows_of(row_group) {
                Some(rows) => Some(rows.clone()),
                None => continue,
            },
        };
        let read = LeafRead {
            row_group,
            leaves: leaves.clone(),
            rows,
        };
        let file = reader.fetch(&footer, &read).await?;
        let arrow_meta = footer.arrow.clone();
        let tables = footer.tables.clone();
        let path = reader.data_path().clone();
        collect = reader
            .pool()
            .run(reader.data_path().as_ref(), move || {
                let Some(batch) =
                    decode(file, &arrow_meta, &read).map_err(|error| read_error(&path, error))?
                else {
                    return Ok(collect);
                };
                walk(&mut collect, &batch, &tables).map_err(|error| corrupt(&path, error))?;
                Ok(collect)
            })
            .await?;
    }
    Ok(collect)
}

fn walk(collect: &mut Collect, batch: &RecordBatch, tables: &RefTables) -> Result<(), RowsError> {
    match collect {
        Collect::Names(names) => walk::names(names, batch, tables),
        Collect::Values(target, values) => walk::values(target, values, batch, tables),
    }
}
