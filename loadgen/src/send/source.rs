//! The producer of a send run: a blocking thread that generates batches (or reads corpus files),
//! encodes them for the protocol and hands them to the streams through a bounded channel. A
//! pre-encoded pool is only named (request, pass) for gRPC: the stream copies it onto the wire.

use std::path::PathBuf;
use std::sync::Arc;

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::sync::mpsc;

use super::Protocol;
use super::exporter::Payload;
use super::preencoded::{EncodedPool, StampedRequest};
use crate::corpus::{CorpusConfig, Generator};
use crate::error::{Error, Result};
use crate::files::{corpus_files, read_batch, span_count};

/// Where the spans of a send run come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Replay the `*.pb` batches of a corpus directory, in name order, once.
    Files(PathBuf),
    /// Generate traces on the fly; `traces_opt: None` generates until another limit stops the run.
    Generated {
        config: CorpusConfig,
        traces_opt: Option<usize>,
        spans_per_batch: usize,
    },
    /// Replay a pool encoded before the run, pass after pass with stamped trace IDs and
    /// timestamps, until `--duration` or `--spans` (gRPC and HTTP protobuf only).
    Preencoded(Arc<EncodedPool>),
}

impl Source {
    /// Encodes this source's requests once, before the run: the `*.pb` files as they are, or
    /// `pool_batches` generated requests (a generated source must not be bounded by `--traces`).
    pub fn preencode(&self, pool_batches: usize) -> Result<EncodedPool> {
        match self {
            Source::Files(dir) => EncodedPool::from_files(dir),
            Source::Generated {
                config,
                traces_opt: None,
                spans_per_batch,
            } => EncodedPool::generate(config.clone(), pool_batches, *spans_per_batch),
            Source::Generated { .. } => Err(Error::InvalidArgument(
                "a pre-encoded pool replays until --duration or --spans, not --traces".to_owned(),
            )),
            Source::Preencoded(pool) => Ok(EncodedPool::clone(pool)),
        }
    }
}

/// One encoded request and how many spans it carries.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) payload: Payload,
    pub(crate) spans: usize,
}

pub(crate) fn encode(protocol: Protocol, request: ExportTraceServiceRequest) -> Result<Item> {
    let spans = span_count(&request);
    let payload = match protocol {
        Protocol::Grpc => Payload::Grpc(request),
        Protocol::HttpProtobuf => Payload::Http(request.encode_to_vec().into()),
        Protocol::HttpJson => {
            Payload::Http(contrail_proto::otlp_json::encode_export_request_json(&request)?.into())
        }
    };
    Ok(Item { payload, spans })
}

/// Runs on a blocking thread until the source is exhausted, `max_spans_opt` spans were produced
/// or the streams hung up (their receiver was dropped).
pub(crate) fn produce(
    source: Source,
    protocol: Protocol,
    max_spans_opt: Option<u64>,
    items_tx: mpsc::Sender<Item>,
) -> Result<()> {
    let mut produced_spans: u64 = 0;
    let mut push = |request: ExportTraceServiceRequest| -> Result<bool> {
        if max_spans_opt.is_some_and(|max_spans| produced_spans >= max_spans) {
            return Ok(false);
        }
        let item = encode(protocol, request)?;
        produced_spans += item.spans as u64;
        Ok(items_tx.blocking_send(item).is_ok())
    };
    match source {
        Source::Preencoded(pool) => {
            for pass in 0..=u32::MAX {
                for index in 0..pool.len() {
                    if max_spans_opt.is_some_and(|max_spans| produced_spans >= max_spans) {
                        return Ok(());
                    }
                    let spans = pool.spans_of(index);
                    let payload = match protocol {
                        Protocol::Grpc => Payload::GrpcPreencoded(StampedRequest {
                            pool: Arc::clone(&pool),
                            index,
                            pass,
                        }),
                        // the body is stamped here: reqwest wants it whole
                        Protocol::HttpProtobuf => Payload::Http(pool.stamped(index, pass)),
                        Protocol::HttpJson => {
                            return Err(Error::InvalidArgument(
                                "pre-encoded requests are protobuf: use grpc or http-protobuf"
                                    .to_owned(),
                            ));
                        }
                    };
                    produced_spans += spans as u64;
                    if items_tx.blocking_send(Item { payload, spans }).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        Source::Files(dir) => {
            for path in corpus_files(&dir)? {
                if !push(read_batch(&path)?)? {
                    break;
                }
            }
        }
        Source::Generated {
            config,
            traces_opt,
            spans_per_batch,
        } => {
            let mut generator = Generator::new(config);
            match traces_opt {
                Some(traces) => {
                    for request in generator.batches(traces, spans_per_batch) {
                        if !push(request)? {
                            break;
                        }
                    }
                }
                None => loop {
                    // chunks of traces so that the run can go on for ever
                    let mut keep_going = true;
                    for request in generator.batches(10_000, spans_per_batch) {
                        keep_going = push(request)?;
                        if !keep_going {
                            break;
                        }
                    }
                    if !keep_going {
                        break;
                    }
                },
            }
        }
    }
    Ok(())
}

/// Checks a source before the run starts, so a wrong `--from` fails at once.
pub(crate) fn validate(source: &Source) -> Result<()> {
    match source {
        Source::Files(dir) => corpus_files(dir).map(|_| ()),
        Source::Generated {
            spans_per_batch, ..
        } if *spans_per_batch == 0 => Err(Error::InvalidArgument(
            "--batch-spans must be at least 1".to_owned(),
        )),
        Source::Generated { .. } => Ok(()),
        Source::Preencoded(pool) if pool.is_empty() => Err(Error::InvalidArgument(
            "the pre-encoded pool is empty".to_owned(),
        )),
        Source::Preencoded(_) => Ok(()),
    }
}
