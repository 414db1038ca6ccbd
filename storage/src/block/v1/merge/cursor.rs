//! One input of a merge: its decoded batches, walked trace by trace on the merge thread.
//!
//! An async task per input fetches the input's row slices (`BlockReader::fetch_rows`) into a
//! bounded channel; the cursor decodes them on the merge thread and hands out whole traces as
//! runs of rows. A trace may continue from one batch (or slice) into the next; its runs then
//! span several batches.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow::array::{
    Array, BinaryArray, FixedSizeBinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow::datatypes::SchemaRef;
use contrail_proto::TraceId;
use object_store::path::Path;
use tokio::sync::mpsc;

use crate::block::corrupt;
use crate::block::v1::RowSliceBatches;
use crate::block::v1::convert::{RowsError, column};
use crate::block::v1::schema::{self as s, DedicatedScope, dedicated_of};
use crate::error::{Error, Result};

/// The columns a merge reads row by row, downcast once per batch.
pub(super) struct KeyColumns {
    pub(super) trace_id: FixedSizeBinaryArray,
    pub(super) trace_start: UInt64Array,
    pub(super) span_id: FixedSizeBinaryArray,
    pub(super) kind: Int32Array,
    pub(super) parent_index: Int32Array,
    pub(super) parent_span_id: BinaryArray,
    pub(super) start_offset: Int64Array,
    pub(super) duration: Int64Array,
    pub(super) name: StringArray,
    pub(super) service_name: StringArray,
}

impl KeyColumns {
    fn new(batch: &RecordBatch) -> Result<Self, RowsError> {
        Ok(KeyColumns {
            trace_id: column::<FixedSizeBinaryArray>(batch, s::TRACE_ID)?.clone(),
            trace_start: column::<UInt64Array>(batch, s::TRACE_START)?.clone(),
            span_id: column::<FixedSizeBinaryArray>(batch, s::SPAN_ID)?.clone(),
            kind: column::<Int32Array>(batch, s::KIND)?.clone(),
            parent_index: column::<Int32Array>(batch, s::PARENT_INDEX)?.clone(),
            parent_span_id: column::<BinaryArray>(batch, s::PARENT_SPAN_ID)?.clone(),
            start_offset: column::<Int64Array>(batch, s::START_OFFSET)?.clone(),
            duration: column::<Int64Array>(batch, s::DURATION)?.clone(),
            name: column::<StringArray>(batch, s::NAME)?.clone(),
            service_name: column::<StringArray>(batch, root_service_column()?)?.clone(),
        })
    }

    /// The span's start, unix nanoseconds (as the reader rebuilds it).
    pub(super) fn start(&self, row: usize) -> u64 {
        self.trace_start
            .value(row)
            .wrapping_add(self.start_offset.value(row) as u64)
    }

    /// The span's end, unix nanoseconds.
    pub(super) fn end(&self, row: usize) -> u64 {
        self.start(row)
            .wrapping_add(self.duration.value(row) as u64)
    }

    /// Span ID and kind: what makes two rows the same span (Zipkin shares span IDs between a
    /// client and a server span, which differ in kind).
    pub(super) fn span_key(&self, row: usize) -> (u64, i32) {
        let mut id = [0u8; 8];
        id.copy_from_slice(self.span_id.value(row));
        (u64::from_be_bytes(id), self.kind.value(row))
    }
}

/// The column the writer takes `root_service_name` from: the first resource dedicated column
/// (`service_name`), copied onto every span row of the resource.
pub(super) fn root_service_column() -> Result<&'static str, RowsError> {
    dedicated_of(DedicatedScope::Resource)
        .next()
        .map(|dedicated| dedicated.column)
        .ok_or_else(|| RowsError::new("the vc1 schema has no resource dedicated column"))
}

/// A decoded batch of one input.
pub(super) struct SourceBatch {
    /// The input's position in the merge.
    pub(super) input: usize,
    /// The input row of the batch's first row (counted from the input's first row).
    pub(super) first_row: u64,
    pub(super) columns: KeyColumns,
}

/// The rows of one trace in one input, in stored (depth-first) order.
pub(super) struct TraceRows {
    pub(super) input: usize,
    pub(super) trace_id: TraceId,
    pub(super) runs: Vec<(Arc<SourceBatch>, Range<usize>)>,
}

impl TraceRows {
    pub(super) fn rows(&self) -> usize {
        self.runs.iter().map(|(_, rows)| rows.len()).sum()
    }

    /// Every row as (batch, row), in order.
    pub(super) fn positions(&self) -> impl Iterator<Item = (&Arc<SourceBatch>, usize)> {
        self.runs
            .iter()
            .flat_map(|(batch, rows)| rows.clone().map(move |row| (batch, row)))
    }
}

/// Walks one input trace by trace.
pub(super) struct InputCursor {
    input: usize,
    path: Path,
    slices_rx: mpsc::Receiver<Result<RowSliceBatches>>,
    slices_left: usize,
    slice: Option<RowSliceBatches>,
    batch: Option<Arc<SourceBatch>>,
    row: usize,
    last_trace_id: Option<[u8; 16]>,
    rows_read: u64,
    schema: SchemaRef,
}

impl InputCursor {
    /// A cursor over `slices` row slices arriving on `slices_rx`; `path` names the input in
    /// errors.
    pub(super) fn new(
        input: usize,
        path: Path,
        slices_rx: mpsc::Receiver<Result<RowSliceBatches>>,
        slices: usize,
        schema: SchemaRef,
    ) -> Self {
        InputCursor {
            input,
            path,
            slices_rx,
            slices_left: slices,
            slice: None,
            batch: None,
            row: 0,
            last_trace_id: None,
            rows_read: 0,
            schema,
        }
    }

    /// Rows decoded so far.
    pub(super) fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The trace ID at the cursor, or `None` at the end of the input.
    pub(super) fn peek(&mut self) -> Result<Option<[u8; 16]>> {
        if !self.ensure_row()? {
            return Ok(None);
        }
        Ok(self.current_trace_id())
    }

    fn current_trace_id(&self) -> Option<[u8; 16]> {
        let batch = self.batch.as_ref()?;
        let mut id = [0u8; 16];
        id.copy_from_slice(batch.columns.trace_id.value(self.row));
        Some(id)
    }

    /// Takes every row of the trace at the cursor (which must not be at the end).
    pub(super) fn take_trace(&mut self) -> Result<TraceRows> {
        let Some(trace_id) = self.peek()? else {
            return Err(Error::BlockTask {
                message: format!("merge read past the end of {}", self.path),
            });
        };
        if let Some(last) = self.last_trace_id
            && last >= trace_id
        {
            return Err(corrupt(
                &self.path,
                format!(
                    "trace {} follows trace {}: rows are not sorted by trace ID",
                    hex::encode(trace_id),
                    hex::encode(last)
                ),
            ));
        }
        self.last_trace_id = Some(trace_id);
        let mut runs = Vec::new();
        loop {
            let Some(batch) = self.batch.clone() else {
                break;
            };
            let ids = &batch.columns.trace_id;
            let start = self.row;
            let mut end = start;
            while end < ids.len() && ids.value(end) == trace_id {
                end += 1;
            }
            runs.push((batch.clone(), start..end));
            self.row = end;
            if end < ids.len() || !self.ensure_row()? || self.current_trace_id() != Some(trace_id) {
                break;
            }
        }
        let trace_id =
            TraceId::from_bytes(&trace_id).map_err(|error| corrupt(&self.path, error))?;
        Ok(TraceRows {
            input: self.input,
            trace_id,
            runs,
        })
    }

    /// Moves to a row that exists, decoding the next batch if needed; false at the end.
    fn ensure_row(&mut self) -> Result<bool> {
        loop {
            if let Some(batch) = &self.batch
                && self.row < batch.columns.trace_id.len()
            {
                return Ok(true);
            }
            self.batch = None;
            self.row = 0;
            match self.next_batch()? {
                Some(batch) => self.batch = Some(batch),
                None => return Ok(false),
            }
        }
    }

    fn next_batch(&mut self) -> Result<Option<Arc<SourceBatch>>> {
        loop {
            if let Some(slice) = self.slice.as_mut() {
                // A decoder must never take the process down on bad data.
                let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| slice.next()))
                    .map_err(|_| corrupt(&self.path, "decoder panicked"))?;
                match decoded {
                    Some(Ok(batch)) if batch.num_rows() == 0 => continue,
                    Some(Ok(batch)) => return self.source_batch(batch).map(Some),
                    Some(Err(error)) => return Err(error),
                    None => self.slice = None,
                }
            }
            if self.slices_left == 0 {
                return Ok(None);
            }
            match self.slices_rx.blocking_recv() {
                Some(Ok(slice)) => {
                    self.slices_left -= 1;
                    self.slice = Some(slice);
                }
                Some(Err(error)) => return Err(error),
                None => {
                    return Err(Error::BlockTask {
                        message: format!("the reader of {} stopped", self.path),
                    });
                }
            }
        }
    }

    fn source_batch(&mut self, batch: RecordBatch) -> Result<Arc<SourceBatch>> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(corrupt(&self.path, "columns differ from the vc1 schema"));
        }
        let columns = KeyColumns::new(&batch).map_err(|error| corrupt(&self.path, error))?;
        let first_row = self.rows_read;
        self.rows_read += batch.num_rows() as u64;
        Ok(Arc::new(SourceBatch {
            input: self.input,
            first_row,
            columns,
        }))
    }
}
