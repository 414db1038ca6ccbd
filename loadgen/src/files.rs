//! Corpus files: `DIR/batch-000000.pb`, ... (one `ExportTraceServiceRequest` in protobuf each)
//! plus `DIR/corpus.json` describing them, so the very same data can be replayed to Contrail
//! and to another system.

use std::fs;
use std::path::{Path, PathBuf};

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::corpus::{CorpusConfig, Generator};
use crate::error::{Error, Result};

/// The summary written to `corpus.json` (and printed by `generate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusSummary {
    pub seed: u64,
    pub start_time_unix_nano: u64,
    pub traces: u64,
    pub spans: u64,
    pub batches: u64,
    /// Total bytes of the protobuf-encoded requests.
    pub bytes: u64,
    pub bytes_per_span: f64,
    pub spans_per_trace: f64,
}

/// Generates `traces` traces with `config` and writes them under `dir` in batches of about
/// `spans_per_batch` spans.
pub fn write_corpus(
    dir: &Path,
    config: CorpusConfig,
    traces: usize,
    spans_per_batch: usize,
) -> Result<CorpusSummary> {
    fs::create_dir_all(dir).map_err(|source| Error::io("create directory", dir, source))?;
    let mut generator = Generator::new(config.clone());
    let mut summary = CorpusSummary {
        seed: config.seed,
        start_time_unix_nano: config.start_time_unix_nano,
        traces: traces as u64,
        spans: 0,
        batches: 0,
        bytes: 0,
        bytes_per_span: 0.0,
        spans_per_trace: 0.0,
    };
    for (index, request) in generator.batches(traces, spans_per_batch).enumerate() {
        let encoded = request.encode_to_vec();
        let path = dir.join(format!("batch-{index:06}.pb"));
        fs::write(&path, &encoded).map_err(|source| Error::io("write", &path, source))?;
        summary.spans += span_count(&request) as u64;
        summary.bytes += encoded.len() as u64;
        summary.batches += 1;
    }
    if summary.spans > 0 {
        summary.bytes_per_span = summary.bytes as f64 / summary.spans as f64;
    }
    if traces > 0 {
        summary.spans_per_trace = summary.spans as f64 / traces as f64;
    }
    let json_path = dir.join("corpus.json");
    let json = serde_json::to_vec_pretty(&summary)?;
    fs::write(&json_path, json).map_err(|source| Error::io("write", &json_path, source))?;
    Ok(summary)
}

/// The `*.pb` files of a corpus directory, in name order.
pub fn corpus_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|source| Error::io("read directory", dir, source))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::io("read directory", dir, source))?;
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "pb") && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::EmptyCorpus {
            dir: dir.to_owned(),
        });
    }
    files.sort();
    Ok(files)
}

/// Reads and decodes one batch file.
pub fn read_batch(path: &Path) -> Result<ExportTraceServiceRequest> {
    let bytes = fs::read(path).map_err(|source| Error::io("read", path, source))?;
    ExportTraceServiceRequest::decode(bytes.as_slice()).map_err(|source| Error::Decode {
        path: path.to_owned(),
        source,
    })
}

/// The number of spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .map(|scope_spans| scope_spans.spans.len())
        .sum()
}
