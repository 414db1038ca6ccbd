//! The structure of the traces of one row group, from its structure columns: where each trace
//! starts (the row whose `nested_set_left` is 1: the writer numbers every trace from 1), the
//! nested-set numbers as the contract defines them (`parent` = the parent's `left`; 0, 0, 0 for
//! spans not connected to a root of the portion), child counts, roots and orphans.
//!
//! The writer makes a span whose parent is missing a root of its own and keeps its
//! `parent_span_id`; `parent_span_id` is stored only then. So a row with a non-null
//! `parent_span_id` is an orphan, a row with `parent_index = -1` and no `parent_span_id` a real
//! root, and a span is connected when its chain of parents ends at a real root.
//!
//! In a row group without orphans (`parent_span_id` all null, which its statistics tell) every
//! trace has a real root (its first row: the writer numbers from a root), so a search that
//! needs neither nested sets nor parents nor child counts reads only `nested_set_left`, for
//! the trace boundaries ([`Structure::bounds_only`]).

use std::ops::Range;

use arrow::array::{Array, BinaryArray, Int32Array, RecordBatch};

use crate::block::v1::schema;

/// The structure of every trace of one row group.
#[derive(Debug, Clone)]
pub(crate) struct Structure {
    /// First row of each trace, then the row count.
    bounds: Vec<u32>,
    /// `None` for [`Structure::bounds_only`].
    detail: Option<Detail>,
}

/// Nested sets, parents and child counts of every row.
#[derive(Debug, Clone)]
struct Detail {
    left: Vec<i32>,
    right: Vec<i32>,
    parent_index: Vec<i32>,
    /// `parent_span_id` (non-null only for orphans).
    orphan_parent: BinaryArray,
    connected: Vec<bool>,
    child_count: Vec<u32>,
}

fn int_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int32Array, String> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<Int32Array>())
        .ok_or_else(|| format!("structure column {name} missing or mistyped"))
}

/// First row of each trace (`nested_set_left` = 1), then the row count.
fn bounds_of(left: &[i32]) -> Result<Vec<u32>, String> {
    let rows = left.len();
    let mut bounds: Vec<u32> = left
        .iter()
        .enumerate()
        .filter(|(_, left)| **left == 1)
        .map(|(row, _)| row as u32)
        .collect();
    if bounds.first() != Some(&0) && rows > 0 {
        return Err("row group does not start with a trace's first span".to_owned());
    }
    bounds.push(rows as u32);
    Ok(bounds)
}

impl Structure {
    /// Builds the structure from a batch holding every row of the row group with
    /// `nested_set_left`, `nested_set_right`, `parent_index` and `parent_span_id`.
    pub(crate) fn new(batch: &RecordBatch) -> Result<Structure, String> {
        let left = int_column(batch, schema::NESTED_SET_LEFT)?
            .values()
            .to_vec();
        let right = int_column(batch, schema::NESTED_SET_RIGHT)?
            .values()
            .to_vec();
        let parent_index = int_column(batch, schema::PARENT_INDEX)?.values().to_vec();
        let orphan_parent = batch
            .column_by_name(schema::PARENT_SPAN_ID)
            .and_then(|column| column.as_any().downcast_ref::<BinaryArray>())
            .ok_or_else(|| "structure column parent_span_id missing or mistyped".to_owned())?
            .clone();
        let rows = left.len();
        let bounds = bounds_of(&left)?;
        let mut connected = vec![false; rows];
        let mut child_count = vec![0u32; rows];
        for trace in bounds.windows(2) {
            let (start, end) = (trace[0] as usize, trace[1] as usize);
            for row in start..end {
                let parent = parent_index[row];
                if parent < 0 {
                    connected[row] = orphan_parent.is_null(row);
                    continue;
                }
                let parent_row = start + parent as usize;
                if parent_row < row {
                    connected[row] = connected[parent_row];
                    child_count[parent_row] += 1;
                } else if parent_row < end {
                    // A cycle the writer broke: the parent comes later; no structure.
                    child_count[parent_row] += 1;
                }
            }
        }
        Ok(Structure {
            bounds,
            detail: Some(Detail {
                left,
                right,
                parent_index,
                orphan_parent,
                connected,
                child_count,
            }),
        })
    }

    /// The trace boundaries alone, from a batch holding `nested_set_left` for every row of a
    /// row group **without orphans**: every trace then has a root and no orphan; nested sets,
    /// parents and child counts are not known (the scan builds this only when the request
    /// needs none of them).
    pub(crate) fn bounds_only(batch: &RecordBatch) -> Result<Structure, String> {
        let left = int_column(batch, schema::NESTED_SET_LEFT)?;
        Ok(Structure {
            bounds: bounds_of(left.values())?,
            detail: None,
        })
    }

    /// Number of traces.
    pub(crate) fn trace_count(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Rows of the row group.
    pub(crate) fn row_count(&self) -> u32 {
        self.bounds.last().copied().unwrap_or(0)
    }

    /// The trace holding `row`, when it is at or after trace `from` (ascending walks: the
    /// next trace is checked before a search).
    pub(crate) fn trace_of_from(&self, row: u32, from: usize) -> usize {
        match (self.bounds.get(from + 1), self.bounds.get(from + 2)) {
            (Some(end), _) if row < *end && self.bounds[from] <= row => from,
            (Some(start), Some(end)) if *start <= row && row < *end => from + 1,
            _ => self.trace_of(row),
        }
    }

    /// The trace holding `row`.
    pub(crate) fn trace_of(&self, row: u32) -> usize {
        self.bounds.partition_point(|start| *start <= row) - 1
    }

    /// The rows of trace `trace`.
    pub(crate) fn rows_of(&self, trace: usize) -> Range<u32> {
        self.bounds[trace]..self.bounds[trace + 1]
    }

    /// Whether the trace has a span whose parent is not in it.
    pub(crate) fn has_orphans(&self, trace: usize) -> bool {
        let Some(detail) = &self.detail else {
            return false;
        };
        let range = self.rows_of(trace);
        (range.start..range.end).any(|row| !detail.orphan_parent.is_null(row as usize))
    }

    /// Whether the trace has a real root (a span without a parent ID).
    pub(crate) fn has_root(&self, trace: usize) -> bool {
        let Some(detail) = &self.detail else {
            return true;
        };
        let range = self.rows_of(trace);
        (range.start..range.end).any(|row| {
            detail.parent_index[row as usize] < 0 && detail.orphan_parent.is_null(row as usize)
        })
    }

    /// `(left, right, parent)` of `row` as the contract defines them (0, 0, 0 when only the
    /// bounds are known).
    pub(crate) fn nested_set(&self, row: u32) -> (i32, i32, i32) {
        let row = row as usize;
        let Some(detail) = self.detail.as_ref().filter(|detail| detail.connected[row]) else {
            return (0, 0, 0);
        };
        let parent = detail.parent_index[row];
        let parent_left = if parent < 0 {
            -1
        } else {
            let start = self.bounds[self.trace_of(row as u32)] as usize;
            detail.left[start + parent as usize]
        };
        (detail.left[row], detail.right[row], parent_left)
    }

    /// Number of direct children of `row` (0 when only the bounds are known).
    pub(crate) fn child_count(&self, row: u32) -> u32 {
        self.detail
            .as_ref()
            .map_or(0, |detail| detail.child_count[row as usize])
    }

    /// The parent of `row`: a row of the same trace, or the stored parent ID of an orphan
    /// (`Parent::None` when only the bounds are known).
    pub(crate) fn parent(&self, row: u32) -> Parent<'_> {
        let Some(detail) = &self.detail else {
            return Parent::None;
        };
        let index = row as usize;
        if !detail.orphan_parent.is_null(index) {
            return Parent::Missing(detail.orphan_parent.value(index));
        }
        let parent = detail.parent_index[index];
        if parent < 0 {
            return Parent::None;
        }
        let start = self.bounds[self.trace_of(row)];
        Parent::Row(start + parent as u32)
    }
}

/// Where a span's parent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent<'a> {
    /// A root.
    None,
    /// Another row of the trace.
    Row(u32),
    /// Not in the block: its ID.
    Missing(&'a [u8]),
}
