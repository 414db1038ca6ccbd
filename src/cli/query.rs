//! `contrail-cli query blocks DIR QUERY`: a TraceQL search over the vc1 blocks of a local
//! storage folder, printed as the JSON of Tempo's `/api/search` response (a
//! `tempopb.SearchResponse`), so the engine is usable and testable before the HTTP server.
//!
//! Each block is one unit of the search; the vc1 source overlaps its row groups' reads and
//! decodes, and evaluation runs on the same decode pool.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use contrail_proto::TenantId;
use contrail_storage::DecodePool;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::{BlockReader, ReaderOptions, list_blocks};
use contrail_storage::parquet_query::FetchOptions;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::{SearchOptions, parse, plan_search, search};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

/// The memory budget of one query (decoded columns and held results).
const QUERY_BUDGET_BYTES: usize = 768 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Search the vc1 blocks under DIR (`DIR/<tenant>/<block>/...`) with a TraceQL query and
    /// print the `/api/search` response JSON.
    Blocks {
        /// Storage folder.
        dir: PathBuf,
        /// The TraceQL search query.
        query: String,
        /// Tenant whose blocks are searched.
        #[arg(long, default_value = TenantId::SINGLE_TENANT)]
        tenant: String,
        /// Start of the time range, unix seconds (default: all time).
        #[arg(long)]
        start: Option<u64>,
        /// End of the time range, unix seconds (default: all time).
        #[arg(long)]
        end: Option<u64>,
        /// Traces returned.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Spans shown per spanset (0: all).
        #[arg(long, default_value_t = 3)]
        spss: usize,
    },
}

/// Turns transparent huge pages off for this process. mimalloc advises huge pages for its
/// arenas, so with the kernel's `madvise` THP mode each fresh 2 MiB of heap is one fault that
/// zeroes 2 MiB (and may stall in compaction): a query of ~0.1 s spent more time zeroing huge
/// pages than reading its blocks, and held 3x the memory it touched. A one-shot query gains
/// nothing from huge pages' fewer TLB misses. Failing (a kernel without the prctl) only leaves
/// the default.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%error, "transparent huge pages stay on");
    }
}

pub fn run(command: QueryCommand) -> anyhow::Result<ExitCode> {
    let QueryCommand::Blocks {
        dir,
        query,
        tenant,
        start,
        end,
        limit,
        spss,
    } = command;
    let tenant = TenantId::new(tenant).context("invalid tenant")?;
    let start_unix_nano = start.map_or(0, |seconds| seconds.saturating_mul(1_000_000_000));
    let end_unix_nano = end.map_or(u64::MAX, |seconds| seconds.saturating_mul(1_000_000_000));
    if start_unix_nano > end_unix_nano {
        bail!("--start must not be after --end");
    }
    let root = parse(&query).map_err(|error| anyhow::anyhow!("invalid query: {error}"))?;
    let options = SearchOptions {
        start_unix_nano,
        end_unix_nano,
        limit,
        spans_per_spanset: spss,
        most_recent: false,
    };
    let plan = Arc::new(plan_search(&root, options).map_err(|error| anyhow::anyhow!("{error}"))?);
    if !dir.is_dir() {
        bail!("storage folder {} does not exist", dir.display());
    }
    without_huge_pages();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(&dir)
                .with_context(|| format!("open storage folder {}", dir.display()))?,
        );
        let listing = list_blocks(store.clone(), &tenant)
            .await
            .with_context(|| format!("list blocks of tenant {tenant}"))?;
        for corrupt in &listing.corrupt {
            eprintln!(
                "warning: skipping block {}: {}",
                corrupt.block_id, corrupt.reason
            );
        }
        let pool = DecodePool::shared();
        // a local folder: each fetch's ranges in one call (one open, one blocking hop)
        let reader_options = ReaderOptions {
            pool: pool.clone(),
            fetch: FetchOptions {
                single_request: true,
                ..FetchOptions::default()
            },
        };
        let mut sources: Vec<Arc<dyn SpanSource>> = Vec::new();
        for meta in listing.live {
            let row_groups = meta.row_groups.len();
            let reader = Arc::new(BlockReader::open_with(
                store.clone(),
                meta,
                reader_options.clone(),
            )?);
            sources.push(Arc::new(BlockSpanSource::new(reader, 0..row_groups)));
        }
        let budget = MemoryBudget::new(QUERY_BUDGET_BYTES);
        let outcome = search(&plan, &sources, &pool, &budget)
            .await
            .map_err(|error| anyhow::anyhow!("search failed: {error}"))?;
        let json = serde_json::to_string(&outcome.response)?;
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
            // a reader that stopped reading (`| head`) is not an error of the search
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("write the response")?,
        }
        Ok(ExitCode::SUCCESS)
    })
}
