//! The vc1 blocks of a local storage folder as span sources (one per block), and the JSON
//! answer printed on stdout: what `query blocks` shares between searches and metrics queries.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use contrail_proto::TenantId;
use contrail_storage::DecodePool;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::{BlockMeta, BlockReader, ReaderOptions, list_blocks};
use contrail_storage::parquet_query::FetchOptions;
use contrail_traceql::fetch::SpanSource;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

/// The memory budget of one query (decoded columns and held results).
pub(super) const QUERY_BUDGET_BYTES: usize = 768 * 1024 * 1024;

/// The live blocks of `tenant` under `dir`.
pub(super) struct FolderSources {
    pub(super) sources: Vec<Arc<dyn SpanSource>>,
    /// Earliest span start and latest span end over the blocks (unix nanoseconds; `None`
    /// without blocks).
    pub(super) time_range: Option<(u64, u64)>,
}

/// The block's earliest span start and latest span end, unix nanoseconds.
fn block_time_range(meta: &BlockMeta) -> (u64, u64) {
    let nanos = |time: Option<i64>| {
        time.and_then(|nanos| u64::try_from(nanos).ok())
            .unwrap_or(0)
    };
    (
        nanos(meta.start_time.timestamp_nanos_opt()),
        nanos(meta.end_time.timestamp_nanos_opt()),
    )
}

/// A small runtime for one query.
///
/// Its blocking threads, where the local store's reads and the decode pool's jobs run, are
/// as many as the decode pool's slots: neither kind of job waits for another, and each
/// blocking thread (tokio starts up to 512) costs a stack and a mimalloc heap of its own whose
/// fresh memory is faulted in and zeroed (in 2 MiB transparent huge pages where the kernel
/// grants them). With a thread per job in flight, W3's Q5 started ~20 threads and peaked at
/// ~200 MiB; with 2, at ~95 MiB and a tenth less CPU (BENCHMARKS.md, W3).
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(DecodePool::shared().threads())
        .enable_all()
        .build()?)
}

/// Opens every live block of `tenant` under `dir` (corrupt ones are skipped with a warning).
pub(super) async fn open_blocks(
    dir: &Path,
    tenant: &TenantId,
    pool: &DecodePool,
) -> anyhow::Result<FolderSources> {
    if !dir.is_dir() {
        bail!("storage folder {} does not exist", dir.display());
    }
    let store: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("open storage folder {}", dir.display()))?,
    );
    let listing = list_blocks(store.clone(), tenant)
        .await
        .with_context(|| format!("list blocks of tenant {tenant}"))?;
    for corrupt in &listing.corrupt {
        eprintln!(
            "warning: skipping block {}: {}",
            corrupt.block_id, corrupt.reason
        );
    }
    // a local folder: the ranges of each fetch in one call (one open, one blocking hop)
    let reader_options = ReaderOptions {
        pool: pool.clone(),
        fetch: FetchOptions::for_backend(contrail_storage::config::Backend::Local),
    };
    let mut sources: Vec<Arc<dyn SpanSource>> = Vec::new();
    let mut time_range: Option<(u64, u64)> = None;
    for meta in listing.live {
        let (start, end) = block_time_range(&meta);
        time_range = Some(match time_range {
            Some((low, high)) => (low.min(start), high.max(end)),
            None => (start, end),
        });
        let row_groups = meta.row_groups.len();
        let reader = Arc::new(BlockReader::open_with(
            store.clone(),
            meta,
            reader_options.clone(),
        )?);
        sources.push(Arc::new(BlockSpanSource::new(reader, 0..row_groups)));
    }
    Ok(FolderSources {
        sources,
        time_range,
    })
}

/// Prints `json` and a newline on stdout; a reader that stopped reading (`| head`) is not an
/// error of the query.
pub(super) fn print_json(json: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write the response"),
    }
}
