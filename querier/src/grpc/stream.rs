//! Search progress over a gRPC stream: diffs merged and sent at most every
//! [`SEARCH_PROGRESS_INTERVAL`], the final result last, every message below the size bound.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use contrail_proto::tempopb::SearchResponse;
use futures::{Stream, StreamExt};
use prost::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;

use crate::error::Error;
use crate::service::{SearchStream, SearchUpdate};
use crate::task_stream::TaskStream;

/// The shortest time between two progress messages of one search stream (Tempo's cadence).
pub const SEARCH_PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Messages queued between the forwarding task and the transport.
const MESSAGES_IN_FLIGHT: usize = 4;

/// Cuts `response` into messages whose encoding stays below `max_bytes` (each a valid
/// `SearchResponse` with some of the traces; the metrics ride on the last one). A single trace
/// larger than the bound travels alone.
pub fn segment_search_response(response: SearchResponse, max_bytes: usize) -> Vec<SearchResponse> {
    let SearchResponse { traces, metrics } = response;
    let metrics_bytes = metrics.as_ref().map_or(0, |m| m.encoded_len() + 8);
    let budget = max_bytes.saturating_sub(metrics_bytes).max(1);
    let mut segments: Vec<SearchResponse> = Vec::new();
    let mut current: Vec<_> = Vec::new();
    let mut current_bytes = 0usize;
    for trace in traces {
        // field tag + length prefix + body
        let trace_bytes =
            trace.encoded_len() + 1 + prost::length_delimiter_len(trace.encoded_len());
        if !current.is_empty() && current_bytes + trace_bytes > budget {
            segments.push(SearchResponse {
                traces: std::mem::take(&mut current),
                metrics: None,
            });
            current_bytes = 0;
        }
        current_bytes += trace_bytes;
        current.push(trace);
    }
    segments.push(SearchResponse {
        traces: current,
        metrics,
    });
    segments
}

fn merge_progress(pending: &mut Option<SearchResponse>, diff: SearchResponse) {
    let Some(merged) = pending else {
        *pending = Some(diff);
        return;
    };
    let positions: HashMap<String, usize> = merged
        .traces
        .iter()
        .enumerate()
        .map(|(index, trace)| (trace.trace_id.clone(), index))
        .collect();
    for trace in diff.traces {
        match positions.get(&trace.trace_id) {
            Some(index) => merged.traces[*index] = trace,
            None => merged.traces.push(trace),
        }
    }
    if diff.metrics.is_some() {
        merged.metrics = diff.metrics;
    }
}

type StatusStream = Pin<Box<dyn Stream<Item = Result<SearchResponse, Status>> + Send + 'static>>;

/// Forwards `updates` as gRPC messages: progress at most every 500 ms, then the final result,
/// then the end of the stream; `timeout` (zero: none) ends it with the timeout status.
pub(crate) fn throttled(
    updates: SearchStream,
    max_bytes: usize,
    timeout: Duration,
) -> StatusStream {
    let (message_tx, message_rx) = mpsc::channel(MESSAGES_IN_FLIGHT);
    let task = tokio::spawn(forward(updates, message_tx, max_bytes, timeout));
    Box::pin(TaskStream::new(message_rx, task))
}

async fn send_all(
    message_tx: &mpsc::Sender<Result<SearchResponse, Status>>,
    response: SearchResponse,
    max_bytes: usize,
) -> bool {
    for segment in segment_search_response(response, max_bytes) {
        if message_tx.send(Ok(segment)).await.is_err() {
            return false;
        }
    }
    true
}

async fn forward(
    mut updates: SearchStream,
    message_tx: mpsc::Sender<Result<SearchResponse, Status>>,
    max_bytes: usize,
    timeout: Duration,
) {
    let started = Instant::now();
    let deadline_opt = (!timeout.is_zero()).then(|| started + timeout);
    let mut next_send = started + SEARCH_PROGRESS_INTERVAL;
    let mut pending: Option<SearchResponse> = None;
    loop {
        let progress_due = tokio::time::sleep_until(next_send);
        let deadline = tokio::time::sleep_until(deadline_opt.unwrap_or(next_send));
        tokio::select! {
            update = updates.next() => match update {
                None => {
                    let _ = message_tx
                        .send(Err(Error::internal("search ended without a final result").to_status()))
                        .await;
                    return;
                }
                Some(Err(error)) => {
                    let _ = message_tx.send(Err(error.to_status())).await;
                    return;
                }
                Some(Ok(SearchUpdate::Progress(diff))) => merge_progress(&mut pending, diff),
                Some(Ok(SearchUpdate::Final(result))) => {
                    send_all(&message_tx, result, max_bytes).await;
                    return;
                }
            },
            () = progress_due, if pending.is_some() => {
                if let Some(progress) = pending.take()
                    && !send_all(&message_tx, progress, max_bytes).await
                {
                    return;
                }
                next_send = Instant::now() + SEARCH_PROGRESS_INTERVAL;
            }
            () = deadline, if deadline_opt.is_some() => {
                let _ = message_tx.send(Err(Error::Timeout.to_status())).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use contrail_proto::tempopb::{SearchMetrics, TraceSearchMetadata};
    use tokio_stream::wrappers::ReceiverStream;

    use super::*;

    fn trace(id: usize, name_bytes: usize) -> TraceSearchMetadata {
        TraceSearchMetadata {
            trace_id: format!("{id:x}"),
            root_trace_name: "x".repeat(name_bytes),
            ..TraceSearchMetadata::default()
        }
    }

    #[test]
    fn segments_stay_below_the_bound_and_keep_every_trace() {
        let response = SearchResponse {
            traces: (0..1000).map(|id| trace(id, 1000)).collect(),
            metrics: Some(SearchMetrics {
                total_jobs: 3,
                ..SearchMetrics::default()
            }),
        };
        let segments = segment_search_response(response, 64 * 1024);
        assert!(segments.len() > 10);
        for segment in &segments {
            assert!(
                segment.encoded_len() <= 64 * 1024,
                "{}",
                segment.encoded_len()
            );
        }
        assert_eq!(segments.iter().map(|s| s.traces.len()).sum::<usize>(), 1000);
        assert!(segments.last().unwrap().metrics.is_some());
        assert!(
            segments[..segments.len() - 1]
                .iter()
                .all(|s| s.metrics.is_none())
        );
        let empty = segment_search_response(SearchResponse::default(), 1024);
        assert_eq!(empty.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_throttled_and_the_final_message_comes_last() {
        let (update_tx, update_rx) = mpsc::channel(16);
        let updates: SearchStream = Box::pin(ReceiverStream::new(update_rx));
        let mut messages = throttled(updates, 1024 * 1024, Duration::ZERO);
        for id in 0..5 {
            update_tx
                .send(Ok(SearchUpdate::Progress(SearchResponse {
                    traces: vec![trace(id, 1)],
                    metrics: Some(SearchMetrics {
                        completed_jobs: id as u32 + 1,
                        ..SearchMetrics::default()
                    }),
                })))
                .await
                .unwrap();
        }
        tokio::time::advance(SEARCH_PROGRESS_INTERVAL).await;
        let first = messages.next().await.unwrap().unwrap();
        assert_eq!(
            first.traces.len(),
            5,
            "the five diffs merged into one message"
        );
        assert_eq!(first.metrics.unwrap().completed_jobs, 5);
        update_tx
            .send(Ok(SearchUpdate::Final(SearchResponse {
                traces: (0..7).map(|id| trace(id, 1)).collect(),
                metrics: None,
            })))
            .await
            .unwrap();
        let last = messages.next().await.unwrap().unwrap();
        assert_eq!(last.traces.len(), 7);
        assert!(messages.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_search_past_the_timeout_ends_with_the_timeout_status() {
        let (_update_tx, update_rx) = mpsc::channel::<crate::Result<SearchUpdate>>(1);
        let updates: SearchStream = Box::pin(ReceiverStream::new(update_rx));
        let mut messages = throttled(updates, 1024, Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(3)).await;
        let status = messages.next().await.unwrap().unwrap_err();
        assert_eq!(status.message(), crate::error::TIMEOUT_MESSAGE);
    }
}
