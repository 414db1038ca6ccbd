//! [`TaskStream`]: the receiving end of a task's bounded channel that owns the task, aborting it
//! when the stream is dropped (a client that goes away stops its query's work).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

/// A stream fed by a task it owns; see the module docs.
pub(crate) struct TaskStream<T> {
    inner: ReceiverStream<T>,
    task: JoinHandle<()>,
}

impl<T> TaskStream<T> {
    pub(crate) fn new(receiver: mpsc::Receiver<T>, task: JoinHandle<()>) -> Self {
        TaskStream {
            inner: ReceiverStream::new(receiver),
            task,
        }
    }
}

impl<T> Drop for TaskStream<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T> Stream for TaskStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
