//! `keep_most_recent` on one row group: of the selected traces without orphans, only those
//! that can rank among the engine's `n` most recent of the batch keep their rows, so the
//! result columns are decoded for them alone. Traces tied with the `n`-th start stay (the
//! engine breaks ties by trace ID); traces with orphans always stay (the engine defers them).

use super::structure::Structure;

/// The selected rows to return, and how many traces were left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Kept {
    /// Rows (ascending) of the traces that stay.
    pub(crate) rows: Vec<u32>,
    pub(crate) omitted_traces: usize,
}

/// Keeps the rows of the `keep` most recent traces among `rows` (selected rows, ascending;
/// `starts[i]` is the trace start of `rows[i]`).
pub(crate) fn most_recent(
    structure: &Structure,
    rows: &[u32],
    starts: &[u64],
    keep: usize,
) -> Kept {
    // (start, first index in rows, end index in rows, has orphans) per selected trace
    let mut traces: Vec<(u64, usize, usize, bool)> = Vec::new();
    let mut last_trace = usize::MAX;
    for (index, row) in rows.iter().enumerate() {
        let trace = structure.trace_of(*row);
        if trace == last_trace {
            if let Some(last) = traces.last_mut() {
                last.2 = index + 1;
            }
            continue;
        }
        last_trace = trace;
        let start = starts.get(index).copied().unwrap_or(u64::MAX);
        traces.push((start, index, index + 1, structure.has_orphans(trace)));
    }
    let mut ranked: Vec<u64> = traces
        .iter()
        .filter(|(_, _, _, orphans)| !orphans)
        .map(|(start, ..)| *start)
        .collect();
    let keep = keep.max(1);
    if ranked.len() <= keep {
        return Kept {
            rows: rows.to_vec(),
            omitted_traces: 0,
        };
    }
    // the keep-th greatest start
    let (_, threshold, _) = ranked.select_nth_unstable_by(keep - 1, |a, b| b.cmp(a));
    let threshold = *threshold;
    let mut kept = Kept::default();
    for (start, first, end, orphans) in traces {
        if orphans || start >= threshold {
            kept.rows.extend_from_slice(&rows[first..end]);
        } else {
            kept.omitted_traces += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BinaryArray, Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::block::v1::schema;

    /// Traces of `sizes` rows each, every span a child of the trace's first; `orphan_traces`
    /// get an orphan in their last row.
    fn structure(sizes: &[usize], orphan_traces: &[usize]) -> Structure {
        let (mut left, mut right, mut parent, mut orphan) = (vec![], vec![], vec![], vec![]);
        for (trace, size) in sizes.iter().enumerate() {
            for position in 0..*size {
                let is_orphan =
                    orphan_traces.contains(&trace) && position + 1 == *size && position > 0;
                left.push(if position == 0 {
                    1
                } else {
                    2 * position as i32
                });
                right.push(if position == 0 {
                    2 * *size as i32
                } else {
                    2 * position as i32 + 1
                });
                parent.push(if position == 0 || is_orphan { -1 } else { 0 });
                orphan.push(is_orphan.then_some(&b"\x01\x02\x03\x04\x05\x06\x07\x08"[..]));
            }
        }
        let schema = Schema::new(vec![
            Field::new(schema::NESTED_SET_LEFT, DataType::Int32, false),
            Field::new(schema::NESTED_SET_RIGHT, DataType::Int32, false),
            Field::new(schema::PARENT_INDEX, DataType::Int32, false),
            Field::new(schema::PARENT_SPAN_ID, DataType::Binary, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(left)),
                Arc::new(Int32Array::from(right)),
                Arc::new(Int32Array::from(parent)),
                Arc::new(BinaryArray::from(orphan)),
            ],
        )
        .unwrap();
        Structure::new(&batch).unwrap()
    }

    #[test]
    fn keeps_the_most_recent_traces_with_ties_and_orphans() {
        // traces 0..5 of 2 rows: rows 0-1, 2-3, 4-5, 6-7, 8-9
        let structure = structure(&[2, 2, 2, 2, 2], &[1]);
        let rows = vec![0, 1, 3, 4, 7, 8, 9];
        // trace starts: 0 → 10, 1 (orphans) → 5, 2 → 30, 3 → 30, 4 → 20
        let starts = vec![10, 10, 5, 30, 30, 20, 20];
        let kept = most_recent(&structure, &rows, &starts, 1);
        // traces 2 and 3 tie at the greatest start; trace 1 has orphans
        assert_eq!(kept.rows, vec![3, 4, 7]);
        assert_eq!(kept.omitted_traces, 2);
        let kept = most_recent(&structure, &rows, &starts, 3);
        assert_eq!(kept.rows, vec![3, 4, 7, 8, 9]);
        assert_eq!(kept.omitted_traces, 1);
        let kept = most_recent(&structure, &rows, &starts, 4);
        assert_eq!(kept.rows, rows);
        assert_eq!(kept.omitted_traces, 0);
    }
}
