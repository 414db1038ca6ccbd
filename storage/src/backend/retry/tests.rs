//! `RetryStore` against a store that fails on a script.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, UpdateVersion};

use super::*;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answer like a 503 from an HTTP store.
    ServerError,
    /// Answer like a 400.
    BadRequest,
    /// Never answer.
    Hang,
    /// Apply the operation, then lose the answer.
    ApplyThenFail,
    /// For `list`: yield this many items, then fail.
    ListFailAfter(usize),
}

/// Delegates to `InMemory`, taking one scripted fault per call.
#[derive(Debug, Default)]
struct ScriptedStore {
    inner: Arc<InMemory>,
    faults: Mutex<VecDeque<Fault>>,
    calls: AtomicUsize,
}

impl ScriptedStore {
    fn with_faults(faults: &[Fault]) -> Self {
        ScriptedStore {
            faults: Mutex::new(faults.iter().copied().collect()),
            ..ScriptedStore::default()
        }
    }

    fn next_fault(&self) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.faults.lock().unwrap().pop_front()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn server_error() -> object_store::Error {
    object_store::Error::Generic {
        store: "scripted",
        source: "Server returned non-2xx status code: 503 Service Unavailable: slow down".into(),
    }
}

fn bad_request() -> object_store::Error {
    object_store::Error::Generic {
        store: "scripted",
        source: "Server returned non-2xx status code: 400 Bad Request: no".into(),
    }
}

async fn apply<T>(
    fault: Option<Fault>,
    operation: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    match fault {
        Some(Fault::ServerError) => Err(server_error()),
        Some(Fault::BadRequest) => Err(bad_request()),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(server_error())
        }
        Some(Fault::ApplyThenFail) => {
            operation.await?;
            Err(server_error())
        }
        Some(Fault::ListFailAfter(_)) | None => operation.await,
    }
}

impl std::fmt::Display for ScriptedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScriptedStore")
    }
}

#[async_trait]
impl ObjectStore for ScriptedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let fault = self.next_fault();
        apply(fault, self.inner.put_opts(location, payload, opts)).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let fault = self.next_fault();
        apply(fault, self.inner.put_multipart_opts(location, opts)).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let fault = self.next_fault();
        apply(fault, self.inner.get_opts(location, options)).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        match self.next_fault() {
            Some(Fault::ServerError) => {
                futures::stream::once(async { Err(server_error()) }).boxed()
            }
            _ => self.inner.delete_stream(locations),
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.next_fault() {
            Some(Fault::ListFailAfter(count)) => self
                .inner
                .list(prefix)
                .take(count)
                .chain(futures::stream::once(async { Err(server_error()) }))
                .boxed(),
            _ => self.inner.list(prefix),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.next_fault();
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let fault = self.next_fault();
        apply(fault, self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let fault = self.next_fault();
        apply(fault, self.inner.copy_opts(from, to, options)).await
    }
}

fn settings() -> RetrySettings {
    RetrySettings {
        max_attempts: 4,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        attempt_timeout: Duration::from_millis(200),
        total_timeout: Duration::from_secs(5),
    }
}

/// A retry store over a scripted store; the scripted store stays reachable for call counts.
fn retrying(faults: &[Fault]) -> (RetryStore<Arc<ScriptedStore>>, Arc<ScriptedStore>) {
    let scripted = Arc::new(ScriptedStore::with_faults(faults));
    (
        RetryStore::new(Arc::clone(&scripted), settings(), true),
        scripted,
    )
}

async fn seed(store: &ScriptedStore, path: &str, body: &'static str) {
    store
        .inner
        .put(&Path::from(path), body.into())
        .await
        .unwrap();
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let (store, scripted) = retrying(&[Fault::ServerError, Fault::ServerError]);
    seed(&scripted, "a", "hello").await;
    let bytes = store
        .get(&Path::from("a"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"hello");
    assert_eq!(scripted.calls(), 3);
}

#[tokio::test]
async fn definitive_failures_are_not_retried() {
    let (store, scripted) = retrying(&[]);
    let error = store.head(&Path::from("missing")).await.unwrap_err();
    assert!(
        matches!(error, object_store::Error::NotFound { .. }),
        "{error}"
    );
    assert_eq!(scripted.calls(), 1);

    let (store, scripted) = retrying(&[Fault::BadRequest]);
    seed(&scripted, "a", "x").await;
    assert!(store.head(&Path::from("a")).await.is_err());
    assert_eq!(scripted.calls(), 1);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let (store, scripted) = retrying(&[Fault::ServerError; 10]);
    seed(&scripted, "a", "x").await;
    assert!(store.get(&Path::from("a")).await.is_err());
    assert_eq!(scripted.calls(), 4, "max_attempts is 4");
}

#[tokio::test]
async fn a_hung_attempt_is_cut_off_and_retried() {
    let (store, scripted) = retrying(&[Fault::Hang]);
    seed(&scripted, "a", "x").await;
    let started = std::time::Instant::now();
    let meta = store.head(&Path::from("a")).await.unwrap();
    assert_eq!(meta.size, 1);
    assert_eq!(scripted.calls(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_total_timeout_bounds_an_operation_that_always_hangs() {
    let scripted = Arc::new(ScriptedStore::with_faults(&[Fault::Hang; 10]));
    let bounded = RetrySettings {
        total_timeout: Duration::from_millis(500),
        ..settings()
    };
    let store = RetryStore::new(Arc::clone(&scripted), bounded, true);
    let started = std::time::Instant::now();
    let error = store.head(&Path::from("a")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let wrapped = crate::Error::from_store("head", "a", error);
    assert_eq!(
        wrapped.code(),
        contrail_proto::ErrorCode::Timeout,
        "{wrapped}"
    );
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_succeeds_when_the_object_is_ours() {
    let (store, scripted) = retrying(&[Fault::ApplyThenFail]);
    let opts = PutOptions::from(PutMode::Create);
    store
        .put_opts(&Path::from("meta.json"), "ours".into(), opts)
        .await
        .unwrap();
    assert_eq!(
        scripted.calls(),
        3,
        "put, put (already exists), verifying get"
    );
}

#[tokio::test]
async fn a_create_over_someone_elses_object_still_fails() {
    let (store, scripted) = retrying(&[]);
    seed(&scripted, "meta.json", "theirs").await;
    let opts = PutOptions::from(PutMode::Create);
    let error = store
        .put_opts(&Path::from("meta.json"), "ours".into(), opts)
        .await
        .unwrap_err();
    assert!(matches!(error, object_store::Error::AlreadyExists { .. }));
    assert_eq!(scripted.calls(), 1, "no ambiguity, no read-back");
}

#[tokio::test]
async fn conditional_updates_are_not_replayed_after_ambiguous_failures() {
    let (store, scripted) = retrying(&[Fault::ServerError]);
    let version = UpdateVersion {
        e_tag: None,
        version: None,
    };
    let opts = PutOptions::from(PutMode::Update(version));
    assert!(
        store
            .put_opts(&Path::from("x"), "v".into(), opts)
            .await
            .is_err()
    );
    assert_eq!(scripted.calls(), 1);
}

#[tokio::test]
async fn a_listing_that_fails_midway_resumes_after_the_last_key() {
    let (store, scripted) = retrying(&[Fault::ListFailAfter(2)]);
    for key in ["t/1", "t/2", "t/3", "t/4"] {
        seed(&scripted, key, "x").await;
    }
    let listed: Vec<String> = store
        .list(Some(&Path::from("t")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, ["t/1", "t/2", "t/3", "t/4"]);
    assert_eq!(scripted.calls(), 2, "list, then list_with_offset");
}

#[tokio::test]
async fn deletes_are_retried_per_location() {
    let (store, scripted) = retrying(&[Fault::ServerError]);
    seed(&scripted, "d", "x").await;
    store.delete(&Path::from("d")).await.unwrap();
    assert!(scripted.inner.head(&Path::from("d")).await.is_err());
}

#[test]
fn backoff_is_capped_and_jittered() {
    let settings = settings();
    for attempt in 1..40 {
        assert!(full_jitter_backoff(&settings, attempt) <= settings.backoff_max);
    }
}
