//! The column pass of a merge: one planned output row group built and encoded one top-level
//! column at a time. Every input's rows of the row group are fetched group of columns by group
//! (`fetch_groups`: consecutive columns holding about an eighth of the bytes each, so a
//! fetch is a few ranged reads per input and holds a small part of the row group; the next
//! group is fetched while this one is encoded); then, column by column, they are decoded in
//! batches, picked in output order (`interleave`), fixed by the plan and encoded, chunk of
//! whole traces by chunk, and the column's writers closed. Only one column's decoders,
//! dictionaries and compressors are alive at once, never those of every column of every input
//! (ADR 019).

use std::collections::VecDeque;
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use arrow::array::{Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use object_store::path::Path;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::schema::types::SchemaDescriptor;
use tokio::sync::{mpsc, oneshot};

use crate::block::corrupt;
use crate::block::v1::{FetchedRows, RowSliceBatches};
use crate::error::{Error, Result};

use super::plan::RowGroupPlan;
use super::remap::RefRemap;

/// A fetch of the pages of every column of rows of one row group of one input, for the async
/// side.
pub(super) struct FetchRequest {
    pub(super) input: usize,
    pub(super) row_group: usize,
    pub(super) leaves: Vec<usize>,
    pub(super) rows: Range<usize>,
    pub(super) reply: oneshot::Sender<Result<FetchedRows>>,
}

/// What the column pass knows of one input.
pub(super) struct InputLayout {
    pub(super) path: Path,
    /// The input row where each row group starts, then the input's row count.
    pub(super) row_group_starts: Vec<u64>,
}

/// Leaf columns (Parquet schema order) of each top-level column of a file's schema.
pub(super) fn field_leaves(schema: &SchemaDescriptor) -> Vec<Vec<usize>> {
    let mut leaves: Vec<Vec<usize>> = Vec::new();
    for leaf in 0..schema.num_columns() {
        let root = schema.get_column_root_idx(leaf);
        if leaves.len() <= root {
            leaves.resize(root + 1, Vec::new());
        }
        leaves[root].push(leaf);
    }
    leaves
}

/// Consecutive top-level columns fetched together: each group holds about `1 / groups` of the
/// stored bytes (`field_bytes`, per top-level column) but at least `min_bytes` (small merges
/// fetch everything at once), a column holding more is a group alone.
pub(super) fn fetch_groups(field_bytes: &[u64], groups: u64, min_bytes: u64) -> Vec<Range<usize>> {
    let total: u64 = field_bytes.iter().sum();
    let limit = (total / groups.max(1)).max(min_bytes).max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (field, size) in field_bytes.iter().enumerate() {
        if field > start && bytes + size > limit {
            ranges.push(start..field);
            start = field;
            bytes = 0;
        }
        bytes += size;
    }
    if start < field_bytes.len() {
        ranges.push(start..field_bytes.len());
    }
    ranges
}

/// Everything the column pass needs besides the plan.
pub(super) struct ColumnPass<'a> {
    pub(super) schema: SchemaRef,
    pub(super) leaves: &'a [Vec<usize>],
    /// Top-level columns fetched together (`fetch_groups`), covering every column in order.
    pub(super) groups: &'a [Range<usize>],
    pub(super) inputs: &'a [InputLayout],
    pub(super) remap: &'a RefRemap,
    pub(super) factory: &'a ArrowRowGroupWriterFactory,
    pub(super) fetches: &'a mpsc::Sender<FetchRequest>,
    pub(super) chunk_rows: usize,
    pub(super) batch_rows: usize,
    pub(super) output_path: &'a Path,
}

impl ColumnPass<'_> {
    /// Builds and encodes row group `index` of the output as `plan` says, handing each leaf
    /// column's chunk to `out` as soon as it is closed (Parquet schema order).
    pub(super) fn write(
        &self,
        plan: &RowGroupPlan,
        index: usize,
        out: &mut dyn FnMut(ArrowColumnChunk) -> Result<()>,
    ) -> Result<()> {
        let mut bounds: Vec<Option<(u64, u64)>> = vec![None; self.inputs.len()];
        for &(input, row) in &plan.rows {
            let bound = bounds
                .get_mut(input)
                .ok_or_else(|| self.task_error(format!("planned input {input} does not exist")))?;
            *bound = Some(match *bound {
                None => (row, row),
                Some((low, high)) => (low.min(row), high.max(row)),
            });
        }
        let chunks = plan.chunks(self.chunk_rows);
        let mut writers = self
            .factory
            .create_column_writers(index)
            .map_err(|source| self.write_error(source))?
            .into_iter();
        let mut closed = 0;
        let fields = self.schema.fields();
        let mut next = match self.groups.first() {
            Some(group) => Some(self.request(&bounds, group.clone())?),
            None => None,
        };
        for (group_index, group) in self.groups.iter().enumerate() {
            let fetched = self.receive(next.take().unwrap_or_default())?;
            if let Some(following) = self.groups.get(group_index + 1) {
                next = Some(self.request(&bounds, following.clone())?);
            }
            for field_index in group.clone() {
                let field = fields.get(field_index).ok_or_else(|| {
                    self.task_error(format!("column {field_index} is not in the schema"))
                })?;
                closed += self.write_column(
                    plan,
                    &chunks,
                    self.cursors(&fetched, &bounds, field_index),
                    field,
                    field_index,
                    &mut writers,
                    out,
                )?;
            }
        }
        if writers.next().is_some() || closed != self.leaves.iter().map(Vec::len).sum::<usize>() {
            return Err(self.task_error("columns left unwritten".to_owned()));
        }
        Ok(())
    }

    /// Builds and encodes one top-level column of the row group; returns how many leaf
    /// chunks it handed to `out`.
    #[allow(clippy::too_many_arguments)]
    fn write_column(
        &self,
        plan: &RowGroupPlan,
        chunks: &[Range<usize>],
        mut cursors: Vec<ColumnCursor<'_>>,
        field: &arrow::datatypes::FieldRef,
        field_index: usize,
        writers: &mut impl Iterator<Item = ArrowColumnWriter>,
        out: &mut dyn FnMut(ArrowColumnChunk) -> Result<()>,
    ) -> Result<usize> {
        {
            let leaf_count = self.leaves[field_index].len();
            let mut field_writers: Vec<_> = writers.by_ref().take(leaf_count).collect();
            if field_writers.len() != leaf_count {
                return Err(self.task_error("fewer column writers than leaf columns".to_owned()));
            }
            for chunk in chunks {
                let mut needed: Vec<Option<u64>> = vec![None; cursors.len()];
                for &(input, row) in &plan.rows[chunk.clone()] {
                    needed[input] = Some(needed[input].map_or(row, |high: u64| high.max(row)));
                }
                for (cursor, needed) in cursors.iter_mut().zip(&needed) {
                    if let Some(row) = needed {
                        cursor.decode_through(*row)?;
                    }
                }
                let array = pick(&cursors, &plan.rows[chunk.clone()])
                    .map_err(|error| self.task_error(format!("pick {}: {error}", field.name())))?;
                let array = plan
                    .fix_column(field.name(), array, chunk.clone(), self.remap)
                    .map_err(|error| self.task_error(error.to_string()))?;
                let leaves = compute_leaves(field, &array).map_err(|e| self.write_error(e))?;
                if leaves.len() != leaf_count {
                    return Err(self.task_error(format!(
                        "column {} has {} leaves, the inputs {leaf_count}",
                        field.name(),
                        leaves.len()
                    )));
                }
                for (writer, leaf) in field_writers.iter_mut().zip(&leaves) {
                    writer
                        .write(leaf)
                        .map_err(|source| self.write_error(source))?;
                }
                for (cursor, needed) in cursors.iter_mut().zip(&needed) {
                    if let Some(row) = needed {
                        cursor.release_through(*row);
                    }
                }
            }
            for writer in field_writers {
                out(writer.close().map_err(|source| self.write_error(source))?)?;
            }
            Ok(leaf_count)
        }
    }

    /// Asks for the pages of top-level columns `group` of every input's rows `bounds`
    /// (inclusive); per input in row order, with the number of rows of each fetch.
    fn request(&self, bounds: &[Option<(u64, u64)>], group: Range<usize>) -> Result<Requested> {
        let leaves: Vec<usize> = self.leaves[group].iter().flatten().copied().collect();
        let mut receivers = Vec::with_capacity(self.inputs.len());
        for (input, (layout, bound)) in self.inputs.iter().zip(bounds).enumerate() {
            let mut parts = Vec::new();
            if let Some((low, high)) = *bound {
                for (row_group, pair) in layout.row_group_starts.windows(2).enumerate() {
                    let (start, end) = (pair[0], pair[1]);
                    let (first, last) = (low.max(start), (high + 1).min(end));
                    if first >= last {
                        continue;
                    }
                    let (reply, receiver) = oneshot::channel();
                    let rows = (first - start) as usize..(last - start) as usize;
                    self.fetches
                        .blocking_send(FetchRequest {
                            input,
                            row_group,
                            leaves: leaves.clone(),
                            rows,
                            reply,
                        })
                        .map_err(|_| self.task_error("the merge's fetcher stopped".to_owned()))?;
                    parts.push((receiver, last - first));
                }
                let planned: u64 = parts.iter().map(|(_, rows)| rows).sum();
                if planned != high + 1 - low {
                    return Err(corrupt(
                        &layout.path,
                        format!("rows {low}..={high} are not all in its row groups"),
                    ));
                }
            }
            receivers.push(parts);
        }
        Ok(receivers)
    }

    /// Waits for what [`ColumnPass::request`] asked for.
    fn receive(&self, receivers: Requested) -> Result<Vec<Vec<(FetchedRows, u64)>>> {
        let mut fetched = Vec::with_capacity(receivers.len());
        for (parts, layout) in receivers.into_iter().zip(self.inputs) {
            let mut input = Vec::with_capacity(parts.len());
            for (receiver, rows) in parts {
                let pages = receiver.blocking_recv().map_err(|_| Error::BlockTask {
                    message: format!("the reader of {} stopped", layout.path),
                })??;
                input.push((pages, rows));
            }
            fetched.push(input);
        }
        Ok(fetched)
    }

    /// Per input, a cursor over the fetched rows of top-level column `field`.
    fn cursors<'f>(
        &self,
        fetched: &'f [Vec<(FetchedRows, u64)>],
        bounds: &[Option<(u64, u64)>],
        field: usize,
    ) -> Vec<ColumnCursor<'f>> {
        fetched
            .iter()
            .zip(self.inputs)
            .zip(bounds)
            .map(|((parts, layout), bound)| ColumnCursor {
                path: layout.path.clone(),
                parts: parts.iter().map(|(pages, _)| pages).collect(),
                leaves: self.leaves[field].clone(),
                batch_rows: self.batch_rows,
                current: None,
                buffered: VecDeque::new(),
                decoded_end: bound.map_or(0, |(low, _)| low),
            })
            .collect()
    }

    fn task_error(&self, message: String) -> Error {
        Error::BlockTask {
            message: format!("merge into {}: {message}", self.output_path),
        }
    }

    fn write_error(&self, source: parquet::errors::ParquetError) -> Error {
        Error::BlockWrite {
            object: self.output_path.to_string(),
            source,
        }
    }
}

/// Per input, the fetches asked for in row order, with their row counts.
type Requested = Vec<Vec<(oneshot::Receiver<Result<FetchedRows>>, u64)>>;

/// The rows `rows` (input, input row) picked from the cursors' decoded batches.
fn pick(cursors: &[ColumnCursor<'_>], rows: &[(usize, u64)]) -> arrow::error::Result<ArrayRef> {
    let mut sources: Vec<&dyn Array> = Vec::new();
    let mut first_source = Vec::with_capacity(cursors.len());
    for cursor in cursors {
        first_source.push(sources.len());
        sources.extend(cursor.buffered.iter().map(|(_, array)| array.as_ref()));
    }
    let indices = rows
        .iter()
        .map(|&(input, row)| {
            let (batch, offset) = cursors[input].locate(row).ok_or_else(|| {
                arrow::error::ArrowError::ComputeError(format!(
                    "row {row} of input {input} is not decoded"
                ))
            })?;
            Ok((first_source[input] + batch, offset))
        })
        .collect::<arrow::error::Result<Vec<_>>>()?;
    interleave(&sources, &indices)
}

/// One input's rows of one column for the row group being written, decoded in order.
struct ColumnCursor<'f> {
    path: Path,
    /// Fetched rows still to decode, in row order.
    parts: VecDeque<&'f FetchedRows>,
    /// The column's leaves.
    leaves: Vec<usize>,
    batch_rows: usize,
    current: Option<RowSliceBatches>,
    /// Decoded batches still needed, with the input row of their first row.
    buffered: VecDeque<(u64, ArrayRef)>,
    /// The input row after the last decoded one.
    decoded_end: u64,
}

impl ColumnCursor<'_> {
    /// Decodes batches until input row `row` is decoded.
    fn decode_through(&mut self, row: u64) -> Result<()> {
        while self.decoded_end <= row {
            if let Some(slice) = self.current.as_mut() {
                // A decoder must never take the process down on bad data.
                let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| slice.next()))
                    .map_err(|_| corrupt(&self.path, "decoder panicked"))?;
                match decoded {
                    Some(Ok(batch)) => {
                        if batch.num_columns() != 1 {
                            return Err(corrupt(&self.path, "columns differ from the vc1 schema"));
                        }
                        let rows = batch.num_rows() as u64;
                        if rows > 0 {
                            self.buffered
                                .push_back((self.decoded_end, batch.column(0).clone()));
                            self.decoded_end += rows;
                        }
                    }
                    Some(Err(error)) => return Err(error),
                    None => self.current = None,
                }
                continue;
            }
            let Some(pages) = self.parts.pop_front() else {
                return Err(corrupt(
                    &self.path,
                    format!("row {row} is missing: the column holds fewer rows"),
                ));
            };
            self.current = Some(pages.columns(self.leaves.clone(), self.batch_rows)?);
        }
        Ok(())
    }

    /// Drops the decoded batches that hold only rows up to `row`: they are not needed again.
    fn release_through(&mut self, row: u64) {
        while let Some((start, array)) = self.buffered.front() {
            if start + array.len() as u64 > row + 1 {
                break;
            }
            self.buffered.pop_front();
        }
    }

    /// The decoded batch holding input row `row` and the row's offset in it.
    fn locate(&self, row: u64) -> Option<(usize, usize)> {
        let index = self
            .buffered
            .partition_point(|(start, array)| start + array.len() as u64 <= row);
        let (start, array) = self.buffered.get(index)?;
        (row >= *start && row < start + array.len() as u64).then(|| (index, (row - start) as usize))
    }
}
