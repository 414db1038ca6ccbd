//! The Parquet encoder behind a block writer: an `ArrowWriter` while whole record batches are
//! written (the ingester's flush), a `SerializedFileWriter` once row groups arrive encoded
//! column by column (the compactor's merge, which encodes one column of a row group at a time
//! so that only that column's decoders and compressor are alive, and appends each column chunk
//! as soon as it is closed). Either writes into a [`SharedBuffer`] that the writer drains while
//! a row group is still open, so the bytes of a whole row group are never held twice.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{KeyValue, ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};

/// The bytes a Parquet writer has written and nobody has taken yet. Clones share the buffer:
/// the writer owns one, the sink keeps another to take the bytes out while the writer (or a
/// row group writer borrowing it) is still in use.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Takes every byte written so far.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Column writers for row groups of a block written with `properties`: the writers whose
/// closed chunks an [`OpenRowGroup`] of a [`ParquetSink`] created with the same schema and
/// properties accepts.
pub(crate) fn column_writer_factory(
    schema: SchemaRef,
    properties: WriterProperties,
) -> ParquetResult<ArrowRowGroupWriterFactory> {
    let writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))?;
    let (_, factory) = writer.into_serialized_writer()?;
    Ok(factory)
}

/// The encoder of one `data.parquet`, writing into an in-memory buffer.
pub(crate) struct ParquetSink {
    writer: SinkWriter,
    output: SharedBuffer,
}

enum SinkWriter {
    Arrow(ArrowWriter<SharedBuffer>),
    Columns(SerializedFileWriter<SharedBuffer>),
    /// Left behind by a conversion that failed.
    Failed,
}

/// A row group being appended column chunk by column chunk ([`ParquetSink::open_row_group`]).
pub(crate) struct OpenRowGroup<'a> {
    writer: SerializedRowGroupWriter<'a, SharedBuffer>,
    output: SharedBuffer,
}

impl OpenRowGroup<'_> {
    /// Appends the next column chunk (schema order); returns the bytes written out so far.
    pub(crate) fn append(&mut self, chunk: ArrowColumnChunk) -> ParquetResult<Vec<u8>> {
        chunk.append_to_row_group(&mut self.writer)?;
        Ok(self.output.take())
    }

    /// Closes the row group (every column appended); returns its compressed size and the bytes
    /// written out since the last append.
    pub(crate) fn close(self) -> ParquetResult<(u64, Vec<u8>)> {
        let metadata = self.writer.close()?;
        Ok((metadata.compressed_size().max(0) as u64, self.output.take()))
    }
}

impl ParquetSink {
    pub(crate) fn try_new(schema: SchemaRef, properties: WriterProperties) -> ParquetResult<Self> {
        let output = SharedBuffer::default();
        Ok(ParquetSink {
            writer: SinkWriter::Arrow(ArrowWriter::try_new(
                output.clone(),
                schema,
                Some(properties),
            )?),
            output,
        })
    }

    fn failed() -> ParquetError {
        ParquetError::General("the parquet writer failed earlier".to_owned())
    }

    /// Encodes `batch` into the row group in progress.
    pub(crate) fn write(&mut self, batch: &arrow::array::RecordBatch) -> ParquetResult<()> {
        match &mut self.writer {
            SinkWriter::Arrow(writer) => writer.write(batch),
            SinkWriter::Columns(_) => Err(ParquetError::General(
                "record batches written after row groups encoded by column".to_owned(),
            )),
            SinkWriter::Failed => Err(Self::failed()),
        }
    }

    /// Encoded size of the row group in progress (0 when row groups arrive encoded).
    pub(crate) fn in_progress_size(&self) -> usize {
        match &self.writer {
            SinkWriter::Arrow(writer) => writer.in_progress_size(),
            _ => 0,
        }
    }

    /// Closes the row group in progress, if any.
    pub(crate) fn flush(&mut self) -> ParquetResult<()> {
        match &mut self.writer {
            SinkWriter::Arrow(writer) => writer.flush(),
            SinkWriter::Columns(_) => Ok(()),
            SinkWriter::Failed => Err(Self::failed()),
        }
    }

    /// Starts a row group whose column chunks are appended one by one, as they are encoded
    /// (the row group in progress, if any, must have been flushed).
    pub(crate) fn open_row_group(&mut self) -> ParquetResult<OpenRowGroup<'_>> {
        if let SinkWriter::Arrow(_) = self.writer {
            let SinkWriter::Arrow(writer) = std::mem::replace(&mut self.writer, SinkWriter::Failed)
            else {
                unreachable!("matched above");
            };
            let (writer, _) = writer.into_serialized_writer()?;
            self.writer = SinkWriter::Columns(writer);
        }
        let SinkWriter::Columns(writer) = &mut self.writer else {
            return Err(Self::failed());
        };
        Ok(OpenRowGroup {
            writer: writer.next_row_group()?,
            output: self.output.clone(),
        })
    }

    pub(crate) fn flushed_row_groups(&self) -> &[RowGroupMetaData] {
        match &self.writer {
            SinkWriter::Arrow(writer) => writer.flushed_row_groups(),
            SinkWriter::Columns(writer) => writer.flushed_row_groups(),
            SinkWriter::Failed => &[],
        }
    }

    pub(crate) fn append_key_value_metadata(&mut self, metadata: KeyValue) {
        match &mut self.writer {
            SinkWriter::Arrow(writer) => writer.append_key_value_metadata(metadata),
            SinkWriter::Columns(writer) => writer.append_key_value_metadata(metadata),
            SinkWriter::Failed => {}
        }
    }

    /// Writes the footer.
    pub(crate) fn finish(&mut self) -> ParquetResult<ParquetMetaData> {
        match &mut self.writer {
            SinkWriter::Arrow(writer) => writer.finish(),
            SinkWriter::Columns(writer) => writer.finish(),
            SinkWriter::Failed => Err(Self::failed()),
        }
    }

    pub(crate) fn bytes_written(&self) -> usize {
        match &self.writer {
            SinkWriter::Arrow(writer) => writer.bytes_written(),
            SinkWriter::Columns(writer) => writer.bytes_written(),
            SinkWriter::Failed => 0,
        }
    }

    /// Takes the bytes written out so far.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        self.output.take()
    }
}
