//! [`BlockSpanSource`]: the engine's [`SpanSource`] over one unit of a `vc1` block (the block
//! and a range of its row groups).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use contrail_proto::ErrorCode;
use contrail_traceql::fetch::{
    FetchError, FetchOutput, FetchRequest, MemoryBudget, NestedValues, SecondPassBatch,
    SecondPassRequest, SpanSource, ValueColumn,
};
use contrail_traceql::value::Value;
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::leaves::Leaves;
use super::plan::{Outputs, ScanPlan};
use super::scan::{RowGroupOutput, Rows, Scan, ScanStats};
use super::stats::service_stats;
use crate::block::v1::footer::Footer;
use crate::block::v1::reader::BlockReader;
use crate::error::{Error, corrupt};
use crate::parquet_query::SparseFile;

/// One unit of a block: its row groups `row_groups`.
pub struct BlockSpanSource {
    reader: Arc<BlockReader>,
    row_groups: Range<usize>,
    leaves: OnceCell<Arc<Leaves>>,
    stats: Mutex<ScanStats>,
}

impl std::fmt::Debug for BlockSpanSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockSpanSource")
            .field("block", &self.reader.meta().block_id)
            .field("row_groups", &self.row_groups)
            .finish()
    }
}

/// The units of a block: consecutive row groups, `row_groups_per_unit` at a time.
pub fn block_units(reader: &Arc<BlockReader>, row_groups_per_unit: usize) -> Vec<BlockSpanSource> {
    let total = reader.meta().row_groups.len();
    let step = row_groups_per_unit.max(1);
    (0..total)
        .step_by(step)
        .map(|start| BlockSpanSource::new(reader.clone(), start..(start + step).min(total)))
        .collect()
}

fn source_error(error: Error) -> FetchError {
    FetchError::Source {
        code: error.code(),
        message: error.to_string(),
    }
}

/// Releases what a fetch reserved, however it ends.
struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: usize,
}

impl Reservation<'_> {
    fn add(&mut self, bytes: usize) -> Result<(), FetchError> {
        self.budget.reserve(bytes)?;
        self.bytes += bytes;
        Ok(())
    }
}

impl Reservation<'_> {
    /// Fails when `bytes` more would pass the budget now (for data held only briefly).
    fn check(&self, bytes: usize) -> Result<(), FetchError> {
        self.budget.reserve(bytes)?;
        self.budget.release(bytes);
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

impl BlockSpanSource {
    /// The unit `row_groups` of the block `reader` reads (clamped to the block's row groups).
    pub fn new(reader: Arc<BlockReader>, row_groups: Range<usize>) -> Self {
        let total = reader.meta().row_groups.len();
        let row_groups = row_groups.start.min(total)..row_groups.end.min(total);
        BlockSpanSource {
            reader,
            row_groups,
            leaves: OnceCell::new(),
            stats: Mutex::new(ScanStats::default()),
        }
    }

    /// The row groups of this unit.
    pub fn row_groups(&self) -> Range<usize> {
        self.row_groups.clone()
    }

    /// What pruning and scanning did so far (summed over fetches).
    pub fn scan_stats(&self) -> ScanStats {
        self.stats.lock().map(|stats| *stats).unwrap_or_default()
    }

    fn add_stats(&self, more: &ScanStats) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.row_groups += more.row_groups;
            stats.row_groups_pruned_by_meta += more.row_groups_pruned_by_meta;
            stats.row_groups_pruned_by_stats += more.row_groups_pruned_by_stats;
            stats.row_groups_pruned_by_dictionary += more.row_groups_pruned_by_dictionary;
            stats.row_groups_pruned_by_page_index += more.row_groups_pruned_by_page_index;
            stats.row_groups_without_match += more.row_groups_without_match;
            stats.dictionaries_read += more.dictionaries_read;
            stats.rows_decoded += more.rows_decoded;
            stats.rows_returned += more.rows_returned;
            stats.bytes_fetched += more.bytes_fetched;
        }
    }

    async fn context(&self) -> Result<(Arc<Footer>, Arc<Leaves>), Error> {
        let footer = self.reader.footer().await?;
        let leaves = self
            .leaves
            .get_or_init(|| async {
                Arc::new(Leaves::new(footer.metadata.file_metadata().schema_descr()))
            })
            .await
            .clone();
        Ok((footer, leaves))
    }
}

#[async_trait]
impl SpanSource for BlockSpanSource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError> {
        // A targeted fetch (deferred traces, checks of skipped units) asks the bloom filters
        // first: a block that holds none of the IDs is not scanned at all.
        let narrowed;
        let request = match &request.trace_ids {
            Some(ids) => {
                let kept = self
                    .reader
                    .may_contain_any(ids)
                    .await
                    .map_err(source_error)?;
                if kept.is_empty() {
                    return Ok(FetchOutput::default());
                }
                narrowed = FetchRequest {
                    trace_ids: Some(kept),
                    ..request.clone()
                };
                &narrowed
            }
            None => request,
        };
        let (footer, leaves) = self.context().await.map_err(source_error)?;
        let plan = ScanPlan::new(request, &footer.tables, &leaves)
            .map_err(|message| source_error(corrupt(self.reader.data_path(), message)))?;
        let plan = Arc::new(plan);
        let scan = Scan {
            reader: &self.reader,
            footer: &footer,
            leaves: &leaves,
            plan: &plan,
        };
        let mut reservation = Reservation { budget, bytes: 0 };
        let mut output = FetchOutput::default();
        // Row groups overlap: while some decode on the pool, the next ones fetch. In order, so
        // batches come out in trace-ID order.
        let in_flight = self.reader.pool().threads() + 1;
        let mut scans = futures::stream::iter(self.row_groups.clone())
            .map(|row_group| scan.row_group(row_group))
            .buffered(in_flight);
        while let Some(scanned) = scans.next().await {
            let RowGroupOutput {
                batch,
                stats,
                inspected_traces,
                inspected_spans,
                held_bytes,
            } = scanned.map_err(source_error)?;
            self.add_stats(&stats);
            output.stats.inspected_traces += inspected_traces;
            output.stats.inspected_spans += inspected_spans;
            output.stats.inspected_bytes += stats.bytes_fetched;
            // Decoded columns were held while the row group was scanned; the batch is held
            // until the engine takes it.
            reservation.check(held_bytes)?;
            if let Some(batch) = batch {
                reservation.add(batch.memory_size())?;
                output.batches.push(batch);
            }
        }
        Ok(output)
    }

    fn latest_start_unix_nano(&self) -> Option<u64> {
        self.reader.meta().row_groups[self.row_groups.clone()]
            .iter()
            .map(|group| group.end_time_unix_nano)
            .max()
    }

    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError> {
        let (footer, leaves) = self.context().await.map_err(source_error)?;
        // the second pass reports span values only: no nested sets
        let all_rows = FetchRequest {
            need_structure: false,
            ..FetchRequest::all_spans(0, u64::MAX)
        };
        let plan = Arc::new(
            ScanPlan::new(&all_rows, &footer.tables, &leaves)
                .map_err(|message| source_error(corrupt(self.reader.data_path(), message)))?,
        );
        let scan = Scan {
            reader: &self.reader,
            footer: &footer,
            leaves: &leaves,
            plan: &plan,
        };
        let outputs = Outputs::of(&request.attributes);
        let mut by_group: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for row_ref in &request.rows {
            let row_group = (row_ref >> 32) as usize;
            if !self.row_groups.contains(&row_group) {
                return Err(FetchError::Source {
                    code: ErrorCode::BadRequest,
                    message: format!(
                        "row reference {row_ref} is not in row groups {:?} of block {}",
                        self.row_groups,
                        self.reader.meta().block_id
                    ),
                });
            }
            by_group.entry(row_group).or_default().push(*row_ref as u32);
        }
        let mut reservation = Reservation { budget, bytes: 0 };
        let mut out = SecondPassBatch {
            rows: request.rows.clone(),
            ..SecondPassBatch::default()
        };
        let mut parts = Vec::new();
        for (row_group, mut rows) in by_group {
            rows.sort_unstable();
            rows.dedup();
            let mut file = SparseFile::new(self.reader.meta().size);
            let mut scratch = RowGroupOutput::default();
            let bounds_only = !scan.may_have_orphans(row_group).map_err(source_error)?
                && !outputs.needs_structure();
            let structure = scan
                .read_structure(row_group, bounds_only, &mut file, &mut scratch)
                .await
                .map_err(source_error)?;
            let batch = scan
                .materialise(
                    Rows {
                        row_group,
                        returned: rows,
                        orphaned: Vec::new(),
                    },
                    &structure,
                    &outputs,
                    &mut file,
                    &mut scratch,
                )
                .await
                .map_err(source_error)?;
            reservation.add(batch.memory_size())?;
            parts.push(batch);
        }
        for (attribute, _) in &outputs.span {
            let mut values = Vec::new();
            let mut found = false;
            for part in &parts {
                match part.span_column(attribute) {
                    Some(column) => {
                        found = true;
                        values.extend((0..column.len()).map(|row| column.get(row).clone()));
                    }
                    None => values.extend(std::iter::repeat_n(Value::Nil, part.span_rows())),
                }
            }
            if found {
                out.span_values
                    .push((attribute.clone(), ValueColumn::Plain(values)));
            }
        }
        out.events = concat_nested(parts.iter().map(|part| &part.events));
        out.links = concat_nested(parts.iter().map(|part| &part.links));
        let mut trace_ids = request.service_stats_for.clone();
        trace_ids.sort_unstable();
        trace_ids.dedup();
        out.service_stats = service_stats(
            &self.reader,
            &footer,
            &leaves,
            self.row_groups.clone(),
            &trace_ids,
        )
        .await
        .map_err(source_error)?;
        Ok(out)
    }
}

fn concat_nested<'a>(parts: impl Iterator<Item = &'a NestedValues>) -> NestedValues {
    let mut out = NestedValues::default();
    let mut base = 0u32;
    for part in parts {
        if part.offsets.is_empty() {
            continue;
        }
        if out.offsets.is_empty() {
            out.offsets.push(0);
            out.columns = part
                .columns
                .iter()
                .map(|(attribute, _)| (attribute.clone(), ValueColumn::Plain(Vec::new())))
                .collect();
        }
        out.offsets
            .extend(part.offsets.iter().skip(1).map(|offset| base + offset));
        base += part.offsets.last().copied().unwrap_or(0);
        for ((_, target), (_, column)) in out.columns.iter_mut().zip(&part.columns) {
            if let ValueColumn::Plain(values) = target {
                values.extend((0..column.len()).map(|item| column.get(item).clone()));
            }
        }
    }
    out
}
