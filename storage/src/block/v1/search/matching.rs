//! Stages 1 and 2 of the first pass over a row group (see `scan`): pruning without data, then
//! the candidate rows from the page index and the condition columns decoded for them, giving
//! the rows that satisfy the conditions and the trace filters.

use std::ops::Range;
use std::sync::Arc;

use contrail_traceql::fetch::Combine;

use super::condition::Prune;
use super::eval::{Filter, filter_mask};
use super::plan::{sorted_unique, structure_leaves};
use super::scan::{RowGroupOutput, Scan, Selected};
use crate::block::v1::reader::read_error;
use crate::block::v1::schema;
use crate::error::{Result, corrupt};
use crate::parquet_query::dictionary::{dictionary_range, is_fully_dictionary_encoded};
use crate::parquet_query::predicate::{ColumnPredicate, CompareOp, Literal};
use crate::parquet_query::prune::{intersect_ranges, union_ranges};
use crate::parquet_query::{
    LeafRead, SparseFile, chunk_may_match, decode, pages_may_match, read_dictionary,
};

impl Scan<'_> {
    /// Stages 1 and 2: the rows of `row_group` that satisfy the conditions and the trace
    /// filters (empty when pruned).
    pub(super) async fn matched_rows(
        &self,
        row_group: usize,
        prunes: &[Prune],
        orphans: bool,
        file: &mut SparseFile,
        out: &mut RowGroupOutput,
    ) -> Result<Selected> {
        let plan = self.plan.as_ref();
        let meta = self.reader.meta();
        let group_meta = &meta.row_groups[row_group];
        let metadata = &self.footer.metadata;
        let chunks = metadata.row_group(row_group);
        let row_count = chunks.num_rows().max(0) as usize;

        // 1. statistics, then dictionaries
        let mut alternatives: Vec<Vec<(usize, ColumnPredicate, bool)>> = Vec::new();
        let mut possible = Vec::with_capacity(prunes.len());
        for prune in prunes {
            let list: Vec<(usize, ColumnPredicate, bool)> = match prune {
                Prune::Never => Vec::new(),
                Prune::Maybe => Vec::new(),
                Prune::Check(list) => list
                    .iter()
                    .map(|(leaf, predicate)| {
                        let ok = chunk_may_match(chunks.column(*leaf), predicate);
                        (*leaf, predicate.clone(), ok)
                    })
                    .collect(),
            };
            possible.push(match prune {
                Prune::Never => false,
                Prune::Maybe => true,
                Prune::Check(_) => list.iter().any(|(_, _, ok)| *ok),
            });
            alternatives.push(list);
        }
        if !plan.may_select(&possible) {
            out.stats.row_groups_pruned_by_stats = 1;
            return Ok(Selected::default());
        }
        let dictionary_checks: Vec<(usize, usize)> = alternatives
            .iter()
            .enumerate()
            .flat_map(|(condition, list)| {
                list.iter()
                    .enumerate()
                    .filter_map(move |(index, (leaf, predicate, ok))| {
                        (*ok && is_dictionary_checkable(predicate)
                            && is_fully_dictionary_encoded(chunks.column(*leaf)))
                        .then_some((condition, index))
                    })
            })
            .collect();
        if !dictionary_checks.is_empty() {
            let ranges: Vec<Range<u64>> = dictionary_checks
                .iter()
                .filter_map(|(condition, index)| {
                    dictionary_range(chunks.column(alternatives[*condition][*index].0))
                })
                .collect();
            out.stats.bytes_fetched += self.reader.fetch_more(&ranges, file).await?;
            out.stats.dictionaries_read += dictionary_checks.len() as u64;
            let checks: Vec<(usize, ColumnPredicate)> = dictionary_checks
                .iter()
                .map(|(condition, index)| {
                    let (leaf, predicate, _) = &alternatives[*condition][*index];
                    (*leaf, predicate.clone())
                })
                .collect();
            let footer = self.footer.clone();
            let dictionary_file = file.clone();
            let path = self.path().clone();
            let verdicts = self
                .reader
                .pool()
                .run(self.path().as_ref(), move || {
                    let chunks = footer.metadata.row_group(row_group);
                    checks
                        .iter()
                        .map(|(leaf, predicate)| {
                            let chunk = chunks.column(*leaf);
                            let unsigned = matches!(
                                chunk.column_descr().converted_type(),
                                parquet::basic::ConvertedType::UINT_32
                                    | parquet::basic::ConvertedType::UINT_64
                            );
                            match read_dictionary(&dictionary_file, chunk, unsigned) {
                                Ok(Some(dictionary)) => Ok(dictionary.any_matches(predicate)),
                                Ok(None) => Ok(true),
                                Err(error) => Err(read_error(&path, error)),
                            }
                        })
                        .collect::<Result<Vec<bool>>>()
                })
                .await?;
            for ((condition, index), verdict) in dictionary_checks.iter().zip(verdicts) {
                alternatives[*condition][*index].2 = verdict;
            }
            for (condition, prune) in prunes.iter().enumerate() {
                if let Prune::Check(_) = prune {
                    possible[condition] = alternatives[condition].iter().any(|(_, _, ok)| *ok);
                }
            }
            if !plan.may_select(&possible) {
                out.stats.row_groups_pruned_by_dictionary = 1;
                return Ok(Selected::default());
            }
        }

        // 2. candidate rows by page index, condition columns, evaluation
        let mut candidates =
            self.candidate_rows(row_group, prunes, &alternatives, &possible, row_count);
        if let Some(ids) = &plan.trace_ids {
            let leaf = self
                .leaves
                .get(schema::TRACE_ID)
                .map_err(|e| corrupt(self.path(), e))?;
            let mut id_rows: Option<Vec<Range<usize>>> = Some(Vec::new());
            for id in ids {
                let predicate = ColumnPredicate::Compare {
                    op: CompareOp::Eq,
                    literal: Literal::Bytes(Arc::from(id.as_slice())),
                };
                id_rows = match (
                    id_rows,
                    pages_may_match(metadata, row_group, leaf, &predicate),
                ) {
                    (Some(acc), Some(pages)) => Some(union_ranges(&acc, &pages)),
                    _ => None,
                };
            }
            candidates = intersect_optional(candidates, id_rows);
        }
        if candidates.as_ref().is_some_and(Vec::is_empty) {
            out.stats.row_groups_pruned_by_page_index = 1;
            return Ok(Selected::default());
        }
        out.inspected_traces = group_meta.traces;
        out.inspected_spans = group_meta.spans;
        let time_filter = !(plan.start_unix_nano <= group_meta.start_time_unix_nano
            && group_meta.end_time_unix_nano <= plan.end_unix_nano);
        let absent_keys = self
            .absent_generic_keys(
                row_group,
                &plan.generic_keys,
                file,
                &mut out.stats.bytes_fetched,
            )
            .await?;
        let mut filter_leaves = plan
            .eval_leaves_without(self.leaves, &absent_keys)
            .map_err(|e| corrupt(self.path(), e))?;
        if time_filter {
            filter_leaves.push(self.leaf(schema::TRACE_START)?);
            filter_leaves.push(self.leaf(schema::TRACE_DURATION)?);
        }
        if plan.trace_ids.is_some() {
            filter_leaves.push(self.leaf(schema::TRACE_ID)?);
        }
        let keep = plan.keep_most_recent.is_some();
        if keep {
            filter_leaves.push(self.leaf(schema::TRACE_START)?);
        }
        // Trace-level conditions hold on every span of a portion with orphans: decide that on
        // the whole row group, with its structure.
        let with_orphans = orphans && plan.conditions.iter().any(|c| c.trace_level);
        if with_orphans {
            filter_leaves
                .extend(structure_leaves(self.leaves).map_err(|e| corrupt(self.path(), e))?);
            candidates = None;
        }
        let filter_leaves = sorted_unique(filter_leaves);
        let selected = if filter_leaves.is_empty() {
            Selected {
                rows: (0..row_count as u32).collect(),
                starts: Vec::new(),
            }
        } else {
            let read = LeafRead {
                row_group,
                leaves: filter_leaves,
                rows: candidates.clone(),
            };
            out.stats.bytes_fetched += self
                .reader
                .fetch_more(&read.byte_ranges(&self.footer.arrow), file)
                .await?;
            let decoded_rows = read.row_count(&self.footer.arrow);
            out.stats.rows_decoded += decoded_rows as u64;
            let arrow_meta = self.footer.arrow.clone();
            let plan = self.plan.clone();
            let path = self.path().clone();
            let task_file = file.clone();
            let (selected, held) = self
                .reader
                .pool()
                .run(self.path().as_ref(), move || {
                    let Some(batch) =
                        decode(task_file, &arrow_meta, &read).map_err(|e| read_error(&path, e))?
                    else {
                        return Ok((Selected::default(), 0));
                    };
                    let held = batch.get_array_memory_size();
                    let filter = Filter {
                        time_filter,
                        with_orphans,
                        absent_keys: &absent_keys,
                    };
                    let mask =
                        filter_mask(&plan, &batch, &filter).map_err(|e| corrupt(&path, e))?;
                    let rows = selected_rows(read.rows.as_deref(), row_count);
                    let matched: Vec<u32> = mask.set_indices().map(|index| rows[index]).collect();
                    let starts = if keep {
                        trace_starts(&batch, &mask).map_err(|e| corrupt(&path, e))?
                    } else {
                        Vec::new()
                    };
                    Ok((
                        Selected {
                            rows: matched,
                            starts,
                        },
                        held,
                    ))
                })
                .await?;
            out.held_bytes += held;
            selected
        };
        if selected.rows.is_empty() {
            out.stats.row_groups_without_match = 1;
        }
        Ok(selected)
    }

    /// Rows that may match by the page index (`None`: all).
    fn candidate_rows(
        &self,
        row_group: usize,
        prunes: &[Prune],
        alternatives: &[Vec<(usize, ColumnPredicate, bool)>],
        possible: &[bool],
        row_count: usize,
    ) -> Option<Vec<Range<usize>>> {
        let plan = self.plan.as_ref();
        let mut per_condition: Vec<Option<Vec<Range<usize>>>> = Vec::new();
        for (condition, prune) in prunes.iter().enumerate() {
            let rows = match prune {
                Prune::Never => Some(Vec::new()),
                Prune::Maybe => None,
                Prune::Check(_) if !possible[condition] => Some(Vec::new()),
                Prune::Check(_) => {
                    let mut acc: Option<Vec<Range<usize>>> = Some(Vec::new());
                    for (leaf, predicate, ok) in &alternatives[condition] {
                        if !ok {
                            continue;
                        }
                        let pages =
                            pages_may_match(&self.footer.metadata, row_group, *leaf, predicate);
                        acc = match (acc, pages) {
                            (Some(acc), Some(pages)) => Some(union_ranges(&acc, &pages)),
                            _ => None,
                        };
                    }
                    acc
                }
            };
            per_condition.push(rows);
        }
        if per_condition.is_empty() {
            return None;
        }
        match plan.combine {
            Combine::All => per_condition.into_iter().fold(None, intersect_optional),
            Combine::Any => {
                let mut acc: Vec<Range<usize>> = Vec::new();
                for rows in per_condition {
                    match rows {
                        Some(rows) => acc = union_ranges(&acc, &rows),
                        None => return None,
                    }
                }
                let covers_all = acc.len() == 1 && acc[0] == (0..row_count);
                if covers_all { None } else { Some(acc) }
            }
        }
    }
}

fn is_dictionary_checkable(predicate: &ColumnPredicate) -> bool {
    matches!(
        predicate,
        ColumnPredicate::IntIn(_)
            | ColumnPredicate::Compare {
                op: CompareOp::Eq,
                literal: Literal::Bytes(_) | Literal::Int(_)
            }
    )
}

fn intersect_optional(
    left: Option<Vec<Range<usize>>>,
    right: Option<Vec<Range<usize>>>,
) -> Option<Vec<Range<usize>>> {
    match (left, right) {
        (None, other) | (other, None) => other,
        (Some(left), Some(right)) => Some(intersect_ranges(&left, &right)),
    }
}

/// The trace start of each row of `mask` (the batch holds `trace_start_unix_nano`).
fn trace_starts(
    batch: &arrow::array::RecordBatch,
    mask: &arrow::buffer::BooleanBuffer,
) -> std::result::Result<Vec<u64>, String> {
    let starts = batch
        .column_by_name(schema::TRACE_START)
        .and_then(|column| column.as_any().downcast_ref::<arrow::array::UInt64Array>())
        .ok_or_else(|| format!("column {} missing or mistyped", schema::TRACE_START))?;
    Ok(mask
        .set_indices()
        .map(|index| starts.value(index))
        .collect())
}

/// The row-group row of each decoded row.
fn selected_rows(ranges: Option<&[Range<usize>]>, row_count: usize) -> Vec<u32> {
    match ranges {
        None => (0..row_count as u32).collect(),
        Some(ranges) => ranges
            .iter()
            .flat_map(|range| range.start as u32..range.end as u32)
            .collect(),
    }
}
