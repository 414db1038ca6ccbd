//! The Parquet encoder behind a block writer: an `ArrowWriter` while whole record batches are
//! written (the ingester's flush), a `SerializedFileWriter` once row groups arrive already
//! encoded column by column (the compactor's merge, which encodes one column of a row group at
//! a time so that only that column's decoders and compressor are alive).

use arrow::datatypes::SchemaRef;
use contrail_proto::TraceId;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{KeyValue, ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::block::v1::convert::to_rows::TraceSummary;

/// One row group encoded column by column ([`column_writer_factory`]'s writers, closed in
/// schema order), with what the block writer records of each of its traces, in row order.
pub(crate) struct EncodedRowGroup {
    /// Every leaf column's chunk, in Parquet schema order.
    pub(crate) chunks: Vec<ArrowColumnChunk>,
    /// Rows of the row group.
    pub(crate) rows: usize,
    /// Each trace of the row group with its span count and time range.
    pub(crate) traces: Vec<(TraceId, TraceSummary)>,
}

/// Column writers for row groups of a block written with `properties`: the writers a
/// [`ParquetSink`] created with the same schema and properties accepts as
/// [`EncodedRowGroup`]s.
pub(crate) fn column_writer_factory(
    schema: SchemaRef,
    properties: WriterProperties,
) -> ParquetResult<ArrowRowGroupWriterFactory> {
    let writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))?;
    let (_, factory) = writer.into_serialized_writer()?;
    Ok(factory)
}

/// The encoder of one `data.parquet`, writing into an in-memory buffer.
pub(crate) enum ParquetSink {
    Arrow(ArrowWriter<Vec<u8>>),
    Columns(SerializedFileWriter<Vec<u8>>),
    /// Left behind by a conversion that failed.
    Failed,
}

impl ParquetSink {
    pub(crate) fn try_new(schema: SchemaRef, properties: WriterProperties) -> ParquetResult<Self> {
        Ok(ParquetSink::Arrow(ArrowWriter::try_new(
            Vec::new(),
            schema,
            Some(properties),
        )?))
    }

    fn failed() -> ParquetError {
        ParquetError::General("the parquet writer failed earlier".to_owned())
    }

    /// Encodes `batch` into the row group in progress.
    pub(crate) fn write(&mut self, batch: &arrow::array::RecordBatch) -> ParquetResult<()> {
        match self {
            ParquetSink::Arrow(writer) => writer.write(batch),
            ParquetSink::Columns(_) => Err(ParquetError::General(
                "record batches written after row groups encoded by column".to_owned(),
            )),
            ParquetSink::Failed => Err(Self::failed()),
        }
    }

    /// Encoded size of the row group in progress (0 when row groups arrive encoded).
    pub(crate) fn in_progress_size(&self) -> usize {
        match self {
            ParquetSink::Arrow(writer) => writer.in_progress_size(),
            _ => 0,
        }
    }

    /// Closes the row group in progress, if any.
    pub(crate) fn flush(&mut self) -> ParquetResult<()> {
        match self {
            ParquetSink::Arrow(writer) => writer.flush(),
            ParquetSink::Columns(_) => Ok(()),
            ParquetSink::Failed => Err(Self::failed()),
        }
    }

    /// Appends a row group whose columns are encoded already (the row group in progress, if
    /// any, must have been flushed).
    pub(crate) fn append_row_group(&mut self, chunks: Vec<ArrowColumnChunk>) -> ParquetResult<()> {
        if let ParquetSink::Arrow(_) = self {
            let ParquetSink::Arrow(writer) = std::mem::replace(self, ParquetSink::Failed) else {
                unreachable!("matched above");
            };
            let (writer, _) = writer.into_serialized_writer()?;
            *self = ParquetSink::Columns(writer);
        }
        let ParquetSink::Columns(writer) = self else {
            return Err(Self::failed());
        };
        // The buffer grows once to the row group's size instead of doubling up to twice it.
        let bytes: u64 = chunks.iter().map(|chunk| chunk.close().bytes_written).sum();
        writer
            .inner_mut()
            .reserve(usize::try_from(bytes).unwrap_or(0));
        let mut row_group = writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    pub(crate) fn flushed_row_groups(&self) -> &[RowGroupMetaData] {
        match self {
            ParquetSink::Arrow(writer) => writer.flushed_row_groups(),
            ParquetSink::Columns(writer) => writer.flushed_row_groups(),
            ParquetSink::Failed => &[],
        }
    }

    pub(crate) fn append_key_value_metadata(&mut self, metadata: KeyValue) {
        match self {
            ParquetSink::Arrow(writer) => writer.append_key_value_metadata(metadata),
            ParquetSink::Columns(writer) => writer.append_key_value_metadata(metadata),
            ParquetSink::Failed => {}
        }
    }

    /// Writes the footer.
    pub(crate) fn finish(&mut self) -> ParquetResult<ParquetMetaData> {
        match self {
            ParquetSink::Arrow(writer) => writer.finish(),
            ParquetSink::Columns(writer) => writer.finish(),
            ParquetSink::Failed => Err(Self::failed()),
        }
    }

    pub(crate) fn bytes_written(&self) -> usize {
        match self {
            ParquetSink::Arrow(writer) => writer.bytes_written(),
            ParquetSink::Columns(writer) => writer.bytes_written(),
            ParquetSink::Failed => 0,
        }
    }

    /// Takes the bytes written out so far.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        match self {
            ParquetSink::Arrow(writer) => std::mem::take(writer.inner_mut()),
            ParquetSink::Columns(writer) => std::mem::take(writer.inner_mut()),
            ParquetSink::Failed => Vec::new(),
        }
    }
}
