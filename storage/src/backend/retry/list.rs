//! Listing with retries: a listing that fails midway is reopened after the last key it returned.

use std::sync::Arc;

use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::{Attempts, Replay};

pub(super) fn open_list<T: ObjectStore>(
    inner: &Arc<T>,
    prefix: Option<&Path>,
    offset: Option<&Path>,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    match offset {
        Some(offset) => inner.list_with_offset(prefix, offset),
        None => inner.list(prefix),
    }
}

pub(super) struct ListState<T: ObjectStore> {
    pub(super) inner: Arc<T>,
    pub(super) prefix: Option<Path>,
    pub(super) resume_after: Option<Path>,
    pub(super) stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
    pub(super) attempts: Attempts,
    pub(super) yielded_any: bool,
    pub(super) ordered: bool,
    pub(super) done: bool,
}

impl<T: ObjectStore> ListState<T> {
    pub(super) async fn next(mut self) -> Option<(object_store::Result<ObjectMeta>, Self)> {
        if self.done {
            return None;
        }
        loop {
            let error = match self.attempts.run_once(self.stream.next().map(Ok)).await {
                Ok(Some(Ok(meta))) => {
                    self.resume_after = Some(meta.location.clone());
                    self.yielded_any = true;
                    self.attempts.reset();
                    return Some((Ok(meta), self));
                }
                Ok(None) => return None,
                Ok(Some(Err(error))) | Err(error) => error,
            };
            let resumable = self.ordered || !self.yielded_any;
            if resumable
                && self
                    .attempts
                    .retry_after(&error, Replay::Idempotent)
                    .await
                    .is_some()
            {
                self.stream = open_list(
                    &self.inner,
                    self.prefix.as_ref(),
                    self.resume_after.as_ref(),
                );
                continue;
            }
            self.done = true;
            return Some((Err(error), self));
        }
    }
}
