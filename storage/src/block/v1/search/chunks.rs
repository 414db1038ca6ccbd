//! The returned rows of a row group cut into chunks of whole traces, so that the result
//! columns are decoded a bounded number of rows at a time: each chunk's decoded columns are
//! freed before the next is decoded, and the allocator hands the same memory out again
//! instead of faulting in fresh pages for a whole row group at once.

use super::structure::{Parent, Structure};

/// The rows one chunk returns and decodes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Chunk {
    /// Returned rows (ascending).
    pub(crate) rows: Vec<u32>,
    /// First rows of portions with orphans that have no returned row (ascending).
    pub(crate) orphaned: Vec<u32>,
    /// The rows to decode: `rows`, `orphaned` and, with `parents`, the parent rows of `rows`
    /// (ascending, distinct).
    pub(crate) read_rows: Vec<u32>,
}

/// Cuts `rows` and `orphaned` (ascending) at trace starts into chunks of about `chunk_rows`
/// returned rows. A trace is never split (parents are in their child's trace, so in its
/// chunk); chunks are in row order.
pub(crate) fn chunks(
    structure: &Structure,
    rows: Vec<u32>,
    orphaned: Vec<u32>,
    parents: bool,
    chunk_rows: usize,
) -> Vec<Chunk> {
    let mut cuts: Vec<u32> = Vec::new();
    let mut since_cut = 0usize;
    let mut trace = 0usize;
    let mut current = 0u32..0u32;
    for row in &rows {
        if !current.contains(row) {
            trace = structure.trace_of_from(*row, trace);
            current = structure.rows_of(trace);
            if since_cut >= chunk_rows.max(1) {
                cuts.push(current.start);
                since_cut = 0;
            }
        }
        since_cut += 1;
    }
    if cuts.is_empty() {
        return vec![chunk(structure, rows, orphaned, parents)];
    }
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let (mut rows, mut orphaned) = (rows.as_slice(), orphaned.as_slice());
    for cut in cuts.iter().copied().chain(std::iter::once(u32::MAX)) {
        let (rows_before, rows_after) = rows.split_at(rows.partition_point(|row| *row < cut));
        let (orphaned_before, orphaned_after) =
            orphaned.split_at(orphaned.partition_point(|row| *row < cut));
        out.push(chunk(
            structure,
            rows_before.to_vec(),
            orphaned_before.to_vec(),
            parents,
        ));
        (rows, orphaned) = (rows_after, orphaned_after);
    }
    out
}

fn chunk(structure: &Structure, rows: Vec<u32>, orphaned: Vec<u32>, parents: bool) -> Chunk {
    let mut read_rows = rows.clone();
    if !orphaned.is_empty() {
        read_rows.extend_from_slice(&orphaned);
        read_rows.sort_unstable();
    }
    if parents {
        read_rows.extend(rows.iter().filter_map(|row| match structure.parent(*row) {
            Parent::Row(parent) => Some(parent),
            _ => None,
        }));
        read_rows.sort_unstable();
        read_rows.dedup();
    }
    Chunk {
        rows,
        orphaned,
        read_rows,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::block::v1::schema;

    /// Traces of `sizes` spans, in row order.
    fn structure(sizes: &[i32]) -> Structure {
        let left: Vec<i32> = sizes.iter().flat_map(|size| 1..=*size).collect();
        let schema = Schema::new(vec![Field::new(
            schema::NESTED_SET_LEFT,
            DataType::Int32,
            false,
        )]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int32Array::from(left))]).unwrap();
        Structure::bounds_only(&batch).unwrap()
    }

    #[test]
    fn chunks_hold_whole_traces_in_row_order() {
        // traces at rows 0-2, 3-4, 5-8, 9, 10-14
        let structure = structure(&[3, 2, 4, 1, 5]);
        let rows: Vec<u32> = (0..15).collect();
        let cut = chunks(&structure, rows.clone(), vec![], false, 3);
        let got: Vec<Vec<u32>> = cut.iter().map(|chunk| chunk.rows.clone()).collect();
        assert_eq!(
            got,
            vec![
                vec![0, 1, 2],
                vec![3, 4, 5, 6, 7, 8],
                vec![9, 10, 11, 12, 13, 14]
            ]
        );
        assert!(cut.iter().all(|chunk| chunk.read_rows == chunk.rows));
        // one chunk when the limit is not reached
        let whole = chunks(&structure, rows.clone(), vec![], false, 100);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].rows, rows);
    }

    #[test]
    fn sparse_rows_and_orphaned_portions_go_to_the_chunk_of_their_trace() {
        let structure = structure(&[3, 2, 4, 1, 5]);
        // rows of traces 0, 2 and 4; portions reported without rows start traces 1 and 3
        let cut = chunks(&structure, vec![1, 2, 6, 12, 13], vec![3, 9], false, 2);
        let got: Vec<(Vec<u32>, Vec<u32>, Vec<u32>)> = cut
            .into_iter()
            .map(|chunk| (chunk.rows, chunk.orphaned, chunk.read_rows))
            .collect();
        assert_eq!(
            got,
            // the first chunk is full at the start of trace 2 (row 5): the portion of trace 1
            // stays with it; trace 4 joins the second chunk, not full yet
            vec![
                (vec![1, 2], vec![3], vec![1, 2, 3]),
                (vec![6, 12, 13], vec![9], vec![6, 9, 12, 13]),
            ]
        );
    }
}
