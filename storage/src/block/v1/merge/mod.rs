//! Merging `vc1` blocks into one: the compactor's streaming k-way merge on trace ID.
//!
//! A merge runs in two passes over each output row group, on one thread of its own (ADR 018:
//! work spread over tokio's blocking threads kept several times the live memory in their
//! allocator heaps). The key pass reads only the key columns of every input (trace and span
//! IDs, kind, times, parent references, names) in row slices (`BlockReader::fetch_leaf_rows`:
//! the pages of `slice_rows` rows of one row group, fetched by an async task per input into a
//! bounded channel) and plans the output row group: which input row each output row is, and
//! what is recomputed (`plan`). The column pass (`columns`) then builds and encodes the row
//! group one top-level column at a time from that plan; each closed column chunk is appended to
//! the block's file at once and its bytes go to the upload through a small bounded channel
//! (ADR 019). Memory is bounded by two key slices per input, one column of the row group being
//! decoded and encoded, a few chunks' bytes in flight and the largest trace, never by the size
//! of a block or by the number of columns.
//!
//! Per trace ID the copies of every input are combined (`combine`): spans with the same span ID
//! and kind (RF replicas, client retries) are kept once, the first copy in input order; a trace
//! whose spans came from several inputs gets its trace-level columns, depth-first order, parent
//! indexes and nested-set numbers recomputed as the writer computes them for a whole trace;
//! every other trace is copied row for row. Resource and scope references are remapped into
//! the output's tables (`remap`). Row groups are cut only between traces, as always.

mod columns;
mod combine;
mod cursor;
mod plan;
mod remap;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::schema::{self as s, arrow_schema};
use super::writer::append::RowGroupAppender;
use super::writer::{BlockWriter, BlockWriterConfig, WrittenBlock};
use super::{BlockReader, RowSliceBatches};
use crate::block::meta::BlockMeta;
use crate::block::{DATA_OBJECT, corrupt, object_path};
use crate::error::{Error, Result};
use crate::worker_thread::WorkerThread;
use columns::{ColumnPass, FetchRequest, InputLayout, fetch_groups, field_leaves};
use combine::{Combined, combine, has_duplicates};
use cursor::{InputCursor, TraceRows};
use plan::PlanBuilder;
use remap::RefRemap;

/// The column pass fetches the inputs' rows of an output row group in about this many groups
/// of columns (see `columns::fetch_groups`).
const FETCH_GROUPS: u64 = 8;

/// ... but a group holds at least this many bytes of the inputs: a small merge fetches each
/// input's rows of an output row group in one go (one ranged read per input on small blocks).
const FETCH_GROUP_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// Pieces of output bytes (about a column chunk each) queued for the upload.
const OUTPUT_QUEUE: usize = 2;

/// How a merge reads and batches.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Rows of one input's key columns fetched at a time (only the pages holding them).
    pub slice_rows: usize,
    /// Rows per decoded batch of an input's key columns.
    pub batch_rows: usize,
    /// The column pass picks and encodes whole traces of about this many rows at a time.
    pub output_batch_rows: usize,
    /// Rows per decoded batch of one input column in the column pass.
    pub column_batch_rows: usize,
}

impl Default for MergeOptions {
    fn default() -> Self {
        // The key pass decodes ten columns per input, the column pass one column per input at
        // a time: neither holds every column of every input, so batches can be large (ADR 019).
        // The column pass holds a decoded batch of every input at once; 2,048 rows (not 8,192)
        // cut W5's peak RSS by ~70 MiB at a few percent of CPU (ADR 019, stop 21). Key slices
        // of 16,384 rows (not 65,536) hold a quarter of the key pages per input for the same
        // CPU (ADR 019, stop 22).
        MergeOptions {
            slice_rows: 16_384,
            batch_rows: 8192,
            output_batch_rows: 8192,
            column_batch_rows: 2048,
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
    let row_group_target_bytes = config.row_group_target_bytes.max(1);
    let mut writer = BlockWriter::new(output_store, config)?;
    let remap = RefRemap::build(tables.iter().map(Arc::as_ref), writer.tables_mut()?);
    drop(tables);
    let factory = writer.column_writer_factory()?;

    let schema = arrow_schema();
    let mut layouts = Vec::with_capacity(readers.len());
    let mut bytes_per_row = Vec::with_capacity(readers.len());
    let mut leaves: Option<Vec<Vec<usize>>> = None;
    for reader in &readers {
        let path = object_path(
            &reader.meta().tenant_id,
            &reader.meta().block_id,
            DATA_OBJECT,
        );
        let metadata = reader.parquet_metadata().await?;
        let these = field_leaves(metadata.file_metadata().schema_descr());
        if these.len() != schema.fields().len()
            || leaves.as_ref().is_some_and(|leaves| *leaves != these)
        {
            return Err(corrupt(&path, "columns differ from the vc1 schema"));
        }
        leaves.get_or_insert(these);
        let mut row_group_starts = vec![0u64];
        for group in metadata.row_groups() {
            let rows = u64::try_from(group.num_rows())
                .map_err(|_| corrupt(&path, "a row group has a negative row count"))?;
            row_group_starts.push(row_group_starts.last().copied().unwrap_or(0) + rows);
        }
        let rows = row_group_starts.last().copied().unwrap_or(0).max(1);
        bytes_per_row.push(reader.meta().size as f64 / rows as f64);
        layouts.push(InputLayout {
            path,
            row_group_starts,
        });
    }
    let leaves = leaves.unwrap_or_default();
    let groups = fetch_groups(
        &field_bytes(&readers, &leaves).await?,
        FETCH_GROUPS,
        FETCH_GROUP_MIN_BYTES,
    );
    let (key_schema, key_leaves) = key_columns(&schema, &leaves)?;

    let mut fetchers = JoinSet::new();
    let mut cursors = Vec::with_capacity(readers.len());
    let mut input_paths = Vec::with_capacity(readers.len());
    for (input, reader) in readers.iter().enumerate() {
        let slices = slice_plan(reader, options.slice_rows).await?;
        let (slices_tx, slices_rx) = mpsc::channel(1);
        input_paths.push(layouts[input].path.clone());
        cursors.push(InputCursor::new(
            input,
            layouts[input].path.clone(),
            slices_rx,
            slices.len(),
            key_schema.clone(),
        ));
        fetchers.spawn(fetch_slices(
            reader.clone(),
            slices,
            key_leaves.clone(),
            options.batch_rows,
            slices_tx,
        ));
    }
    let (fetch_tx, fetch_rx) = mpsc::channel(256);
    fetchers.spawn(serve_fetches(readers.clone(), fetch_rx));

    // Bytes of the output on their way to the upload: about a column chunk each.
    let (output_tx, mut output_rx) = mpsc::channel::<Bytes>(OUTPUT_QUEUE);
    let appender = writer.lend_encoder()?;
    let chunk_rows = options.output_batch_rows.max(1);
    let column_batch_rows = options.column_batch_rows.max(1);
    // The merge's decoding and encoding stay on one thread of its own (ADR 018).
    let merge_thread = WorkerThread::start("contrail-merge")?;
    let output_path_for_merge = output_path.clone();
    let merge = merge_thread.run(output_path.as_ref(), move || {
        let pass = ColumnPass {
            schema,
            leaves: &leaves,
            groups: &groups,
            inputs: &layouts,
            remap: &remap,
            factory: &factory,
            fetches: &fetch_tx,
            chunk_rows,
            batch_rows: column_batch_rows,
            output_path: &output_path_for_merge,
        };
        let mut loop_args = MergeLoop {
            input_paths: &input_paths,
            pass,
            bytes_per_row,
            row_group_target_bytes,
            appender,
            output_tx,
        };
        let counts = loop_args.run(cursors)?;
        Ok((counts, loop_args.appender))
    });
    let write = async {
        while let Some(bytes) = output_rx.recv().await {
            writer.upload(bytes).await?;
        }
        Ok::<_, Error>(())
    };
    let ((counts, appender), ()) = tokio::try_join!(merge, write)?;
    writer.take_back(appender);
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
    leaves: Vec<usize>,
    batch_rows: usize,
    slices_tx: mpsc::Sender<Result<RowSliceBatches>>,
) {
    for (row_group, rows) in slices {
        // The next slice is fetched only once the channel is empty: at most two slices of an
        // input are held (the one the merge decodes and the next), not three.
        let Ok(permit) = slices_tx.reserve().await else {
            return;
        };
        let fetched = reader
            .fetch_leaf_rows(row_group, leaves.clone(), rows, batch_rows)
            .await;
        let failed = fetched.is_err();
        permit.send(fetched);
        if failed {
            return;
        }
    }
}

/// The column pass's fetches: each request fetched concurrently, its pages handed back to the
/// merge thread. Ends when the merge drops its sender.
async fn serve_fetches(readers: Vec<Arc<BlockReader>>, mut requests: mpsc::Receiver<FetchRequest>) {
    let mut fetches = JoinSet::new();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                let Some(reader) = readers.get(request.input).cloned() else { continue };
                fetches.spawn(async move {
                    let fetched = reader
                        .fetch_row_pages(request.row_group, request.leaves, request.rows)
                        .await;
                    let _ = request.reply.send(fetched);
                });
            }
            Some(_) = fetches.join_next(), if !fetches.is_empty() => {}
        }
    }
}

/// Stored bytes of each top-level column, summed over the inputs' row groups.
async fn field_bytes(readers: &[Arc<BlockReader>], leaves: &[Vec<usize>]) -> Result<Vec<u64>> {
    let mut bytes = vec![0u64; leaves.len()];
    for reader in readers {
        let metadata = reader.parquet_metadata().await?;
        for group in metadata.row_groups() {
            for (field, field_leaves) in leaves.iter().enumerate() {
                for leaf in field_leaves {
                    if let Some(column) = group.columns().get(*leaf) {
                        bytes[field] += column.compressed_size().max(0) as u64;
                    }
                }
            }
        }
    }
    Ok(bytes)
}

/// The top-level columns the key pass reads (what combining traces needs) as a schema, and
/// their leaf columns.
fn key_columns(schema: &SchemaRef, leaves: &[Vec<usize>]) -> Result<(SchemaRef, Vec<usize>)> {
    let mut fields = Vec::new();
    for name in [
        s::TRACE_ID,
        s::TRACE_START,
        s::SPAN_ID,
        s::KIND,
        s::PARENT_INDEX,
        s::PARENT_SPAN_ID,
        s::START_OFFSET,
        s::DURATION,
        s::NAME,
        cursor::root_service_column().map_err(|error| Error::BlockTask {
            message: error.to_string(),
        })?,
    ] {
        fields.push(schema.index_of(name).map_err(|_| Error::BlockTask {
            message: format!("the vc1 schema has no column {name}"),
        })?);
    }
    fields.sort_unstable();
    let key_leaves = fields
        .iter()
        .flat_map(|field| leaves.get(*field).cloned().unwrap_or_default())
        .collect();
    let key_schema = schema.project(&fields).map_err(|error| Error::BlockTask {
        message: format!("key columns of the vc1 schema: {error}"),
    })?;
    Ok((Arc::new(key_schema), key_leaves))
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
    input_paths: &'a [Path],
    pass: ColumnPass<'a>,
    bytes_per_row: Vec<f64>,
    row_group_target_bytes: usize,
    appender: RowGroupAppender,
    output_tx: mpsc::Sender<Bytes>,
}

impl MergeLoop<'_> {
    fn run(&mut self, mut cursors: Vec<InputCursor>) -> Result<Counts> {
        let mut counts = Counts::default();
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (input, cursor) in cursors.iter_mut().enumerate() {
            if let Some(trace_id) = cursor.peek()? {
                heap.push(Reverse((trace_id, input)));
            }
        }
        let mut plan = PlanBuilder::new(self.bytes_per_row.clone());
        let mut row_groups = 0;
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
            self.add_trace(&copies, &mut plan, &mut counts)?;
            if plan.estimated_bytes() >= self.row_group_target_bytes as f64 {
                self.send(&mut plan, &mut row_groups)?;
            }
        }
        if plan.rows() > 0 {
            self.send(&mut plan, &mut row_groups)?;
        }
        counts.rows_read = cursors.iter().map(InputCursor::rows_read).sum();
        Ok(counts)
    }

    /// Builds, encodes and appends the planned row group, column chunk by column chunk, the
    /// bytes going to the upload as they are produced.
    fn send(&mut self, plan: &mut PlanBuilder, row_groups: &mut usize) -> Result<()> {
        let plan = plan.take();
        let output_tx = &self.output_tx;
        let ship = |bytes: Bytes| {
            if bytes.is_empty() {
                return Ok(());
            }
            output_tx
                .blocking_send(bytes)
                .map_err(|_| Error::BlockTask {
                    message: "the merge output writer stopped".to_owned(),
                })
        };
        let mut row_group = self.appender.begin(plan.rows.len(), &plan.traces)?;
        self.pass.write(&plan, *row_groups, &mut |chunk| {
            ship(row_group.append(chunk)?)
        })?;
        ship(row_group.close()?)?;
        *row_groups += 1;
        Ok(())
    }

    fn add_trace(
        &self,
        copies: &[TraceRows],
        output: &mut PlanBuilder,
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
