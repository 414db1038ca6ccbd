//! The blocklist: per tenant, the live blocks a query may read and the blocks known compacted.
//!
//! [`Blocklist::run`] re-reads every tenant at `querier.blocklist_poll`: the tenant index
//! `<tenant>/index.json.zst` (one GET) when there is one, a listing otherwise (or when the
//! index is corrupt). A tenant asked for before its first poll is read on the spot. A block that
//! turns out missing under a running query is checked with [`Blocklist::refresh`]: when it is
//! now known compacted, the query skips it and reads the blocks that replaced it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use contrail_proto::{Clock, TenantId};
use contrail_storage::block::{BlockMeta, Uuid, list_blocks, list_tenants, read_tenant_index};
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::metrics::QuerierMetrics;

/// One tenant's blocks at one poll.
#[derive(Debug, Clone, Default)]
pub struct TenantBlocks {
    /// Live blocks, newest (latest end time) first, then by block ID.
    pub live: Vec<Arc<BlockMeta>>,
    /// Blocks replaced by compaction.
    pub compacted: HashSet<Uuid>,
    /// When the poll ran (unix nanoseconds, from the clock).
    pub polled_at_unix_nanos: u64,
}

/// The blocklist of every tenant; see the module docs.
pub struct Blocklist {
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    poll_interval: Duration,
    metrics: QuerierMetrics,
    tenants: RwLock<HashMap<TenantId, Arc<TenantBlocks>>>,
}

impl std::fmt::Debug for Blocklist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocklist")
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl Blocklist {
    /// A blocklist over `store`, polled every `poll_interval` once [`Blocklist::run`] runs.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        poll_interval: Duration,
        metrics: QuerierMetrics,
    ) -> Self {
        Blocklist {
            store,
            clock,
            poll_interval,
            metrics,
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// The blocks of `tenant` (read now if the tenant was never polled).
    pub async fn blocks(&self, tenant: &TenantId) -> Result<Arc<TenantBlocks>> {
        let known = self
            .tenants
            .read()
            .map_err(|_| Error::internal("blocklist poisoned"))?
            .get(tenant)
            .cloned();
        match known {
            Some(blocks) => Ok(blocks),
            None => self.refresh(tenant).await,
        }
    }

    /// Reads `tenant`'s blocks again now.
    pub async fn refresh(&self, tenant: &TenantId) -> Result<Arc<TenantBlocks>> {
        let blocks = Arc::new(self.poll_tenant(tenant).await?);
        self.metrics
            .blocklist_blocks
            .with_label_values(&[tenant.as_str(), "live"])
            .set(i64::try_from(blocks.live.len()).unwrap_or(i64::MAX));
        self.metrics
            .blocklist_blocks
            .with_label_values(&[tenant.as_str(), "compacted"])
            .set(i64::try_from(blocks.compacted.len()).unwrap_or(i64::MAX));
        self.tenants
            .write()
            .map_err(|_| Error::internal("blocklist poisoned"))?
            .insert(tenant.clone(), blocks.clone());
        Ok(blocks)
    }

    async fn poll_tenant(&self, tenant: &TenantId) -> Result<TenantBlocks> {
        let polled_at_unix_nanos = self.clock.now_unix_nanos();
        let index = match read_tenant_index(self.store.as_ref(), tenant).await {
            Ok(index) => index,
            Err(error) if error.code() == contrail_proto::ErrorCode::DataCorrupt => {
                tracing::warn!(tenant = %tenant, error = %error, "tenant index unreadable, listing blocks");
                None
            }
            Err(error) => {
                self.metrics
                    .blocklist_polls
                    .with_label_values(&["error"])
                    .inc();
                return Err(error.into());
            }
        };
        let (live, compacted): (Vec<BlockMeta>, HashSet<Uuid>) = match index {
            Some(index) => {
                self.metrics
                    .blocklist_polls
                    .with_label_values(&["index"])
                    .inc();
                (
                    index.meta,
                    index.compacted.iter().map(|c| c.meta.block_id).collect(),
                )
            }
            None => {
                let listed = list_blocks(self.store.clone(), tenant)
                    .await
                    .inspect_err(|_| {
                        self.metrics
                            .blocklist_polls
                            .with_label_values(&["error"])
                            .inc();
                    })?;
                self.metrics
                    .blocklist_polls
                    .with_label_values(&["list"])
                    .inc();
                for corrupt in &listed.corrupt {
                    tracing::warn!(tenant = %tenant, block_id = %corrupt.block_id, reason = %corrupt.reason, "skipping block with a corrupt meta");
                }
                (
                    listed.live,
                    listed.compacted.iter().map(|c| c.meta.block_id).collect(),
                )
            }
        };
        let mut live: Vec<Arc<BlockMeta>> = live
            .into_iter()
            .filter(|meta| !compacted.contains(&meta.block_id))
            .map(Arc::new)
            .collect();
        live.sort_by(|a, b| {
            b.end_time
                .cmp(&a.end_time)
                .then_with(|| a.block_id.cmp(&b.block_id))
        });
        Ok(TenantBlocks {
            live,
            compacted,
            polled_at_unix_nanos,
        })
    }

    /// Polls every tenant in the store once.
    pub async fn poll_all(&self) -> Result<()> {
        let tenants = list_tenants(self.store.as_ref()).await?;
        for tenant in tenants {
            if let Err(error) = self.refresh(&tenant).await {
                tracing::warn!(tenant = %tenant, error = %error, "blocklist poll failed; keeping the previous list");
            }
        }
        Ok(())
    }

    /// Polls every tenant at the interval until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<()> {
        let mut ticker = tokio::time::interval(self.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = ticker.tick() => {
                    if let Err(error) = self.poll_all().await {
                        tracing::warn!(error = %error, "blocklist poll failed");
                    }
                }
            }
        }
    }
}
