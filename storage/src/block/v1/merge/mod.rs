//! Merging `vc1` blocks into one: the compactor's streaming k-way merge on trace ID.
//!
//! Each input is read in row slices (`BlockReader::fetch_rows`: the pages of `slice_rows` rows
//! of one row group): an async task per input fetches the next slice into a bounded channel
//! while one thread of its own decodes, merges and assembles output batches, which the block
//! writer encodes on its own thread (ADR 018: work spread over tokio's blocking threads kept
//! several times the live memory in their allocator heaps). Memory is bounded by two slices per
//! input, one output row group and the largest trace, never by the size of a block.
//!
//! Per trace ID the copies of every input are combined (`combine`): spans with the same span ID
//! and kind (RF replicas, client retries) are kept once, the first copy in input order; a trace
//! whose spans came from several inputs gets its trace-level columns, depth-first order, parent
//! indexes and nested-set numbers recomputed as the writer computes them for a whole trace;
//! every other trace is copied row for row. Resource and scope references are remapped into
//! the output's tables (`remap`). Row groups are cut only between traces, as always.

mod assemble;
mod combine;
mod cursor;
mod remap;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use object_store::ObjectStore;
use object_store::path::Path;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::schema::arrow_schema;
use super::writer::{BlockWriter, BlockWriterConfig, RowBatch, WrittenBlock};
use super::{BlockReader, RowSliceBatches};
use crate::block::meta::BlockMeta;
use crate::block::{DATA_OBJECT, corrupt, object_path};
use crate::error::{Error, Result};
use crate::worker_thread::WorkerThread;
use assemble::OutputBuilder;
use combine::{Combined, combine, has_duplicates};
use cursor::{InputCursor, TraceRows};
use remap::RefRemap;

/// How a merge reads and batches.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Rows of one input fetched at a time (only the pages holding them).
    pub slice_rows: usize,
    /// Rows per decoded input batch.
    pub batch_rows: usize,
    /// An output batch is handed to the writer at the first trace boundary after this many rows.
    pub output_batch_rows: usize,
}

impl Default for MergeOptions {
    fn default() -> Self {
        // Inputs decoded 2,048 rows at a time: every input holds one decoded batch per column,
        // so this is what a merge's memory grows by per input (W5, 10 inputs: 903-917 MiB of
        // RSS against 1,055-1,060 at 8,192 rows, at equal CPU). Output batches stay at 8,192
        // rows: at 2,048 the writer's per-batch work cost ~10% more CPU for 60 MiB (ADR 018).
        MergeOptions {
            slice_rows: 65_536,
            batch_rows: 2048,
            output_batch_rows: 8192,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Input blocks.
    pub input_blocks: usize,
    /// Bytes of the inputs' `data.parquet` and bloom shards.
    pub input_bytes: u64,
    /// Traces summed over the inputs (a trace in three inputs counts three times).
    pub input_traces: u64,
    /// Span rows read.
    pub input_spans: u64,
    /// Traces written.
    pub output_traces: u64,
    /// Span rows written: `input_spans - duplicate_spans`.
    pub output_spans: u64,
    /// Span rows dropped because an earlier copy of the same span (trace, span ID, kind) was kept.
    pub duplicate_spans: u64,
    /// Traces whose trace-level and structural columns were recomputed.
    pub rebuilt_traces: u64,
}

/// A finished merge: the output block (its `meta.json` written) and what was merged.
#[derive(Debug, Clone)]
pub struct MergedBlock {
    /// The output block.
    pub written: WrittenBlock,
    /// Counts of the merge.
    pub stats: MergeStats,
}

/// A merge whose rows are all written but whose output is not visible yet: only
/// [`PendingMerge::finish`] writes the bloom shards and then `meta.json`. Dropping it abandons
/// the output (its objects stay invisible, without a meta).
#[derive(Debug)]
pub struct PendingMerge {
    writer: BlockWriter,
    stats: MergeStats,
}

impl PendingMerge {
    /// Counts of the merge.
    pub fn stats(&self) -> &MergeStats {
        &self.stats
    }

    /// Finishes the output: the rest of `data.parquet`, the bloom shards, then `meta.json`.
    pub async fn finish(self) -> Result<MergedBlock> {
        let written = self.writer.finish().await?;
        Ok(MergedBlock {
            written,
            stats: self.stats,
        })
    }
}

/// Merges `inputs` (blocks of one tenant, in the order whose first copy of a duplicate span
/// wins) into one block written with `config`, up to its last step: nothing is visible until
/// [`PendingMerge::finish`] writes the output's `meta.json`. The inputs are left as they are.
pub async fn merge_blocks(
    store: Arc<dyn ObjectStore>,
    inputs: Vec<BlockMeta>,
    config: BlockWriterConfig,
    options: MergeOptions,
) -> Result<PendingMerge> {
    merge_blocks_into(store.clone(), store, inputs, config, options).await
}

/// [`merge_blocks`] reading the inputs from `input_store` and writing the output to
/// `output_store` (a query that reads replicated blocks as if compacted merges them into a
/// scratch store, ADR 013).
pub async fn merge_blocks_into(
    input_store: Arc<dyn ObjectStore>,
    output_store: Arc<dyn ObjectStore>,
    inputs: Vec<BlockMeta>,
    config: BlockWriterConfig,
    options: MergeOptions,
) -> Result<PendingMerge> {
    if inputs.is_empty() {
        return Err(Error::InvalidBlockInput {
            message: "a merge needs at least one input block".to_owned(),
        });
    }
    if let Some(other) = inputs.iter().find(|meta| meta.tenant_id != config.tenant) {
        return Err(Error::InvalidBlockInput {
            message: format!(
                "block {} of tenant {} cannot be merged into a block of tenant {}",
                other.block_id, other.tenant_id, config.tenant
            ),
        });
    }
    let output_path = object_path(&config.tenant, &config.block_id, DATA_OBJECT);
    let mut stats = MergeStats {
        input_blocks: inputs.len(),
        input_bytes: inputs.iter().map(|meta| meta.size + meta.bloom_size).sum(),
        ..MergeStats::default()
    };
    let expected_spans: u64 = inputs.iter().map(|meta| meta.total_spans).sum();
    let readers = inputs
        .into_iter()
        .map(|meta| BlockReader::open(input_store.clone(), meta).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let mut tables = Vec::with_capacity(readers.len());
    for reader in &readers {
        tables.push(reader.tables().await?);
    }
    let mut writer = BlockWriter::new(output_store, config)?;
    let remap = RefRemap::build(tables.iter().map(Arc::as_ref), writer.tables_mut()?);
    drop(tables);

    let schema = arrow_schema();
    let mut fetchers = JoinSet::new();
    let mut cursors = Vec::with_capacity(readers.len());
    let mut input_paths = Vec::with_capacity(readers.len());
    for (input, reader) in readers.iter().enumerate() {
        let slices = slice_plan(reader, options.slice_rows).await?;
        let (slices_tx, slices_rx) = mpsc::channel(1);
        let path = object_path(
            &reader.meta().tenant_id,
            &reader.meta().block_id,
            DATA_OBJECT,
        );
        input_paths.push(path.clone());
        cursors.push(InputCursor::new(
            input,
            path,
            slices_rx,
            slices.len(),
            schema.clone(),
        ));
        fetchers.spawn(fetch_slices(
            reader.clone(),
            slices,
            options.batch_rows,
            slices_tx,
        ));
    }

    let (output_tx, mut output_rx) = mpsc::channel::<RowBatch>(2);
    let output_batch_rows = options.output_batch_rows.max(1);
    // The merge's decoding and assembling stay on one thread of its own (ADR 018).
    let merge_thread = WorkerThread::start("contrail-merge")?;
    let merge = merge_thread.run(output_path.as_ref(), move || {
        let loop_args = MergeLoop {
            remap: &remap,
            input_paths: &input_paths,
            schema,
            output_batch_rows,
            output_tx,
        };
        loop_args.run(cursors)
    });
    let write = async {
        while let Some(rows) = output_rx.recv().await {
            writer.push_rows(rows).await?;
        }
        Ok::<_, Error>(())
    };
    let (counts, ()) = tokio::try_join!(merge, write)?;
    fetchers.shutdown().await;
    stats.input_traces = counts.input_traces;
    stats.input_spans = counts.input_spans;
    stats.output_traces = counts.output_traces;
    stats.output_spans = counts.output_spans;
    stats.duplicate_spans = counts.duplicate_spans;
    stats.rebuilt_traces = counts.rebuilt_traces;
    if counts.rows_read != expected_spans {
        return Err(Error::CorruptBlock {
            object: output_path.to_string(),
            message: format!(
                "inputs hold {} span rows, their metas say {expected_spans}",
                counts.rows_read
            ),
        });
    }
    if counts.output_spans == 0 {
        return Err(Error::InvalidBlockInput {
            message: "the input blocks hold no spans".to_owned(),
        });
    }
    Ok(PendingMerge { writer, stats })
}

/// The row slices of a block, in order: each row group cut into `slice_rows`-row pieces.
async fn slice_plan(reader: &BlockReader, slice_rows: usize) -> Result<Vec<(usize, Range<usize>)>> {
    let metadata = reader.parquet_metadata().await?;
    let slice_rows = slice_rows.max(1);
    let mut slices = Vec::new();
    for (row_group, group) in metadata.row_groups().iter().enumerate() {
        let rows = usize::try_from(group.num_rows()).map_err(|_| {
            corrupt(
                &object_path(
                    &reader.meta().tenant_id,
                    &reader.meta().block_id,
                    DATA_OBJECT,
                ),
                format!("row group {row_group} has a negative row count"),
            )
        })?;
        let mut start = 0;
        while start < rows {
            let end = (start + slice_rows).min(rows);
            slices.push((row_group, start..end));
            start = end;
        }
    }
    Ok(slices)
}

/// Fetches the slices of one input in order; stops at the first error (sent to the cursor) or
/// when the merge stops listening.
async fn fetch_slices(
    reader: Arc<BlockReader>,
    slices: Vec<(usize, Range<usize>)>,
    batch_rows: usize,
    slices_tx: mpsc::Sender<Result<RowSliceBatches>>,
) {
    for (row_group, rows) in slices {
        // The next slice is fetched only once the channel is empty: at most two slices of an
        // input are held (the one the merge decodes and the next), not three.
        let Ok(permit) = slices_tx.reserve().await else {
            return;
        };
        let fetched = reader.fetch_rows(row_group, rows, batch_rows).await;
        let failed = fetched.is_err();
        permit.send(fetched);
        if failed {
            return;
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    rows_read: u64,
    input_traces: u64,
    input_spans: u64,
    output_traces: u64,
    output_spans: u64,
    duplicate_spans: u64,
    rebuilt_traces: u64,
}

/// The merge proper, on the merge's thread.
struct MergeLoop<'a> {
    remap: &'a RefRemap,
    input_paths: &'a [Path],
    schema: SchemaRef,
    output_batch_rows: usize,
    output_tx: mpsc::Sender<RowBatch>,
}

impl MergeLoop<'_> {
    fn run(self, mut cursors: Vec<InputCursor>) -> Result<Counts> {
        let mut counts = Counts::default();
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (input, cursor) in cursors.iter_mut().enumerate() {
            if let Some(trace_id) = cursor.peek()? {
                heap.push(Reverse((trace_id, input)));
            }
        }
        let mut output = OutputBuilder::new(self.schema.clone());
        let mut copies: Vec<TraceRows> = Vec::with_capacity(cursors.len());
        while let Some(Reverse((trace_id, input))) = heap.pop() {
            copies.clear();
            let mut next = Some(input);
            while let Some(input) = next {
                let cursor = &mut cursors[input];
                copies.push(cursor.take_trace()?);
                if let Some(following) = cursor.peek()? {
                    heap.push(Reverse((following, input)));
                }
                next = match heap.peek() {
                    Some(Reverse((candidate, input))) if *candidate == trace_id => {
                        let input = *input;
                        heap.pop();
                        Some(input)
                    }
                    _ => None,
                };
            }
            for copy in &copies {
                counts.input_traces += 1;
                counts.input_spans += copy.rows() as u64;
            }
            counts.output_traces += 1;
            self.add_trace(&copies, &mut output, &mut counts)?;
            if output.rows() >= self.output_batch_rows {
                send(&mut output, self.remap, &self.output_tx)?;
            }
        }
        if output.rows() > 0 {
            send(&mut output, self.remap, &self.output_tx)?;
        }
        counts.rows_read = cursors.iter().map(InputCursor::rows_read).sum();
        Ok(counts)
    }

    fn add_trace(
        &self,
        copies: &[TraceRows],
        output: &mut OutputBuilder,
        counts: &mut Counts,
    ) -> Result<()> {
        if let [only] = copies
            && !has_duplicates(only)
        {
            counts.output_spans += only.rows() as u64;
            output.push_copy(only);
            return Ok(());
        }
        let trace_id = copies[0].trace_id;
        let (combined, duplicates) = combine(copies).map_err(|(input, error)| {
            corrupt(
                &self.input_paths[input],
                format!("trace {trace_id}: {error}"),
            )
        })?;
        counts.duplicate_spans += duplicates;
        match combined {
            Combined::Copy(trace) => {
                counts.output_spans += trace.rows() as u64;
                output.push_copy(trace);
            }
            Combined::Rebuilt {
                rows,
                trace,
                summary,
            } => {
                counts.output_spans += rows.len() as u64;
                counts.rebuilt_traces += 1;
                output.push_rebuilt(trace_id, rows, trace, summary);
            }
        }
        Ok(())
    }
}

fn send(
    output: &mut OutputBuilder,
    remap: &RefRemap,
    output_tx: &mpsc::Sender<RowBatch>,
) -> Result<()> {
    let rows = output.finish(remap).map_err(|error| Error::BlockTask {
        message: format!("assemble merged rows: {error}"),
    })?;
    output_tx.blocking_send(rows).map_err(|_| Error::BlockTask {
        message: "the merge output writer stopped".to_owned(),
    })
}
