//! `contrail-cli block ...`: write vc1 blocks from OTLP protobuf files, list and inspect blocks,
//! compact them (`compact`) and look a trace up, all on a local folder (`LocalFileSystem` with
//! the folder as prefix).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::trace::v1::ResourceSpans;
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{
    self, BlockMeta, BlockReader, BlockWriter, BlockWriterConfig, Uuid, list_blocks, list_tenants,
};
use contrail_storage::convert::{Trace, split_by_trace};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};
use prost::Message;

#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Write vc1 blocks from every `*.pb` file (an OTLP ExportTraceServiceRequest each) of a
    /// folder: spans are grouped by trace and sorted by trace ID.
    Write {
        /// Folder with the `*.pb` files.
        #[arg(long)]
        from: PathBuf,
        /// Storage folder to write `<tenant>/<block>/...` into.
        #[arg(long)]
        out: PathBuf,
        /// Tenant that owns the blocks.
        #[arg(long, default_value = TenantId::SINGLE_TENANT)]
        tenant: String,
        /// Cut a new block after this many spans.
        #[arg(long, default_value_t = 1_000_000)]
        max_block_spans: u64,
        /// Cut a new block after this many bytes of input OTLP.
        #[arg(long, default_value_t = 1 << 30)]
        max_block_bytes: u64,
        /// zstd level of data.parquet.
        #[arg(long, default_value_t = 3)]
        zstd_level: i32,
    },
    /// List the blocks under a storage folder.
    List { dir: PathBuf },
    /// Show a block's meta, counts, bytes per span and bytes per column: DIR/<tenant>/<block>.
    Inspect { block: PathBuf },
    /// Run one compaction cycle on a storage folder: merge each window's blocks, drop duplicate
    /// spans, finish interrupted swaps, clean up and write the tenant indexes.
    Compact(super::compact::CompactArgs),
    /// Print a trace as OTLP JSON, found through the bloom filters and row-group statistics.
    Trace {
        dir: PathBuf,
        trace_id: String,
        /// Only look in this tenant's blocks (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub fn run(command: BlockCommand) -> anyhow::Result<ExitCode> {
    if matches!(command, BlockCommand::Compact(_)) {
        crate::alloc::purge_freed_pages_at_once();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(crate::blocking_threads())
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            BlockCommand::Write {
                from,
                out,
                tenant,
                max_block_spans,
                max_block_bytes,
                zstd_level,
            } => {
                let args = WriteArgs {
                    from,
                    out,
                    tenant: TenantId::new(tenant).context("invalid tenant")?,
                    max_block_spans,
                    max_block_bytes,
                    zstd_level,
                };
                write(args).await
            }
            BlockCommand::List { dir } => list(&dir).await,
            BlockCommand::Inspect { block } => inspect(&block).await,
            BlockCommand::Compact(args) => super::compact::compact(args).await,
            BlockCommand::Trace {
                dir,
                trace_id,
                tenant,
            } => trace(&dir, &trace_id, tenant).await,
        }
    })
}

pub(crate) fn local_store(dir: &Path) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let store = LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("cannot open storage folder {}", dir.display()))?;
    Ok(Arc::new(store))
}

struct WriteArgs {
    from: PathBuf,
    out: PathBuf,
    tenant: TenantId,
    max_block_spans: u64,
    max_block_bytes: u64,
    zstd_level: i32,
}

async fn write(args: WriteArgs) -> anyhow::Result<ExitCode> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.from)
        .with_context(|| format!("cannot read {}", args.from.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "pb"));
    files.sort();
    if files.is_empty() {
        bail!("no *.pb files in {}", args.from.display());
    }
    let mut otlp_bytes = 0u64;
    let mut traces: BTreeMap<TraceId, Vec<ResourceSpans>> = BTreeMap::new();
    for file in &files {
        let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        otlp_bytes += raw.len() as u64;
        let request = ExportTraceServiceRequest::decode(raw.as_slice()).with_context(|| {
            format!(
                "{} is not an OTLP ExportTraceServiceRequest",
                file.display()
            )
        })?;
        let split = split_by_trace(request.resource_spans)
            .with_context(|| format!("in {}", file.display()))?;
        for (trace_id, resource_spans) in split {
            traces.entry(trace_id).or_default().extend(resource_spans);
        }
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let store = local_store(&args.out)?;
    let trace_count = traces.len();
    let mut written = Vec::new();
    let mut writer: Option<BlockWriter> = None;
    let mut block_input_bytes = 0u64;
    for (trace_id, resource_spans) in traces {
        let trace_bytes: u64 = resource_spans
            .iter()
            .map(|rs| rs.encoded_len() as u64)
            .sum();
        let current = match writer.as_mut() {
            Some(current) => current,
            None => {
                let mut config = BlockWriterConfig::new(args.tenant.clone());
                config.parquet.zstd_level = args.zstd_level;
                block_input_bytes = 0;
                writer.insert(BlockWriter::new(store.clone(), config)?)
            }
        };
        current
            .push_trace(Trace {
                trace_id,
                resource_spans,
            })
            .await?;
        block_input_bytes += trace_bytes;
        let block_is_full =
            current.spans() >= args.max_block_spans || block_input_bytes >= args.max_block_bytes;
        if block_is_full && let Some(full) = writer.take() {
            written.push(full.finish().await?);
        }
    }
    if let Some(last) = writer.take() {
        written.push(last.finish().await?);
    }

    let spans: u64 = written.iter().map(|block| block.meta.total_spans).sum();
    let bytes: u64 = written.iter().map(|block| block.total_bytes()).sum();
    for block in &written {
        outln!(
            "block {}/{}: {} traces, {} spans, {} bytes",
            block.meta.tenant_id,
            block.meta.block_id,
            block.meta.total_objects,
            block.meta.total_spans,
            block.total_bytes()
        );
    }
    outln!("blocks: {}", written.len());
    outln!("traces: {trace_count}");
    outln!("spans: {spans}");
    outln!("bytes: {bytes}");
    outln!("bytes per span: {:.1}", per_span(bytes, spans));
    outln!("OTLP bytes: {otlp_bytes}");
    outln!("OTLP bytes per span: {:.1}", per_span(otlp_bytes, spans));
    outln!(
        "ratio: {:.3}",
        if otlp_bytes == 0 {
            0.0
        } else {
            bytes as f64 / otlp_bytes as f64
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn per_span(bytes: u64, spans: u64) -> f64 {
    if spans == 0 {
        0.0
    } else {
        bytes as f64 / spans as f64
    }
}

async fn list(dir: &Path) -> anyhow::Result<ExitCode> {
    let store = local_store(dir)?;
    outln!("tenant\tblock\tstate\ttraces\tspans\tbytes\tstart\tend");
    let mut corrupt_blocks = 0usize;
    for tenant in list_tenants(store.as_ref()).await? {
        let blocks = list_blocks(store.clone(), &tenant).await?;
        let live = blocks.live.iter().map(|meta| (meta, "live"));
        let compacted = blocks
            .compacted
            .iter()
            .map(|compacted| (&compacted.meta, "compacted"));
        for (meta, state) in live.chain(compacted) {
            outln!(
                "{tenant}\t{}\t{state}\t{}\t{}\t{}\t{}\t{}",
                meta.block_id,
                meta.total_objects,
                meta.total_spans,
                meta.size + meta.bloom_size,
                meta.start_time.to_rfc3339(),
                meta.end_time.to_rfc3339()
            );
        }
        for corrupt in &blocks.corrupt {
            corrupt_blocks += 1;
            outln!("{tenant}\t{}\tcorrupt\t-\t-\t-\t-\t-", corrupt.block_id);
            eprintln!("error: {}", corrupt.reason);
        }
    }
    // Operators' scripts must notice a corrupt block: list the healthy ones, then fail.
    Ok(if corrupt_blocks == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn inspect(block_dir: &Path) -> anyhow::Result<ExitCode> {
    let block_id_text = block_dir
        .file_name()
        .and_then(|name| name.to_str())
        .context("block path has no block ID")?;
    let block_id = Uuid::parse_str(block_id_text)
        .with_context(|| format!("{block_id_text} is not a block ID"))?;
    let tenant_dir = block_dir
        .parent()
        .context("block path has no tenant folder")?;
    let tenant = tenant_dir
        .file_name()
        .and_then(|name| name.to_str())
        .context("block path has no tenant")?;
    let tenant = &TenantId::new(tenant).context("block path has an invalid tenant folder")?;
    let root = tenant_dir
        .parent()
        .filter(|root| !root.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let store = local_store(root)?;
    let meta = match block::read_block_meta(store.as_ref(), tenant, &block_id).await {
        Ok(meta) => meta,
        Err(contrail_storage::Error::NotFound { .. }) => {
            let path = block::object_path(tenant, &block_id, block::COMPACTED_META_OBJECT);
            let raw = store
                .get(&path)
                .await
                .with_context(|| {
                    format!(
                        "no meta.json or meta.compacted.json under {}",
                        block_dir.display()
                    )
                })?
                .bytes()
                .await?;
            let compacted: block::CompactedBlockMeta =
                serde_json::from_slice(&raw).with_context(|| format!("corrupt {path}"))?;
            outln!("compacted at {}", compacted.compacted_time.to_rfc3339());
            compacted.meta
        }
        Err(error) => return Err(error.into()),
    };
    outln!("{}", serde_json::to_string_pretty(&meta)?);
    let objects: Vec<_> = store
        .list(Some(&block::block_path(tenant, &block_id)))
        .try_collect()
        .await?;
    let total: u64 = objects.iter().map(|object| object.size).sum();
    outln!("\nobjects:");
    for object in &objects {
        outln!("  {}\t{} bytes", object.location, object.size);
    }
    outln!("traces: {}", meta.total_objects);
    outln!("spans: {}", meta.total_spans);
    outln!("row groups: {}", meta.total_records);
    outln!("bytes: {total}");
    outln!("bytes per span: {:.1}", per_span(total, meta.total_spans));
    print_columns(store, meta).await?;
    Ok(ExitCode::SUCCESS)
}

async fn print_columns(store: Arc<dyn ObjectStore>, meta: BlockMeta) -> anyhow::Result<()> {
    let spans = meta.total_spans;
    let reader = BlockReader::open(store, meta)?;
    let metadata = reader.parquet_metadata().await?;
    let mut columns: BTreeMap<String, ColumnSizes> = BTreeMap::new();
    for (row_group_index, row_group) in metadata.row_groups().iter().enumerate() {
        for (column_index, column) in row_group.columns().iter().enumerate() {
            let entry = columns.entry(column.column_path().string()).or_default();
            entry.compressed += column.compressed_size().max(0) as u64;
            entry.uncompressed += column.uncompressed_size().max(0) as u64;
            entry
                .encodings
                .extend(column.encodings().map(|encoding| encoding.to_string()));
            if let Some(pages) = metadata
                .page_index()
                .and_then(|index| index.offset_index(row_group_index, column_index))
            {
                entry.data_pages += pages.page_locations().len() as u64;
            }
        }
    }
    let mut rows: Vec<_> = columns.into_iter().collect();
    rows.sort_by_key(|(_, sizes)| std::cmp::Reverse(sizes.compressed));
    outln!(
        "\ncolumn\tcompressed bytes\tuncompressed bytes\tcompressed bytes per span\tdata pages\t\
         encodings"
    );
    for (name, sizes) in rows {
        let encodings: Vec<String> = sizes.encodings.into_iter().collect();
        outln!(
            "{name}\t{}\t{}\t{:.2}\t{}\t{}",
            sizes.compressed,
            sizes.uncompressed,
            per_span(sizes.compressed, spans),
            sizes.data_pages,
            encodings.join(",")
        );
    }
    Ok(())
}

/// One leaf column's totals over the row groups, for `block inspect`.
#[derive(Debug, Default)]
struct ColumnSizes {
    compressed: u64,
    uncompressed: u64,
    data_pages: u64,
    encodings: std::collections::BTreeSet<String>,
}

async fn trace(
    dir: &Path,
    trace_id_text: &str,
    tenant: Option<String>,
) -> anyhow::Result<ExitCode> {
    let trace_id = TraceId::from_hex(trace_id_text)
        .with_context(|| format!("invalid trace ID {trace_id_text:?}"))?;
    let store = local_store(dir)?;
    let tenants = match tenant {
        Some(tenant) => vec![TenantId::new(tenant).context("invalid tenant")?],
        None => list_tenants(store.as_ref()).await?,
    };
    let mut found: Vec<ResourceSpans> = Vec::new();
    let mut seen_spans: HashSet<Vec<u8>> = HashSet::new();
    for tenant in tenants {
        for meta in list_blocks(store.clone(), &tenant).await?.live {
            let reader = BlockReader::open(store.clone(), meta)?;
            let Some(trace) = reader.find_trace(&trace_id).await? else {
                continue;
            };
            for mut resource_spans in trace.resource_spans {
                // The same span written by several ingesters is shown once.
                for scope_spans in &mut resource_spans.scope_spans {
                    scope_spans
                        .spans
                        .retain(|span| seen_spans.insert(span.encode_to_vec()));
                }
                resource_spans
                    .scope_spans
                    .retain(|scope_spans| !scope_spans.spans.is_empty());
                if !resource_spans.scope_spans.is_empty() {
                    found.push(resource_spans);
                }
            }
        }
    }
    if found.is_empty() {
        eprintln!("trace not found");
        return Ok(ExitCode::FAILURE);
    }
    let request = ExportTraceServiceRequest {
        resource_spans: found,
    };
    outln!("{}", serde_json::to_string_pretty(&request)?);
    Ok(ExitCode::SUCCESS)
}
