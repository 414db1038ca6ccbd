//! The CPU part of a push, run off the async runtime for big requests: decompress, decode
//! OTLP/JSON into protobuf, then check, truncate long attributes and regroup by trace.

use std::io::Read;

use bytes::Bytes;
use prost::Message;

use crate::error::{Error, Result};
use crate::regroup::{RegroupLimits, Regrouped, regroup_export_request};

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `application/x-protobuf` (and gRPC).
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

/// How the body is compressed (HTTP `Content-Encoding`; gRPC bodies arrive decompressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// Not compressed.
    Identity,
    /// gzip.
    Gzip,
}

/// One request's CPU work and the limits it applies.
#[derive(Debug, Clone)]
pub struct DecodeJob {
    /// The body as received.
    pub body: Bytes,
    /// Its compression.
    pub encoding: ContentEncoding,
    /// Its format.
    pub format: PayloadFormat,
    /// Largest decompressed body.
    pub max_body_bytes: u64,
    /// Attribute keys and string values are cut to this (0 = no limit).
    pub max_attribute_bytes: u64,
    /// Traces larger than this are dropped (0 = no limit).
    pub max_bytes_per_trace: u64,
}

/// What a [`DecodeJob`] produced.
#[derive(Debug)]
pub struct Decoded {
    /// The segments and the counts made on the way.
    pub regrouped: Regrouped,
    /// Size of the request as protobuf, decompressed (what the rate limit counts).
    pub received_bytes: u64,
}

/// Runs the job.
pub fn run_decode_job(job: DecodeJob) -> Result<Decoded> {
    let body = decompress(job.body, job.encoding, job.max_body_bytes)?;
    let limits = RegroupLimits {
        max_attribute_bytes: usize::try_from(job.max_attribute_bytes).unwrap_or(usize::MAX),
        max_bytes_per_trace: job.max_bytes_per_trace,
    };
    match job.format {
        PayloadFormat::Protobuf => Ok(Decoded {
            regrouped: regroup_export_request(&body, limits)?,
            received_bytes: body.len() as u64,
        }),
        PayloadFormat::Json => {
            let request = contrail_proto::otlp_json::decode_export_request_json(&body)
                .map_err(|error| Error::Malformed(error.to_string()))?;
            let encoded = request.encode_to_vec();
            Ok(Decoded {
                regrouped: regroup_export_request(&encoded, limits)?,
                received_bytes: encoded.len() as u64,
            })
        }
    }
}
fn decompress(body: Bytes, encoding: ContentEncoding, max_body_bytes: u64) -> Result<Bytes> {
    match encoding {
        ContentEncoding::Identity => {
            if body.len() as u64 > max_body_bytes {
                return Err(Error::TooLarge {
                    limit_bytes: max_body_bytes,
                });
            }
            Ok(body)
        }
        ContentEncoding::Gzip => {
            let mut decoded = Vec::with_capacity(body.len().saturating_mul(4));
            let mut reader = flate2::read::MultiGzDecoder::new(body.as_ref())
                .take(max_body_bytes.saturating_add(1));
            reader
                .read_to_end(&mut decoded)
                .map_err(|error| Error::Malformed(format!("invalid gzip body: {error}")))?;
            if decoded.len() as u64 > max_body_bytes {
                return Err(Error::TooLarge {
                    limit_bytes: max_body_bytes,
                });
            }
            Ok(Bytes::from(decoded))
        }
    }
}
