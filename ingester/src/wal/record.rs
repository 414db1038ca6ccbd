//! WAL record framing and payload (docs/adr/004-wal.md).
//!
//! A segment file starts with the 8-byte [`SEGMENT_HEADER`], then records:
//! `magic u32 LE | payload length u32 LE | crc32c(length bytes ++ payload) u32 LE | payload`.
//! The payload is one zstd frame holding a protobuf [`WalEntry`]: the tenant and, per trace, the
//! segment's header fields and its `tempopb.Trace` bytes exactly as they were pushed (copied,
//! never decoded or re-encoded).

use bytes::Bytes;
use contrail_proto::TenantId;
use contrail_proto::internal::v1::TraceSegment;
use prost::Message;

/// First bytes of every segment file (format version 1).
pub(crate) const SEGMENT_HEADER: &[u8; 8] = b"CTRLWAL1";
/// First bytes of every record ("CWR1").
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"CWR1";
/// Bytes before a record's payload: magic, length, checksum.
pub(crate) const RECORD_HEADER_BYTES: usize = 12;
/// Largest compressed payload accepted at replay (a push is far smaller).
pub(crate) const MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;
/// Largest decompressed payload accepted at replay.
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 1024 * 1024 * 1024;

/// The payload of one record: one push of one tenant.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WalEntry {
    #[prost(string, tag = "1")]
    pub(crate) tenant: String,
    #[prost(message, repeated, tag = "2")]
    pub(crate) traces: Vec<WalTrace>,
}

/// One trace segment of a push, with the header fields the ingester needs without decoding.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WalTrace {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) trace: Bytes,
    #[prost(fixed64, tag = "3")]
    pub(crate) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    pub(crate) end_time_unix_nano: u64,
    #[prost(uint32, tag = "5")]
    pub(crate) span_count: u32,
}

impl WalTrace {
    pub(crate) fn from_segment(segment: &TraceSegment) -> Self {
        WalTrace {
            trace_id: segment.trace_id.clone(),
            trace: segment.trace.clone(),
            start_time_unix_nano: segment.start_time_unix_nano,
            end_time_unix_nano: segment.end_time_unix_nano,
            span_count: segment.span_count,
        }
    }
}

thread_local! {
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd level of WAL payloads (measured in docs/adr/004-wal.md: level 1 compresses the corpus
/// about 5x at several hundred MB/s; higher levels cost more CPU on the ack path).
pub(crate) const ZSTD_LEVEL: i32 = 1;

/// One record as encoded for the WAL, with what the ingester holds of it.
#[derive(Debug)]
pub(crate) struct EncodedRecord {
    /// The framed record, as written to the segment file.
    pub(crate) framed: Vec<u8>,
    /// The zstd payload (the framed record without its header).
    pub(crate) compressed: Bytes,
    /// The payload before compression.
    pub(crate) raw: Bytes,
    /// Where each segment's `tempopb.Trace` bytes are in `raw`, in order.
    pub(crate) trace_ranges: Vec<std::ops::Range<usize>>,
}

/// Encodes one framed record for `tenant` holding `segments` (CPU work: run it off the async
/// runtime). The segment bytes are copied into the payload as they are; `trace_ranges` says
/// where.
pub(crate) fn encode_record<'a>(
    tenant: &TenantId,
    segments: impl Iterator<Item = &'a TraceSegment>,
) -> std::io::Result<EncodedRecord> {
    let entry = WalEntry {
        tenant: tenant.as_str().to_owned(),
        traces: segments.map(WalTrace::from_segment).collect(),
    };
    let (raw, trace_ranges) = encode_entry(&entry);
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
        }
        match slot.as_mut() {
            Some(compressor) => compressor.compress(&raw),
            None => Err(std::io::Error::other("zstd compressor missing")),
        }
    })?;
    let framed = frame(&compressed)?;
    Ok(EncodedRecord {
        framed,
        // A copy: the compressor's output has room for the worst case (about the payload's
        // size), and the held record must not keep that room.
        compressed: Bytes::copy_from_slice(&compressed),
        raw: Bytes::from(raw),
        trace_ranges,
    })
}

/// `entry` as protobuf (exactly `entry.encode_to_vec()`), and where each trace's bytes are.
fn encode_entry(entry: &WalEntry) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
    let mut raw = Vec::with_capacity(entry.encoded_len());
    let mut ranges = Vec::with_capacity(entry.traces.len());
    if !entry.tenant.is_empty() {
        prost::encoding::string::encode(1, &entry.tenant, &mut raw);
    }
    for trace in &entry.traces {
        encode_key(2, WireType::LengthDelimited, &mut raw);
        encode_varint(trace.encoded_len() as u64, &mut raw);
        // Fields are written in tag order and empty bytes are skipped: the trace bytes
        // follow the trace ID field and the trace field's key and length.
        let id_field = if trace.trace_id.is_empty() {
            0
        } else {
            prost::encoding::bytes::encoded_len(1, &trace.trace_id)
        };
        let start = if trace.trace.is_empty() {
            raw.len()
        } else {
            raw.len() + id_field + key_len(2) + encoded_len_varint(trace.trace.len() as u64)
        };
        trace.encode_raw(&mut raw);
        ranges.push(start..start + trace.trace.len());
    }
    (raw, ranges)
}

/// Frames a compressed payload: magic, length, checksum, payload.
pub(crate) fn frame(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|length| (*length as usize) <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| std::io::Error::other("wal record payload too large"))?;
    let length_bytes = length.to_le_bytes();
    let checksum = crc32c::crc32c_append(crc32c::crc32c(&length_bytes), payload);
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    record.extend_from_slice(&RECORD_MAGIC);
    record.extend_from_slice(&length_bytes);
    record.extend_from_slice(&checksum.to_le_bytes());
    record.extend_from_slice(payload);
    Ok(record)
}

/// Why the bytes at an offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer bytes remain than the header or the payload needs.
    Truncated,
    /// The record does not start with the magic.
    BadMagic,
    /// The length field is larger than any record Contrail writes.
    BadLength(u32),
    /// The checksum does not match.
    Checksum,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated => f.write_str("record extends past the end of the file"),
            FrameError::BadMagic => f.write_str("no record magic"),
            FrameError::BadLength(length) => write!(f, "implausible record length {length}"),
            FrameError::Checksum => f.write_str("crc32c mismatch"),
        }
    }
}

/// The payload of the record at `offset` of `data` and the offset just past it.
pub(crate) fn parse_frame(data: &[u8], offset: usize) -> Result<(&[u8], usize), FrameError> {
    let header = data
        .get(offset..offset + RECORD_HEADER_BYTES)
        .ok_or(FrameError::Truncated)?;
    if header[..4] != RECORD_MAGIC {
        return Err(FrameError::BadMagic);
    }
    let length_bytes = [header[4], header[5], header[6], header[7]];
    let length = u32::from_le_bytes(length_bytes);
    if length as usize > MAX_PAYLOAD_BYTES {
        return Err(FrameError::BadLength(length));
    }
    let checksum = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let start = offset + RECORD_HEADER_BYTES;
    let end = start + length as usize;
    let payload = data.get(start..end).ok_or(FrameError::Truncated)?;
    if crc32c::crc32c_append(crc32c::crc32c(&length_bytes), payload) != checksum {
        return Err(FrameError::Checksum);
    }
    Ok((payload, end))
}

/// The offset of the first valid record strictly after `offset`, if any (scans for the magic).
pub(crate) fn next_valid_frame(data: &[u8], offset: usize) -> Option<usize> {
    let mut from = offset + 1;
    while from + RECORD_HEADER_BYTES <= data.len() {
        let found = data[from..]
            .windows(RECORD_MAGIC.len())
            .position(|window| window == RECORD_MAGIC)?;
        let candidate = from + found;
        if parse_frame(data, candidate).is_ok() {
            return Some(candidate);
        }
        from = candidate + 1;
    }
    None
}

/// Decompresses and decodes a record payload. The entry's trace bytes are slices of the
/// returned uncompressed payload.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<(WalEntry, Bytes), String> {
    // `bulk::decompress` allocates the whole capacity, and the replayed payload is held: the
    // frame's own content size (written by `encode_record`) is the capacity.
    let capacity = match zstd::zstd_safe::get_frame_content_size(payload) {
        Ok(Some(size)) if size <= MAX_DECOMPRESSED_BYTES as u64 => size as usize,
        Ok(Some(size)) => return Err(format!("zstd: frame content size {size} too large")),
        Ok(None) | Err(_) => MAX_DECOMPRESSED_BYTES,
    };
    let mut raw =
        zstd::bulk::decompress(payload, capacity).map_err(|error| format!("zstd: {error}"))?;
    raw.shrink_to_fit();
    let raw = Bytes::from(raw);
    let entry = WalEntry::decode(raw.clone()).map_err(|error| format!("protobuf: {error}"))?;
    Ok((entry, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: u8, body: &[u8]) -> TraceSegment {
        TraceSegment {
            trace_id: Bytes::from(vec![id; 16]),
            trace: Bytes::copy_from_slice(body),
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            span_count: 3,
        }
    }

    #[test]
    fn a_record_round_trips_with_the_segment_bytes_unchanged() {
        let tenant = TenantId::new("acme").expect("tenant");
        let segments = [segment(1, b"first trace bytes"), segment(2, b"second")];
        let encoded = encode_record(&tenant, segments.iter()).expect("encode");
        let record = &encoded.framed;
        let (payload, end) = parse_frame(record, 0).expect("frame");
        assert_eq!(end, record.len());
        assert_eq!(payload, encoded.compressed.as_ref());
        let (entry, raw) = decode_payload(payload).expect("decode");
        assert_eq!(raw, encoded.raw);
        assert_eq!(entry.tenant, "acme");
        assert_eq!(entry.traces.len(), 2);
        assert_eq!(entry.traces[0].trace.as_ref(), b"first trace bytes");
        assert_eq!(entry.traces[1].trace_id.as_ref(), &[2u8; 16]);
        assert_eq!(entry.traces[1].span_count, 3);
        for (range, segment) in encoded.trace_ranges.iter().zip(&segments) {
            assert_eq!(&raw[range.clone()], segment.trace.as_ref());
        }
    }

    /// The ranges hold for any trace-ID and body length, empty ones and multi-byte length
    /// varints included, and the payload is what prost itself writes.
    #[test]
    fn trace_ranges_point_at_the_segment_bytes() {
        for (id_len, body_len) in [(16, 1), (0, 5), (16, 0), (1, 127), (16, 128), (16, 70_000)] {
            let segments = [
                TraceSegment {
                    trace_id: Bytes::from(vec![7; id_len]),
                    trace: Bytes::from(vec![9; body_len]),
                    start_time_unix_nano: 0,
                    end_time_unix_nano: u64::MAX,
                    span_count: 0,
                },
                segment(3, b"after"),
            ];
            let entry = WalEntry {
                tenant: "t".to_owned(),
                traces: segments.iter().map(WalTrace::from_segment).collect(),
            };
            let (raw, ranges) = encode_entry(&entry);
            assert_eq!(raw, entry.encode_to_vec(), "{id_len}/{body_len}");
            for (range, segment) in ranges.iter().zip(&segments) {
                assert_eq!(
                    &raw[range.clone()],
                    segment.trace.as_ref(),
                    "{id_len}/{body_len}"
                );
            }
        }
    }

    #[test]
    fn damaged_frames_are_classified() {
        let record = frame(b"payload").expect("frame");
        assert_eq!(
            parse_frame(&record[..record.len() - 1], 0),
            Err(FrameError::Truncated)
        );
        let mut flipped = record.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert_eq!(parse_frame(&flipped, 0), Err(FrameError::Checksum));
        let mut bad_length = record.clone();
        bad_length[4] ^= 0x01;
        assert!(parse_frame(&bad_length, 0).is_err());
        assert_eq!(parse_frame(&[0u8; 16], 0), Err(FrameError::BadMagic));
        let mut two = flipped.clone();
        let second_at = two.len();
        two.extend_from_slice(&record);
        assert_eq!(next_valid_frame(&two, 0), Some(second_at));
        assert_eq!(next_valid_frame(&flipped, 0), None);
    }
}
