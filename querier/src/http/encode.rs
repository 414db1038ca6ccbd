//! Response encoding of the query API (spec §2.2-§2.4): protobuf or gogo-jsonpb JSON by the
//! `Accept` header, plain-text errors, and search results too large to hold twice written out
//! in chunks (a 100,000-trace answer is streamed, not built as one 50 MB string).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use contrail_proto::tempopb::SearchResponse;
use http::{HeaderValue, StatusCode, header};
use prost::Message;
use serde::Serialize;

use crate::error::Error;

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/protobuf`.
pub const PROTOBUF: &str = "application/protobuf";
/// `text/plain; charset=utf-8`.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Traces per JSON chunk of a streamed search answer.
const TRACES_PER_CHUNK: usize = 500;
/// Chunks buffered between the encoder and the socket.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The response format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    /// Substring match on `Accept`, protobuf first; anything else is JSON.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        if accept.contains(PROTOBUF) {
            Format::Protobuf
        } else {
            Format::Json
        }
    }
}

/// A plain-text error answer with the error's status.
pub fn error_response(error: &Error) -> Response {
    let status = error.code().http_status();
    if status.is_server_error() {
        tracing::warn!(error = %error, status = status.as_u16(), "query failed");
    }
    text_response(status, error.to_string())
}

/// A plain-text answer.
pub fn text_response(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT)], body.into()).into_response()
}

fn bytes_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// A message in the requested format.
pub fn message_response<M: Message + Serialize>(format: Format, message: &M) -> Response {
    match format {
        Format::Protobuf => bytes_response(PROTOBUF, message.encode_to_vec()),
        Format::Json => json_response(message),
    }
}

/// A JSON answer of any serializable value.
pub fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => bytes_response(JSON, body),
        Err(error) => error_response(&Error::internal(format!("encode json: {error}"))),
    }
}

/// A search answer. Small ones are encoded at once; large ones are encoded chunk by chunk on a
/// thread of their own while the socket drains the previous chunks (not on tokio's blocking
/// pool: the encoder waits for a slow client, and a few slow clients would hold the small pool
/// that local-disk reads and WAL commits need, ADR 018). Both produce the same bytes as encoding
/// the whole message.
pub fn search_response(format: Format, response: SearchResponse) -> Response {
    if response.traces.len() <= TRACES_PER_CHUNK {
        return message_response(format, &response);
    }
    let content_type = match format {
        Format::Json => JSON,
        Format::Protobuf => PROTOBUF,
    };
    let (chunk_tx, chunk_rx) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    // The thread ends when the body is dropped (the send fails) or the answer is written; the
    // response body owns it through the channel.
    let encoder = std::thread::Builder::new()
        .name("contrail-search-encode".to_owned())
        .spawn(move || match format {
            Format::Json => encode_json_chunks(response, &chunk_tx),
            Format::Protobuf => encode_protobuf_chunks(response, &chunk_tx),
        });
    if let Err(error) = encoder {
        return error_response(&Error::internal(format!(
            "cannot start the response encoder: {error}"
        )));
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(chunk_rx));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

type ChunkSender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

fn send(chunk_tx: &ChunkSender, chunk: Vec<u8>) -> bool {
    chunk_tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()
}

fn encode_json_chunks(response: SearchResponse, chunk_tx: &ChunkSender) {
    let SearchResponse { traces, metrics } = response;
    let mut chunk: Vec<u8> = b"{\"traces\":[".to_vec();
    for (index, trace) in traces.iter().enumerate() {
        if index > 0 {
            chunk.push(b',');
        }
        if let Err(error) = serde_json::to_writer(&mut chunk, trace) {
            let _ = chunk_tx.blocking_send(Err(std::io::Error::other(error)));
            return;
        }
        if (index + 1) % TRACES_PER_CHUNK == 0 && !send(chunk_tx, std::mem::take(&mut chunk)) {
            return;
        }
    }
    chunk.push(b']');
    if let Some(metrics) = metrics {
        chunk.extend_from_slice(b",\"metrics\":");
        if let Err(error) = serde_json::to_writer(&mut chunk, &metrics) {
            let _ = chunk_tx.blocking_send(Err(std::io::Error::other(error)));
            return;
        }
    }
    chunk.push(b'}');
    send(chunk_tx, chunk);
}

fn encode_protobuf_chunks(response: SearchResponse, chunk_tx: &ChunkSender) {
    // A repeated field encodes as the concatenation of its entries, so each chunk is the
    // encoding of a `SearchResponse` holding some of the traces.
    let SearchResponse { traces, metrics } = response;
    let mut traces = traces.into_iter();
    loop {
        let part: Vec<_> = traces.by_ref().take(TRACES_PER_CHUNK).collect();
        if part.is_empty() {
            break;
        }
        let message = SearchResponse {
            traces: part,
            metrics: None,
        };
        if !send(chunk_tx, message.encode_to_vec()) {
            return;
        }
    }
    let tail = SearchResponse {
        traces: Vec::new(),
        metrics,
    };
    send(chunk_tx, tail.encode_to_vec());
}

#[cfg(test)]
mod tests {
    use contrail_proto::tempopb::{SearchMetrics, TraceSearchMetadata};

    use super::*;

    fn big_response() -> SearchResponse {
        SearchResponse {
            traces: (0..1234)
                .map(|index| TraceSearchMetadata {
                    trace_id: format!("{index:x}"),
                    root_service_name: "svc".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000 + index,
                    duration_ms: 3,
                    ..TraceSearchMetadata::default()
                })
                .collect(),
            metrics: Some(SearchMetrics {
                total_jobs: 7,
                inspected_bytes: 12345,
                ..SearchMetrics::default()
            }),
        }
    }

    fn collect(
        encode: fn(SearchResponse, &ChunkSender),
        response: SearchResponse,
    ) -> (Vec<u8>, usize) {
        let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let encoder = std::thread::spawn(move || encode(response, &chunk_tx));
        let mut body = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = chunk_rx.blocking_recv() {
            body.extend_from_slice(&chunk.unwrap());
            chunks += 1;
        }
        encoder.join().unwrap();
        (body, chunks)
    }

    #[test]
    fn a_client_that_never_reads_holds_no_blocking_thread() {
        // One blocking thread, as a small pool under load: the encoder of a large answer whose
        // body is never read must not sit on it (local-disk reads and WAL commits need it).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut response = big_response();
            let more = response.traces.clone();
            for _ in 0..4 {
                response.traces.extend(more.iter().cloned());
            }
            assert!(response.traces.len() > TRACES_PER_CHUNK * (CHUNKS_IN_FLIGHT + 2));
            let unread = search_response(Format::Json, response);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let other = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tokio::task::spawn_blocking(|| 7),
            )
            .await
            .expect("a blocking job ran while the answer waited for its reader")
            .expect("job");
            assert_eq!(other, 7);
            drop(unread);
        });
    }

    #[test]
    fn chunked_json_is_byte_identical_to_one_encode() {
        let response = big_response();
        let (body, chunks) = collect(encode_json_chunks, response.clone());
        assert!(chunks > 2, "{chunks} chunks");
        assert_eq!(body, serde_json::to_vec(&response).unwrap());
    }

    #[test]
    fn chunked_protobuf_decodes_to_the_same_message() {
        let response = big_response();
        let (body, chunks) = collect(encode_protobuf_chunks, response.clone());
        assert!(chunks > 2);
        assert_eq!(SearchResponse::decode(body.as_slice()).unwrap(), response);
        assert_eq!(body, response.encode_to_vec());
    }

    #[test]
    fn accept_picks_protobuf_by_substring_and_json_otherwise() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(Format::from_headers(&headers), Format::Json);
        headers.insert(
            header::ACCEPT,
            "application/json, text/plain, */*".parse().unwrap(),
        );
        assert_eq!(Format::from_headers(&headers), Format::Json);
        headers.insert(header::ACCEPT, "application/protobuf".parse().unwrap());
        assert_eq!(Format::from_headers(&headers), Format::Protobuf);
        headers.insert(
            header::ACCEPT,
            "application/vnd.grafana.llm".parse().unwrap(),
        );
        assert_eq!(Format::from_headers(&headers), Format::Json);
    }
}
