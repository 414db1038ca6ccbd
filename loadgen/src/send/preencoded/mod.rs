//! Pre-encoded replay: a pool of distinct requests encoded to protobuf once, before the measured
//! window, then sent pass after pass without being encoded again. Every pass stamps its number
//! into the last four bytes of every trace ID (XOR, so IDs stay distinct across passes and a
//! trace's spans and the links to it stay together) and shifts every timestamp by one pool
//! period, while the bytes are copied onto the wire: the server sees new traces at advancing
//! times for a cost of one memcpy per request.
//!
//! `scan` finds the offsets to stamp by walking the wire format, so files written by any
//! encoder replay the same way as a generated pool.

mod scan;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use prost::Message;
use serde::Serialize;

use crate::corpus::{CorpusConfig, Generator};
use crate::error::{Error, Result};
use crate::files::corpus_files;
use scan::{Patch, PatchKind, read_fixed64, scan_request};

/// The bytes of a trace ID that carry the pass number (XORed with it, big-endian).
pub const PASS_STAMP_BYTES: std::ops::Range<usize> = 12..16;

/// One encoded request of the pool and where to stamp it.
#[derive(Clone, PartialEq)]
struct EncodedRequest {
    bytes: Bytes,
    spans: usize,
    patches: Vec<Patch>,
}

/// Requests encoded once, replayed in passes; see the module docs.
#[derive(Clone, PartialEq)]
pub struct EncodedPool {
    requests: Vec<EncodedRequest>,
    /// How far each pass moves the timestamps: the pool's time range plus one nanosecond.
    pass_shift_nanos: u64,
    build_time: Duration,
}

impl std::fmt::Debug for EncodedPool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EncodedPool")
            .field("summary", &self.summary())
            .finish()
    }
}

/// What a pool holds and what building it cost, for the send report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolSummary {
    pub requests: usize,
    pub spans: u64,
    pub bytes: u64,
    /// Wall time spent generating (or reading) and encoding the pool, before the run.
    pub build_s: f64,
    /// How far every pass moves the timestamps, in seconds.
    pub pass_shift_s: f64,
}

impl EncodedPool {
    /// Generates `batches` requests of about `spans_per_batch` spans with `config` and encodes
    /// each once.
    pub fn generate(config: CorpusConfig, batches: usize, spans_per_batch: usize) -> Result<Self> {
        if batches == 0 || spans_per_batch == 0 {
            return Err(Error::InvalidArgument(
                "a pre-encoded pool needs at least one batch of at least one span".to_owned(),
            ));
        }
        let started = Instant::now();
        let mut generator = Generator::new(config);
        let encoded: Vec<Bytes> = generator
            .batches(usize::MAX, spans_per_batch)
            .take(batches)
            .map(|request| Bytes::from(request.encode_to_vec()))
            .collect();
        let mut pool = Self::from_encoded(encoded)?;
        pool.build_time = started.elapsed();
        Ok(pool)
    }

    /// Takes the `*.pb` files of a corpus directory as they are (no decode, no re-encode).
    pub fn from_files(dir: &Path) -> Result<Self> {
        let started = Instant::now();
        let encoded = corpus_files(dir)?
            .into_iter()
            .map(|path| {
                std::fs::read(&path)
                    .map(Bytes::from)
                    .map_err(|source| Error::io("read", path, source))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut pool = Self::from_encoded(encoded)?;
        pool.build_time = started.elapsed();
        Ok(pool)
    }

    /// Scans already encoded `ExportTraceServiceRequest`s for their trace IDs and timestamps.
    pub fn from_encoded(encoded: Vec<Bytes>) -> Result<Self> {
        if encoded.is_empty() {
            return Err(Error::InvalidArgument(
                "a pre-encoded pool needs at least one request".to_owned(),
            ));
        }
        let mut time_range_opt: Option<(u64, u64)> = None;
        let mut requests = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            let scanned = scan_request(&bytes)?;
            if let Some((min, max)) = scanned.time_range_opt {
                time_range_opt = Some(match time_range_opt {
                    Some((pool_min, pool_max)) => (pool_min.min(min), pool_max.max(max)),
                    None => (min, max),
                });
            }
            requests.push(EncodedRequest {
                bytes,
                spans: scanned.spans,
                patches: scanned.patches,
            });
        }
        Ok(Self {
            requests,
            pass_shift_nanos: time_range_opt.map_or(0, |(min, max)| max - min + 1),
            build_time: Duration::ZERO,
        })
    }

    /// Requests in the pool (one pass).
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Spans of request `index`.
    pub fn spans_of(&self, index: usize) -> usize {
        self.requests[index].spans
    }

    pub fn pass_shift_nanos(&self) -> u64 {
        self.pass_shift_nanos
    }

    pub fn summary(&self) -> PoolSummary {
        PoolSummary {
            requests: self.requests.len(),
            spans: self
                .requests
                .iter()
                .map(|request| request.spans as u64)
                .sum(),
            bytes: self
                .requests
                .iter()
                .map(|request| request.bytes.len() as u64)
                .sum(),
            build_s: (self.build_time.as_secs_f64() * 1000.0).round() / 1000.0,
            pass_shift_s: self.pass_shift_nanos as f64 / 1e9,
        }
    }

    /// The bytes of request `index` as pass `pass` sends them (pass 0: the pool's own bytes).
    pub fn stamped(&self, index: usize, pass: u32) -> Bytes {
        if pass == 0 {
            return self.requests[index].bytes.clone();
        }
        let mut stamped = Vec::with_capacity(self.requests[index].bytes.len());
        self.write_stamped(index, pass, &mut stamped);
        Bytes::from(stamped)
    }

    /// Copies request `index` into `dst`, stamping pass `pass` on the way.
    fn write_stamped(&self, index: usize, pass: u32, dst: &mut impl BufMut) {
        let request = &self.requests[index];
        let bytes = &request.bytes[..];
        if pass == 0 {
            dst.put_slice(bytes);
            return;
        }
        let pass_bytes = pass.to_be_bytes();
        let shift_nanos = u64::from(pass).wrapping_mul(self.pass_shift_nanos);
        let mut copied = 0;
        for patch in &request.patches {
            let offset = patch.offset as usize;
            dst.put_slice(&bytes[copied..offset]);
            match patch.kind {
                PatchKind::TraceId => {
                    let mut trace_id = [0u8; 16];
                    trace_id.copy_from_slice(&bytes[offset..offset + 16]);
                    for (byte, stamp) in trace_id[PASS_STAMP_BYTES].iter_mut().zip(pass_bytes) {
                        *byte ^= stamp;
                    }
                    dst.put_slice(&trace_id);
                }
                PatchKind::Timestamp => {
                    dst.put_u64_le(read_fixed64(bytes, offset).wrapping_add(shift_nanos));
                }
            }
            copied = offset + patch.kind.len();
        }
        dst.put_slice(&bytes[copied..]);
    }
}

/// Request `index` of a shared pool as pass `pass` sends it; the gRPC codec writes it straight
/// into the outgoing frame ([`super::raw_codec`]).
#[derive(Clone, Debug)]
pub(crate) struct StampedRequest {
    pub(crate) pool: Arc<EncodedPool>,
    pub(crate) index: usize,
    pub(crate) pass: u32,
}

impl StampedRequest {
    pub(crate) fn encoded_len(&self) -> usize {
        self.pool.requests[self.index].bytes.len()
    }

    pub(crate) fn write_to(&self, dst: &mut impl BufMut) {
        self.pool.write_stamped(self.index, self.pass, dst);
    }
}
