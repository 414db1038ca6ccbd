//! The synchronous half of the block writer: rows, tables and the Parquet encoder writing into
//! an in-memory buffer, shared by the writer (`mod.rs`) and the merge's appender (`append.rs`).

use arrow::array::RecordBatch;
use bytes::Bytes;
use contrail_proto::TraceId;
use object_store::path::Path;
use parquet::file::metadata::{KeyValue, ParquetMetaData};

use crate::block::meta::RowGroupMeta;
use crate::block::v1::convert::to_rows::{SpanBatchBuilder, TraceSummary};
use crate::block::v1::convert::{EncodedTrace, RefTables, Trace};
use crate::block::v1::parquet_sink::ParquetSink;
use crate::error::{Error, Result};

pub(super) struct RowGroupAccumulator {
    pub(super) min_id: TraceId,
    pub(super) max_id: TraceId,
    pub(super) traces: u64,
    pub(super) spans: u64,
    pub(super) start: u64,
    pub(super) end: u64,
}

impl RowGroupAccumulator {
    pub(super) fn meta(self, size: u64) -> RowGroupMeta {
        RowGroupMeta {
            min_id: self.min_id,
            max_id: self.max_id,
            traces: self.traces,
            spans: self.spans,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            size,
        }
    }
}

/// One trace waiting to be encoded: decoded OTLP, or segments indexed by the wire path.
pub(super) enum PendingTrace {
    Decoded(Trace),
    Encoded(EncodedTrace),
}

impl PendingTrace {
    pub(super) fn trace_id(&self) -> TraceId {
        match self {
            PendingTrace::Decoded(trace) => trace.trace_id,
            PendingTrace::Encoded(trace) => trace.trace_id(),
        }
    }
}

/// The synchronous half of the writer: rows, tables and the Parquet encoder writing into an
/// in-memory buffer. Lives on the writer's thread while it works.
pub(super) struct EncodeState {
    pub(super) parquet: ParquetSink,
    pub(super) rows: SpanBatchBuilder,
    pub(super) tables: RefTables,
    pub(super) row_groups: Vec<RowGroupMeta>,
    pub(super) current: Option<RowGroupAccumulator>,
    pub(super) row_group_target_bytes: usize,
}

impl EncodeState {
    pub(super) fn record(&mut self, trace_id: TraceId, summary: TraceSummary) {
        let spans = summary.spans as u64;
        match &mut self.current {
            Some(current) => {
                current.max_id = trace_id;
                current.traces += 1;
                current.spans += spans;
                current.start = current.start.min(summary.start_unix_nano);
                current.end = current.end.max(summary.end_unix_nano);
            }
            None => {
                self.current = Some(RowGroupAccumulator {
                    min_id: trace_id,
                    max_id: trace_id,
                    traces: 1,
                    spans,
                    start: summary.start_unix_nano,
                    end: summary.end_unix_nano,
                })
            }
        }
    }

    /// Encodes `traces`; returns the bytes of `data.parquet` produced so far.
    pub(super) fn encode(&mut self, traces: Vec<PendingTrace>, data_path: &Path) -> Result<Bytes> {
        for trace in &traces {
            let summary = match trace {
                PendingTrace::Decoded(trace) => {
                    self.rows
                        .append_trace(&trace.trace_id, &trace.resource_spans, &mut self.tables)
                }
                PendingTrace::Encoded(trace) => self.rows.append_encoded(trace, &mut self.tables),
            }
            .map_err(|error| Error::InvalidBlockInput {
                message: error.to_string(),
            })?;
            self.record(trace.trace_id(), summary);
        }
        // The input is freed here, before the (larger) encoded pages are built.
        drop(traces);
        let batch = self.rows.finish().map_err(|error| Error::BlockTask {
            message: format!("build rows for {data_path}: {error}"),
        })?;
        self.write_batch(&batch, data_path)
    }

    /// Writes rows that hold whole traces, then cuts the row group if it is big enough.
    pub(super) fn write_batch(&mut self, batch: &RecordBatch, data_path: &Path) -> Result<Bytes> {
        self.parquet
            .write(batch)
            .map_err(|source| write_error(data_path, source))?;
        if self.parquet.in_progress_size() >= self.row_group_target_bytes {
            self.flush_row_group(data_path)?;
        }
        Ok(self.take_output())
    }

    pub(super) fn flush_row_group(&mut self, data_path: &Path) -> Result<()> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        self.parquet
            .flush()
            .map_err(|source| write_error(data_path, source))?;
        self.current = Some(current);
        self.record_row_group();
        Ok(())
    }

    /// Records the meta of the row group just written (from the traces recorded for it).
    pub(super) fn record_row_group(&mut self) {
        let size = self
            .parquet
            .flushed_row_groups()
            .last()
            .map(|row_group| row_group.compressed_size().max(0) as u64)
            .unwrap_or_default();
        if let Some(current) = self.current.take() {
            self.row_groups.push(current.meta(size));
        }
    }

    /// The last row group, the tables and the footer; returns the metadata, the rest of the
    /// bytes and the file size.
    pub(super) fn finish(&mut self, data_path: &Path) -> Result<(ParquetMetaData, Bytes, u64)> {
        self.flush_row_group(data_path)?;
        let footer = self.tables.to_footer().map_err(|error| Error::BlockTask {
            message: error.to_string(),
        })?;
        for (key, value) in footer {
            self.parquet
                .append_key_value_metadata(KeyValue::new(key, value));
        }
        let metadata = self
            .parquet
            .finish()
            .map_err(|source| write_error(data_path, source))?;
        let size = self.parquet.bytes_written() as u64;
        Ok((metadata, self.take_output(), size))
    }

    /// Takes the bytes the Parquet writer has written out (pages of flushed row groups).
    pub(super) fn take_output(&mut self) -> Bytes {
        Bytes::from(self.parquet.take_output())
    }
}

pub(super) fn write_error(data_path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::BlockWrite {
        object: data_path.to_string(),
        source,
    }
}
