//! Column-chunk dictionaries: when every data page of a chunk is dictionary-encoded, the
//! dictionary page lists every distinct value of the chunk, so a predicate that no dictionary
//! value satisfies rules the whole chunk out after reading one small page and decoding none of
//! its data pages.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::serialized_reader::SerializedPageReader;

use super::predicate::{ColumnPredicate, StatValue};
use super::sparse::SparseFile;

/// The distinct values of a dictionary-encoded column chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum Dictionary {
    Bytes(Vec<Bytes>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Dictionary {
    /// Whether some dictionary value satisfies `predicate`.
    pub fn any_matches(&self, predicate: &ColumnPredicate) -> bool {
        match self {
            Dictionary::Bytes(values) => values
                .iter()
                .any(|value| predicate.matches(StatValue::Bytes(value))),
            Dictionary::Int(values) => values
                .iter()
                .any(|value| predicate.matches(StatValue::Int(*value))),
            Dictionary::Float(values) => values
                .iter()
                .any(|value| predicate.matches(StatValue::Float(*value))),
        }
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        match self {
            Dictionary::Bytes(values) => values.len(),
            Dictionary::Int(values) => values.len(),
            Dictionary::Float(values) => values.len(),
        }
    }

    /// `true` when the dictionary has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether every data page of the chunk is dictionary-encoded (so its dictionary holds every
/// value). Needs the page-encoding statistics that writers store in the footer.
pub fn is_fully_dictionary_encoded(chunk: &ColumnChunkMetaData) -> bool {
    chunk.dictionary_page_offset().is_some()
        && chunk.page_encoding_stats_mask().is_some_and(|mask| {
            mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY)
        })
}

/// The bytes of the chunk's dictionary page (from its offset to the first data page).
pub fn dictionary_range(chunk: &ColumnChunkMetaData) -> Option<Range<u64>> {
    let start = u64::try_from(chunk.dictionary_page_offset()?).ok()?;
    let end = u64::try_from(chunk.data_page_offset()).ok()?;
    (start < end).then_some(start..end)
}

/// Decodes the dictionary page of `chunk` from `file` (which must hold [`dictionary_range`]).
/// `Ok(None)` when the chunk has no dictionary or its type has no comparable values.
pub fn read_dictionary(
    file: &SparseFile,
    chunk: &ColumnChunkMetaData,
    unsigned: bool,
) -> Result<Option<Dictionary>, ParquetError> {
    let Some(range) = dictionary_range(chunk) else {
        return Ok(None);
    };
    if parquet::file::reader::ChunkReader::get_bytes(file, range.start, 0).is_err() {
        return Err(ParquetError::General(format!(
            "dictionary page at {} was not fetched",
            range.start
        )));
    }
    let mut reader = SerializedPageReader::new(
        Arc::new(file.clone()),
        chunk,
        usize::try_from(chunk.num_values()).unwrap_or(0),
        None,
    )?;
    let Some(page) = reader.get_next_page()? else {
        return Ok(None);
    };
    let Page::DictionaryPage {
        buf, num_values, ..
    } = page
    else {
        return Ok(None);
    };
    decode_plain(chunk.column_type(), &buf, num_values as usize, unsigned)
}

fn decode_plain(
    physical: PhysicalType,
    buf: &Bytes,
    count: usize,
    unsigned: bool,
) -> Result<Option<Dictionary>, ParquetError> {
    let corrupt = || ParquetError::General("dictionary page shorter than its values".into());
    match physical {
        PhysicalType::BYTE_ARRAY => {
            let mut values = Vec::with_capacity(count);
            let mut position = 0usize;
            for _ in 0..count {
                let header = buf.get(position..position + 4).ok_or_else(corrupt)?;
                let length =
                    u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
                position += 4;
                if position + length > buf.len() {
                    return Err(corrupt());
                }
                values.push(buf.slice(position..position + length));
                position += length;
            }
            Ok(Some(Dictionary::Bytes(values)))
        }
        PhysicalType::INT32 => {
            let bytes = buf.get(..count * 4).ok_or_else(corrupt)?;
            Ok(Some(Dictionary::Int(
                bytes
                    .chunks_exact(4)
                    .map(|raw| {
                        let value = i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
                        if unsigned {
                            i64::from(value as u32)
                        } else {
                            i64::from(value)
                        }
                    })
                    .collect(),
            )))
        }
        PhysicalType::INT64 => {
            let bytes = buf.get(..count * 8).ok_or_else(corrupt)?;
            let values: Vec<i64> = bytes
                .chunks_exact(8)
                .map(|raw| {
                    let mut array = [0u8; 8];
                    array.copy_from_slice(raw);
                    i64::from_le_bytes(array)
                })
                .collect();
            if unsigned && values.iter().any(|value| *value < 0) {
                return Ok(None);
            }
            Ok(Some(Dictionary::Int(values)))
        }
        PhysicalType::DOUBLE => {
            let bytes = buf.get(..count * 8).ok_or_else(corrupt)?;
            Ok(Some(Dictionary::Float(
                bytes
                    .chunks_exact(8)
                    .map(|raw| {
                        let mut array = [0u8; 8];
                        array.copy_from_slice(raw);
                        f64::from_le_bytes(array)
                    })
                    .collect(),
            )))
        }
        _ => Ok(None),
    }
}
