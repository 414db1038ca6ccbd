//! The first pass over one row group, in stages that each fetch first (asynchronously) and
//! then decode on the pool:
//! 1. prune without data: row-group time and ID ranges from `meta.json`, chunk statistics, then
//!    dictionaries (one small GET of the dictionary pages of the chunks still in question);
//! 2. candidate rows from the page index; decode only the condition columns of those rows and
//!    evaluate them → matched rows;
//! 3. the structure columns of the whole row group (trace boundaries, nested sets, roots; only
//!    `nested_set_left` for the boundaries when the row group has no orphans and the request
//!    needs no nested sets, parents or child counts);
//! 4. under `keep_most_recent`, only the matched rows of the traces that can rank (`recent`);
//! 5. the result columns of those rows only (their pages), → one `SpanBatch`.

use std::ops::Range;
use std::sync::Arc;

use contrail_traceql::fetch::SpanBatch;

use super::batch::{BuildArgs, TraceFilters, build_batch};
use super::condition::Prune;
use super::leaves::Leaves;
use super::plan::{Outputs, ScanPlan, sorted_unique, span_leaves, structure_leaves};
use super::recent::most_recent;
use super::structure::{Parent, Structure};
use crate::block::v1::footer::Footer;
use crate::block::v1::reader::{BlockReader, read_error};
use crate::block::v1::schema;
use crate::error::{Result, corrupt};
use crate::parquet_query::predicate::ColumnPredicate;
use crate::parquet_query::{LeafRead, SparseFile, chunk_may_match, decode};

/// What pruning and scanning did (cumulative per source; for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub row_groups: u64,
    pub row_groups_pruned_by_meta: u64,
    pub row_groups_pruned_by_stats: u64,
    pub row_groups_pruned_by_dictionary: u64,
    pub row_groups_pruned_by_page_index: u64,
    pub row_groups_without_match: u64,
    /// Dictionary pages read to decide on a chunk.
    pub dictionaries_read: u64,
    /// Rows whose condition columns were decoded.
    pub rows_decoded: u64,
    /// Rows returned.
    pub rows_returned: u64,
    pub bytes_fetched: u64,
}

/// The rows a batch is built from.
pub(crate) struct Rows {
    pub(crate) row_group: usize,
    /// Rows returned (ascending).
    pub(crate) returned: Vec<u32>,
    /// First rows of portions with orphans that have no returned row: reported with their
    /// trace info only, when they pass the trace filters.
    pub(crate) orphaned: Vec<u32>,
}

/// The rows of a row group that satisfy the conditions and the trace filters.
#[derive(Debug, Default)]
pub(super) struct Selected {
    /// Ascending.
    pub(super) rows: Vec<u32>,
    /// The trace start of each row, under `keep_most_recent` (empty otherwise).
    pub(super) starts: Vec<u64>,
}

/// What one row group gave.
#[derive(Debug, Default)]
pub(crate) struct RowGroupOutput {
    pub(crate) batch: Option<SpanBatch>,
    pub(crate) stats: ScanStats,
    pub(crate) inspected_traces: u64,
    pub(crate) inspected_spans: u64,
    /// Bytes decoded and held while scanning (for the memory budget).
    pub(crate) held_bytes: usize,
}

/// The shared state of one scan.
pub(crate) struct Scan<'a> {
    pub(crate) reader: &'a BlockReader,
    pub(crate) footer: &'a Arc<Footer>,
    pub(crate) leaves: &'a Arc<Leaves>,
    pub(crate) plan: &'a Arc<ScanPlan>,
}

fn ranges_of(rows: &[u32]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for row in rows {
        let row = *row as usize;
        match out.last_mut() {
            Some(last) if last.end == row => last.end = row + 1,
            _ => out.push(row..row + 1),
        }
    }
    out
}

impl Scan<'_> {
    pub(super) fn path(&self) -> &object_store::path::Path {
        self.reader.data_path()
    }

    /// Scans row group `row_group`.
    pub(crate) async fn row_group(&self, row_group: usize) -> Result<RowGroupOutput> {
        let mut out = RowGroupOutput::default();
        out.stats.row_groups = 1;
        let plan = self.plan.as_ref();
        let meta = self.reader.meta();
        let Some(group_meta) = meta.row_groups.get(row_group) else {
            return Err(corrupt(
                self.path(),
                format!("row group {row_group} not in meta.json"),
            ));
        };
        let overlaps_time = group_meta.start_time_unix_nano <= plan.end_unix_nano
            && group_meta.end_time_unix_nano >= plan.start_unix_nano;
        let holds_ids = plan.trace_ids.as_ref().is_none_or(|ids| {
            ids.iter()
                .any(|id| group_meta.min_id.as_bytes() <= id && id <= group_meta.max_id.as_bytes())
        });
        if !overlaps_time || !holds_ids {
            out.stats.row_groups_pruned_by_meta = 1;
            return Ok(out);
        }
        let orphans = self.may_have_orphans(row_group)?;
        let prunes: Vec<Prune> = plan
            .prunes
            .iter()
            .zip(&plan.conditions)
            .map(|(prune, condition)| {
                if orphans && condition.trace_level {
                    Prune::Maybe
                } else {
                    prune.clone()
                }
            })
            .collect();
        let mut file = SparseFile::new(meta.size);
        let selected = self
            .matched_rows(row_group, &prunes, orphans, &mut file, &mut out)
            .await?;
        if selected.rows.is_empty() && !orphans {
            return Ok(out);
        }

        // 3. structure of the row group
        let bounds_only = !orphans && !plan.need_structure && !plan.outputs.needs_structure();
        let structure = self
            .read_structure(row_group, bounds_only, &mut file, &mut out)
            .await?;

        // 4. the traces that can rank; 5. result columns of the returned rows (portions with
        // orphans always come back)
        let mut omitted_traces = 0;
        let returned = if !plan.has_conditions() {
            whole_traces(&structure, selected.rows)
        } else if let Some(keep) = plan.keep_most_recent {
            let kept = most_recent(&structure, &selected.rows, &selected.starts, keep);
            omitted_traces = kept.omitted_traces;
            kept.rows
        } else {
            selected.rows
        };
        let orphaned: Vec<u32> = if orphans {
            (0..structure.trace_count())
                .filter(|trace| structure.has_orphans(*trace))
                .map(|trace| structure.rows_of(trace).start)
                .filter(|first| {
                    let trace = structure.trace_of(*first);
                    returned
                        .binary_search_by(|row| structure.trace_of(*row).cmp(&trace))
                        .is_err()
                })
                .collect()
        } else {
            Vec::new()
        };
        if returned.is_empty() && orphaned.is_empty() {
            return Ok(out);
        }
        out.stats.rows_returned += returned.len() as u64;
        let batch = self
            .materialise(
                Rows {
                    row_group,
                    returned,
                    orphaned,
                },
                &structure,
                &plan.outputs,
                &mut file,
                &mut out,
            )
            .await?;
        if batch.traces.is_empty() {
            return Ok(out);
        }
        out.batch = Some(SpanBatch {
            omitted_traces,
            ..batch
        });
        Ok(out)
    }

    /// The structure of `row_group` (only its trace boundaries when `bounds_only`: the row
    /// group has no orphans and nothing needs nested sets, parents or child counts).
    pub(crate) async fn read_structure(
        &self,
        row_group: usize,
        bounds_only: bool,
        file: &mut SparseFile,
        out: &mut RowGroupOutput,
    ) -> Result<Structure> {
        let leaves = if bounds_only {
            vec![self.leaf(schema::NESTED_SET_LEFT)?]
        } else {
            structure_leaves(self.leaves).map_err(|e| corrupt(self.path(), e))?
        };
        let structure_read = LeafRead {
            row_group,
            leaves,
            rows: None,
        };
        out.stats.bytes_fetched += self
            .reader
            .fetch_more(&structure_read.byte_ranges(&self.footer.arrow), file)
            .await?;
        let arrow_meta = self.footer.arrow.clone();
        let path = self.path().clone();
        let task_file = file.clone();
        self.reader
            .pool()
            .run(self.path().as_ref(), move || {
                let batch = decode(task_file, &arrow_meta, &structure_read)
                    .map_err(|e| read_error(&path, e))?
                    .ok_or_else(|| corrupt(&path, "row group has no rows"))?;
                if bounds_only {
                    Structure::bounds_only(&batch)
                } else {
                    Structure::new(&batch)
                }
                .map_err(|e| corrupt(&path, e))
            })
            .await
    }

    /// Whether the row group may hold spans whose parent is missing (`parent_span_id` is
    /// stored only for those; its statistics say when it is all null).
    pub(crate) fn may_have_orphans(&self, row_group: usize) -> Result<bool> {
        let leaf = self.leaf(schema::PARENT_SPAN_ID)?;
        let chunk = self.footer.metadata.row_group(row_group).column(leaf);
        Ok(chunk_may_match(chunk, &ColumnPredicate::NotNull))
    }

    pub(super) fn leaf(&self, name: &str) -> Result<usize> {
        self.leaves
            .get(name)
            .map_err(|error| corrupt(self.path(), error))
    }

    /// Reads the result columns of `rows` and builds their batch.
    pub(crate) async fn materialise(
        &self,
        Rows {
            row_group,
            returned: rows,
            orphaned,
        }: Rows,
        structure: &Structure,
        outputs: &Outputs,
        file: &mut SparseFile,
        out: &mut RowGroupOutput,
    ) -> Result<SpanBatch> {
        let plan = self.plan.as_ref();
        let absent_keys = self
            .absent_generic_keys(
                row_group,
                &outputs.generic_keys(),
                file,
                &mut out.stats.bytes_fetched,
            )
            .await?;
        let outputs = &outputs.without_generic(absent_keys);
        let parent_ids = outputs.needs_parent_ids();
        let mut read_rows = rows.clone();
        if !orphaned.is_empty() {
            read_rows.extend_from_slice(&orphaned);
            read_rows.sort_unstable();
        }
        if parent_ids {
            read_rows.extend(rows.iter().filter_map(|row| match structure.parent(*row) {
                Parent::Row(parent) => Some(parent),
                _ => None,
            }));
            read_rows.sort_unstable();
            read_rows.dedup();
        }
        let mut leaves = span_leaves(
            self.leaves,
            plan.need_span_ids || parent_ids,
            plan.need_trace_roots,
        )
        .map_err(|e| corrupt(self.path(), e))?;
        leaves.extend(
            outputs
                .leaves(self.leaves)
                .map_err(|e| corrupt(self.path(), e))?,
        );
        let read = LeafRead {
            row_group,
            leaves: sorted_unique(leaves),
            rows: Some(ranges_of(&read_rows)),
        };
        out.stats.bytes_fetched += self
            .reader
            .fetch_more(&read.byte_ranges(&self.footer.results), file)
            .await?;
        let arrow_meta = self.footer.results.clone();
        let tables = self.footer.tables.clone();
        let path = self.path().clone();
        let task_file = file.clone();
        let structure = structure.clone();
        let outputs = outputs.clone();
        let need = (
            plan.need_span_ids,
            plan.need_structure,
            plan.need_trace_roots,
            plan.need_row_refs,
        );
        let filters = TraceFilters {
            start_unix_nano: plan.start_unix_nano,
            end_unix_nano: plan.end_unix_nano,
            trace_ids: plan.trace_ids.clone(),
        };
        let (batch, held) = self
            .reader
            .pool()
            .run(self.path().as_ref(), move || {
                let decoded = decode(task_file, &arrow_meta, &read)
                    .map_err(|e| read_error(&path, e))?
                    .ok_or_else(|| corrupt(&path, "selected rows decoded to nothing"))?;
                let held = decoded.get_array_memory_size();
                let batch = build_batch(BuildArgs {
                    row_group,
                    rows: &rows,
                    orphaned: &orphaned,
                    filters: &filters,
                    batch_rows: &read_rows,
                    decoded: &decoded,
                    structure: &structure,
                    outputs: &outputs,
                    tables: &tables,
                    need_span_ids: need.0,
                    need_structure: need.1,
                    need_trace_roots: need.2,
                    need_row_refs: need.3,
                })
                .map_err(|e| corrupt(&path, e))?;
                Ok((batch, held))
            })
            .await?;
        out.held_bytes += held;
        Ok(batch)
    }
}

/// Every row of the traces that hold one of `rows` (ascending): one trace lookup per trace,
/// not per row.
fn whole_traces(structure: &Structure, rows: Vec<u32>) -> Vec<u32> {
    if rows.len() == structure.row_count() as usize {
        // every row (ascending, distinct): already whole traces
        return rows;
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut covered_until = 0u32;
    let mut trace = 0;
    for row in rows {
        if row < covered_until {
            continue;
        }
        trace = structure.trace_of_from(row, trace);
        let trace_rows = structure.rows_of(trace);
        covered_until = trace_rows.end;
        out.extend(trace_rows);
    }
    out
}
