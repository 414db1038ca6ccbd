//! How pushed trace bytes are held in memory: per WAL record, the zstd payload the WAL wrote
//! ([`PackedRecord`]), plus the uncompressed payload while it is among the newest
//! `max_uncompressed_bytes_in_memory` bytes ([`RawBudget`]). A trace's chunk is a range of its
//! record's uncompressed payload ([`ChunkBytes`]); a chunk whose record was evicted is
//! decompressed again when a block is written or a query needs it ([`Unpacker`]).
//!
//! At W1's rate (about 93 MB/s of pushes) the live traces of one 5 s idle period alone held
//! about 460 MB uncompressed; the WAL's zstd level 1 stores the same bytes about 7.7x smaller,
//! and it has already paid for that compression (docs/adr/007-block-writer-speed.md).
//!
//! [`HeldBytes`] counts what is held (compressed payloads, uncompressed copies, and the
//! decompressed bytes of blocks being written); pushes are refused against it.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use crate::wal::record::MAX_DECOMPRESSED_BYTES;

/// Bytes of traces held in memory, shared by every record and block write of an ingester.
#[derive(Debug, Default)]
pub(crate) struct HeldBytes(AtomicU64);

impl HeldBytes {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Adds `bytes`; returns the count before.
    pub(crate) fn add(&self, bytes: u64) -> u64 {
        self.0.fetch_add(bytes, Ordering::SeqCst)
    }

    pub(crate) fn sub(&self, bytes: u64) {
        // Saturating: a miscount must not wrap into "everything is full".
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                Some(held.saturating_sub(bytes))
            });
    }
}

/// One WAL record's payload as held in memory.
#[derive(Debug)]
pub(crate) struct PackedRecord {
    /// The zstd frame written to the WAL.
    compressed: Bytes,
    /// Its decompressed length.
    raw_len: usize,
    /// The decompressed payload, until [`RawBudget`] evicts it.
    raw: Mutex<Option<Bytes>>,
    held: Arc<HeldBytes>,
}

impl PackedRecord {
    /// A record holding both forms; adds them to `held`.
    pub(crate) fn new(compressed: Bytes, raw: Bytes, held: Arc<HeldBytes>) -> Arc<Self> {
        held.add((compressed.len() + raw.len()) as u64);
        Arc::new(PackedRecord {
            compressed,
            raw_len: raw.len(),
            raw: Mutex::new(Some(raw)),
            held,
        })
    }

    fn lock_raw(&self) -> std::sync::MutexGuard<'_, Option<Bytes>> {
        self.raw
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The uncompressed copy, if still kept.
    fn kept_raw(&self) -> Option<Bytes> {
        self.lock_raw().clone()
    }

    /// Drops the uncompressed copy (the compressed payload stays).
    fn evict_raw(&self) {
        if self.lock_raw().take().is_some() {
            self.held.sub(self.raw_len as u64);
        }
    }

    /// Decompresses the payload (CPU work).
    fn decompress(&self) -> Result<Bytes, String> {
        // The exact length as capacity: `bulk::decompress` allocates all of it.
        let raw =
            zstd::bulk::decompress(&self.compressed, self.raw_len.min(MAX_DECOMPRESSED_BYTES))
                .map_err(|error| format!("zstd: {error}"))?;
        if raw.len() != self.raw_len {
            return Err(format!(
                "decompressed {} bytes, expected {}",
                raw.len(),
                self.raw_len
            ));
        }
        Ok(Bytes::from(raw))
    }
}

impl Drop for PackedRecord {
    fn drop(&mut self) {
        let raw = if self.lock_raw().is_some() {
            self.raw_len
        } else {
            0
        };
        self.held.sub((self.compressed.len() + raw) as u64);
    }
}

/// One trace segment as held: a range of a record's payload, or bytes of its own.
#[derive(Debug, Clone)]
pub(crate) enum ChunkBytes {
    /// A range of a held record's uncompressed payload.
    Packed {
        record: Arc<PackedRecord>,
        range: Range<usize>,
    },
    /// Bytes held as they are (already unpacked for a query, or built in tests).
    Raw(Bytes),
}

impl ChunkBytes {
    /// Length of the segment bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            ChunkBytes::Packed { range, .. } => range.len(),
            ChunkBytes::Raw(bytes) => bytes.len(),
        }
    }
}

impl From<Bytes> for ChunkBytes {
    fn from(bytes: Bytes) -> Self {
        ChunkBytes::Raw(bytes)
    }
}

/// Records a query's [`Unpacker`] keeps decompressed: recent traces are read newest first, so
/// the traces of one record come together.
pub(crate) const QUERY_UNPACK_RECORDS: usize = 8;

/// Turns a query's chunks back into bytes, decompressing each evicted record once while it
/// stays among the last [`QUERY_UNPACK_RECORDS`] (block writes use [`unpack_block`]).
#[derive(Debug, Default)]
pub(crate) struct Unpacker {
    cache: HashMap<usize, Bytes>,
    order: VecDeque<usize>,
    /// Bytes decompressed (not counting records whose uncompressed copy was still kept).
    pub(crate) decompressed: u64,
}

impl Unpacker {
    /// A query's unpacker.
    pub(crate) fn for_query() -> Self {
        Unpacker::default()
    }

    /// The bytes of `chunk` (CPU work when its record must be decompressed).
    pub(crate) fn bytes(&mut self, chunk: &ChunkBytes) -> Result<Bytes, String> {
        let (record, range) = match chunk {
            ChunkBytes::Raw(bytes) => return Ok(bytes.clone()),
            ChunkBytes::Packed { record, range } => (record, range),
        };
        let raw = match record.kept_raw() {
            Some(raw) => raw,
            None => self.decompressed_raw(record)?,
        };
        if range.end > raw.len() {
            return Err(format!(
                "segment range {range:?} outside a {} byte record",
                raw.len()
            ));
        }
        Ok(raw.slice(range.clone()))
    }

    fn decompressed_raw(&mut self, record: &Arc<PackedRecord>) -> Result<Bytes, String> {
        let key = Arc::as_ptr(record) as usize;
        if let Some(raw) = self.cache.get(&key) {
            return Ok(raw.clone());
        }
        let raw = record.decompress()?;
        self.decompressed += raw.len() as u64;
        if self.cache.len() >= QUERY_UNPACK_RECORDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.cache.remove(&oldest);
        }
        self.cache.insert(key, raw.clone());
        self.order.push_back(key);
        Ok(raw)
    }

    /// The bytes of every chunk; chunks that cannot be unpacked are counted in `failed` and
    /// left out.
    pub(crate) fn all(&mut self, chunks: &[ChunkBytes], failed: &mut u64) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            match self.bytes(chunk) {
                Ok(bytes) => out.push(bytes),
                Err(error) => {
                    tracing::error!(error = %error, "cannot unpack a held trace segment");
                    *failed += 1;
                }
            }
        }
        out
    }
}

/// A block's segments, unpacked for its write.
#[derive(Debug, Default)]
pub(crate) struct UnpackedBlock {
    /// Per trace, its segments' bytes.
    pub(crate) traces: Vec<Vec<Bytes>>,
    /// Bytes this keeps alive beyond the held records: the copied segments, and the slices of
    /// uncompressed copies (which the budget may evict while the block is written).
    pub(crate) bytes: u64,
    /// Segments that could not be unpacked (left out).
    pub(crate) failed: u64,
}

/// A segment wanted from a record: trace, segment index, range in the record.
type Wanted = (usize, usize, Range<usize>);

enum Slot {
    Ready(Bytes),
    Copied(Range<usize>),
    Failed,
}

/// Unpacks the segments of a block's traces: each evicted record is decompressed once, and
/// only the block's own segments are copied out of it (into one buffer) before the next, so
/// that a write holds the block's bytes, not every record it touches whole.
pub(crate) fn unpack_block<'a>(traces: impl Iterator<Item = &'a [ChunkBytes]>) -> UnpackedBlock {
    let mut slots: Vec<Vec<Slot>> = Vec::new();
    let mut by_record: HashMap<usize, (Arc<PackedRecord>, Vec<Wanted>)> = HashMap::new();
    let mut bytes = 0u64;
    let mut pending = 0usize;
    for (trace, chunks) in traces.enumerate() {
        let mut row = Vec::with_capacity(chunks.len());
        for (index, chunk) in chunks.iter().enumerate() {
            match chunk {
                ChunkBytes::Raw(raw) => row.push(Slot::Ready(raw.clone())),
                ChunkBytes::Packed { record, range } => match record.kept_raw() {
                    Some(raw) if range.end <= raw.len() => {
                        bytes += range.len() as u64;
                        row.push(Slot::Ready(raw.slice(range.clone())));
                    }
                    _ => {
                        pending += range.len();
                        row.push(Slot::Failed);
                        by_record
                            .entry(Arc::as_ptr(record) as usize)
                            .or_insert_with(|| (record.clone(), Vec::new()))
                            .1
                            .push((trace, index, range.clone()));
                    }
                },
            }
        }
        slots.push(row);
    }
    let mut buffer: Vec<u8> = Vec::with_capacity(pending);
    for (record, wanted) in by_record.into_values() {
        let raw = match record.decompress() {
            Ok(raw) => raw,
            Err(error) => {
                tracing::error!(error = %error, "cannot unpack a held wal record");
                continue;
            }
        };
        for (trace, index, range) in wanted {
            if range.end <= raw.len() {
                let start = buffer.len();
                buffer.extend_from_slice(&raw[range]);
                slots[trace][index] = Slot::Copied(start..buffer.len());
            }
        }
    }
    bytes += buffer.len() as u64;
    let buffer = Bytes::from(buffer);
    let mut failed = 0u64;
    let traces = slots
        .into_iter()
        .map(|row| {
            row.into_iter()
                .filter_map(|slot| match slot {
                    Slot::Ready(bytes) => Some(bytes),
                    Slot::Copied(range) => Some(buffer.slice(range)),
                    Slot::Failed => {
                        failed += 1;
                        None
                    }
                })
                .collect()
        })
        .collect();
    UnpackedBlock {
        traces,
        bytes,
        failed,
    }
}

/// Keeps the uncompressed copies of the newest records up to a byte limit, evicting the
/// oldest first.
#[derive(Debug)]
pub(crate) struct RawBudget {
    limit: u64,
    state: Mutex<RawQueue>,
}

#[derive(Debug, Default)]
struct RawQueue {
    records: VecDeque<(Weak<PackedRecord>, u64)>,
    /// Sum of the queued records' uncompressed lengths (records dropped since included).
    bytes: u64,
}

impl RawBudget {
    pub(crate) fn new(limit: u64) -> Self {
        RawBudget {
            limit,
            state: Mutex::new(RawQueue::default()),
        }
    }

    /// Registers a new record and evicts the oldest uncompressed copies over the limit.
    pub(crate) fn admit(&self, record: &Arc<PackedRecord>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let raw_len = record.raw_len as u64;
        state.records.push_back((Arc::downgrade(record), raw_len));
        state.bytes += raw_len;
        while state.bytes > self.limit {
            let Some((oldest, len)) = state.records.pop_front() else {
                break;
            };
            state.bytes -= len;
            if let Some(oldest) = oldest.upgrade() {
                oldest.evict_raw();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(held: &Arc<HeldBytes>, body: &[u8]) -> Arc<PackedRecord> {
        let compressed = zstd::bulk::compress(body, 1).expect("compress");
        PackedRecord::new(
            Bytes::from(compressed),
            Bytes::copy_from_slice(body),
            held.clone(),
        )
    }

    #[test]
    fn evicted_records_are_decompressed_and_counted_once_per_cache() {
        let held = Arc::new(HeldBytes::default());
        let body = b"0123456789".repeat(100);
        let first = record(&held, &body);
        let compressed = first.compressed.len() as u64;
        assert_eq!(held.get(), compressed + 1000);
        let budget = RawBudget::new(1500);
        budget.admit(&first);
        assert!(first.kept_raw().is_some(), "under the limit");
        let second = record(&held, &body);
        budget.admit(&second);
        assert!(first.kept_raw().is_none(), "the oldest is evicted");
        assert!(second.kept_raw().is_some());
        assert_eq!(held.get(), 2 * compressed + 1000);

        let chunk = ChunkBytes::Packed {
            record: first.clone(),
            range: 10..25,
        };
        let mut unpacker = Unpacker::for_query();
        assert_eq!(unpacker.bytes(&chunk).expect("unpacks"), &body[10..25]);
        assert_eq!(unpacker.bytes(&chunk).expect("cached"), &body[10..25]);
        assert_eq!(unpacker.decompressed, 1000, "decompressed once");
        let kept = ChunkBytes::Packed {
            record: second.clone(),
            range: 0..5,
        };
        assert_eq!(unpacker.bytes(&kept).expect("kept"), &body[..5]);
        assert_eq!(
            unpacker.decompressed, 1000,
            "a kept copy is not decompressed"
        );

        drop((chunk, kept, first, second));
        assert_eq!(held.get(), 0, "dropping the records releases everything");
    }

    #[test]
    fn a_range_past_the_record_and_a_damaged_payload_are_errors() {
        let held = Arc::new(HeldBytes::default());
        let good = record(&held, b"abc");
        let past = ChunkBytes::Packed {
            record: good,
            range: 2..9,
        };
        assert!(Unpacker::for_query().bytes(&past).is_err());
        let damaged = PackedRecord::new(
            Bytes::from_static(b"not zstd"),
            Bytes::from_static(b"abc"),
            held.clone(),
        );
        damaged.evict_raw();
        let chunk = ChunkBytes::Packed {
            record: damaged,
            range: 0..3,
        };
        let mut failed = 0;
        assert!(Unpacker::for_query().all(&[chunk], &mut failed).is_empty());
        assert_eq!(failed, 1);
    }

    #[test]
    fn a_block_unpacks_only_its_own_segments_in_order() {
        let held = Arc::new(HeldBytes::default());
        let body: Vec<u8> = (0..200u8).collect();
        let evicted = record(&held, &body);
        let kept = record(&held, &body);
        evicted.evict_raw();
        let damaged = PackedRecord::new(
            Bytes::from_static(b"not zstd"),
            Bytes::from_static(b"abc"),
            held.clone(),
        );
        damaged.evict_raw();
        let packed = |record: &Arc<PackedRecord>, range: Range<usize>| ChunkBytes::Packed {
            record: record.clone(),
            range,
        };
        let traces = [
            vec![packed(&evicted, 10..20), packed(&kept, 0..4)],
            vec![ChunkBytes::Raw(Bytes::from_static(b"raw"))],
            vec![packed(&damaged, 0..3), packed(&evicted, 100..130)],
        ];
        let unpacked = unpack_block(traces.iter().map(Vec::as_slice));
        assert_eq!(unpacked.failed, 1);
        assert_eq!(unpacked.traces[0], vec![&body[10..20], &body[0..4]]);
        assert_eq!(unpacked.traces[1], vec![Bytes::from_static(b"raw")]);
        assert_eq!(unpacked.traces[2], vec![&body[100..130]]);
        assert_eq!(
            unpacked.bytes,
            10 + 4 + 30,
            "the segments only, not the records"
        );
    }

    #[test]
    fn the_query_cache_holds_a_bounded_number_of_records() {
        let held = Arc::new(HeldBytes::default());
        let budget = RawBudget::new(0);
        let records: Vec<_> = (0..20u8)
            .map(|index| {
                let record = record(&held, &[index; 64]);
                budget.admit(&record);
                record
            })
            .collect();
        let mut unpacker = Unpacker::for_query();
        for record in &records {
            let chunk = ChunkBytes::Packed {
                record: record.clone(),
                range: 0..64,
            };
            unpacker.bytes(&chunk).expect("unpacks");
        }
        assert_eq!(unpacker.cache.len(), QUERY_UNPACK_RECORDS);
        assert_eq!(unpacker.decompressed, 20 * 64);
    }
}
