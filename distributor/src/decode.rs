//! The CPU part of a push, run off the async runtime for big requests: decompress, decode
//! (protobuf or OTLP/JSON), truncate long attributes, regroup by trace and encode segments.

use std::io::Read;

use bytes::Bytes;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::error::{Error, Result};
use crate::limits::truncate_attributes;
use crate::regroup::{Regrouped, regroup_export_request};

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
    /// The segments.
    pub regrouped: Regrouped,
    /// Spans in the request.
    pub received_spans: u64,
    /// Decompressed size of the request (what the rate limit counts).
    pub received_bytes: u64,
    /// Attributes cut to `max_attribute_bytes`.
    pub truncated_attributes: u64,
}

/// Runs the job.
pub fn run_decode_job(job: DecodeJob) -> Result<Decoded> {
    let body = decompress(job.body, job.encoding, job.max_body_bytes)?;
    let received_bytes = body.len() as u64;
    let mut request = match job.format {
        PayloadFormat::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|error| Error::Malformed(format!("invalid OTLP protobuf payload: {error}")))?,
        PayloadFormat::Json => contrail_proto::otlp_json::decode_export_request_json(&body)
            .map_err(|error| Error::Malformed(error.to_string()))?,
    };
    let truncated_attributes = match usize::try_from(job.max_attribute_bytes) {
        Ok(0) | Err(_) => 0,
        Ok(max) => truncate_attributes(&mut request, max),
    };
    let received_spans = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len() as u64)
        .sum();
    let regrouped = regroup_export_request(&request, job.max_bytes_per_trace)?;
    Ok(Decoded {
        regrouped,
        received_spans,
        received_bytes,
        truncated_attributes,
    })
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
