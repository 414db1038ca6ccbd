//! A block writer's encoder lent to a merge's thread: the merge encodes an output row group one
//! column at a time and appends each closed column chunk at once, and the bytes produced go to
//! the writer's upload while the merge goes on (ADR 019), so that neither the row group's
//! chunks nor its encoded bytes are ever held whole.

use bytes::Bytes;
use contrail_proto::TraceId;
use object_store::path::Path;
use parquet::arrow::arrow_writer::ArrowColumnChunk;

use super::encode::{EncodeState, RowGroupAccumulator, write_error};
use crate::block::meta::RowGroupMeta;
use crate::block::v1::convert::to_rows::TraceSummary;
use crate::block::v1::parquet_sink::OpenRowGroup;
use crate::error::{Error, Result};

/// A block writer's encoder lent to a merge's thread ([`BlockWriter::lend_encoder`]): each row
/// group is appended a column chunk at a time, as the merge closes them, so that neither the
/// row group's chunks nor its bytes are held whole.
pub(crate) struct RowGroupAppender {
    pub(super) state: Box<EncodeState>,
    pub(super) data_path: Path,
    /// The last trace before this appender's (pushed to the writer earlier).
    pub(super) last_trace: Option<TraceId>,
    pub(super) trace_ids: Vec<TraceId>,
    pub(super) spans: u64,
}

impl RowGroupAppender {
    /// Starts a row group of `rows` rows holding `traces` (whole traces, in row order, trace
    /// IDs increasing across row groups, none empty).
    pub(crate) fn begin(
        &mut self,
        rows: usize,
        traces: &[(TraceId, TraceSummary)],
    ) -> Result<AppendingRowGroup<'_>> {
        let spans: usize = traces.iter().map(|(_, summary)| summary.spans).sum();
        if spans != rows || spans == 0 {
            return Err(Error::InvalidBlockInput {
                message: format!("a row group of {rows} rows pushed with traces of {spans} spans"),
            });
        }
        for (trace_id, summary) in traces {
            if let Some(last) = self.trace_ids.last().or(self.last_trace.as_ref())
                && *last >= *trace_id
            {
                return Err(Error::InvalidBlockInput {
                    message: format!("trace {trace_id} pushed after trace {last}"),
                });
            }
            if summary.spans == 0 {
                return Err(Error::InvalidBlockInput {
                    message: format!("trace {trace_id} has no spans"),
                });
            }
            self.trace_ids.push(*trace_id);
        }
        self.spans += spans as u64;
        let state = &mut *self.state;
        // Rows written as batches before (none in a merge) close their own row group first.
        state.flush_row_group(&self.data_path)?;
        for &(trace_id, summary) in traces {
            state.record(trace_id, summary);
        }
        let EncodeState {
            parquet,
            current,
            row_groups,
            ..
        } = state;
        let writer = parquet
            .open_row_group()
            .map_err(|source| write_error(&self.data_path, source))?;
        Ok(AppendingRowGroup {
            writer,
            current,
            row_groups,
            data_path: &self.data_path,
        })
    }
}

/// One row group being appended ([`RowGroupAppender::begin`]).
pub(crate) struct AppendingRowGroup<'a> {
    writer: OpenRowGroup<'a>,
    current: &'a mut Option<RowGroupAccumulator>,
    row_groups: &'a mut Vec<RowGroupMeta>,
    data_path: &'a Path,
}

impl AppendingRowGroup<'_> {
    /// Appends the next column chunk (Parquet schema order); returns the bytes of
    /// `data.parquet` written out so far, for [`BlockWriter::upload`].
    pub(crate) fn append(&mut self, chunk: ArrowColumnChunk) -> Result<Bytes> {
        self.writer
            .append(chunk)
            .map(Bytes::from)
            .map_err(|source| write_error(self.data_path, source))
    }

    /// Closes the row group once every column is appended; returns the last bytes.
    pub(crate) fn close(self) -> Result<Bytes> {
        let (size, bytes) = self
            .writer
            .close()
            .map_err(|source| write_error(self.data_path, source))?;
        if let Some(current) = self.current.take() {
            self.row_groups.push(current.meta(size));
        }
        Ok(Bytes::from(bytes))
    }
}
