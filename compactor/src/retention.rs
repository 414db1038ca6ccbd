//! Retention and clean-up of one tenant's blocks, run each cycle by the tenant's owner:
//!
//! - **superseded**: a live block listed in another block's `compactedFrom` (its compactor
//!   stopped between writing the output's `meta.json` and marking the inputs) is marked
//!   compacted, finishing that swap;
//! - **expired**: a live block whose end is older than the tenant's `block_retention` is marked
//!   compacted;
//! - **deleted**: a compacted block marked longer than `compacted_block_retention` ago is
//!   deleted, `meta.compacted.json` first (so a half-deleted block is never listed);
//! - **orphan**: a block folder without any meta whose newest object is older than
//!   [`orphan_age`] (a writer that died before `meta.json`, or a half-deleted block) is deleted;
//! - **lease**: the lease folder of a window that ended before every block of it can have been
//!   deleted (retention + compacted retention + two windows) is deleted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contrail_proto::{Clock, TenantId};
use contrail_storage::block::{
    BlockList, BlockMeta, COMPACTED_META_OBJECT, Uuid, block_path, mark_compacted, object_path,
};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::Result;
use crate::lease::LEASES_FOLDER;
use crate::metrics::CompactorMetrics;
use crate::planner::WindowIndex;

/// The shortest age of a meta-less block folder before it is deleted as an orphan; a block
/// being written has no meta for seconds, not hours.
pub const MIN_ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// How old a meta-less folder must be to be deleted: `compacted_block_retention`, at least
/// [`MIN_ORPHAN_AGE`].
pub fn orphan_age(compacted_block_retention: Duration) -> Duration {
    compacted_block_retention.max(MIN_ORPHAN_AGE)
}

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Live blocks marked compacted because a live block replaces them.
    pub superseded: usize,
    /// Live blocks marked compacted because they are past retention.
    pub expired: usize,
    /// Compacted blocks deleted.
    pub deleted: usize,
    /// Meta-less folders deleted.
    pub orphans: usize,
    /// Lease folders of long-gone windows deleted.
    pub leases: usize,
}

/// The durations retention works with, for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Live blocks ending before now − this are marked compacted.
    pub block_retention: Duration,
    /// Compacted blocks marked before now − this are deleted.
    pub compacted_block_retention: Duration,
    /// The tenant's window width (lease folders are named by window).
    pub compaction_window: Duration,
}

/// Live blocks that another listed block (live or compacted) replaces.
pub fn superseded(list: &BlockList) -> HashSet<Uuid> {
    let replaced: HashSet<Uuid> = list
        .live
        .iter()
        .chain(list.compacted.iter().map(|compacted| &compacted.meta))
        .flat_map(|meta| meta.compacted_from.iter().copied())
        .collect();
    list.live
        .iter()
        .map(|meta| meta.block_id)
        .filter(|block_id| replaced.contains(block_id))
        .collect()
}

/// Runs the retention steps for one tenant.
#[derive(Debug)]
pub(crate) struct Retention<'a> {
    pub(crate) store: &'a Arc<dyn ObjectStore>,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) metrics: &'a CompactorMetrics,
    pub(crate) concurrency: usize,
}

fn time_of(unix_nanos: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(unix_nanos).unwrap_or(i64::MAX))
}

fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Retention<'_> {
    /// Every step, on one listing of `tenant`.
    pub(crate) async fn run(
        &self,
        tenant: &TenantId,
        list: &BlockList,
        settings: RetentionSettings,
    ) -> Result<RetentionReport> {
        let RetentionSettings {
            block_retention,
            compacted_block_retention,
            compaction_window,
        } = settings;
        let now = time_of(self.clock.now_unix_nanos());
        let replaced = superseded(list);
        let superseded_blocks: Vec<&BlockMeta> = list
            .live
            .iter()
            .filter(|meta| replaced.contains(&meta.block_id))
            .collect();
        let expire_before = before(now, block_retention);
        let expired_blocks: Vec<&BlockMeta> = list
            .live
            .iter()
            .filter(|meta| !replaced.contains(&meta.block_id) && meta.end_time < expire_before)
            .collect();
        let delete_before = before(now, compacted_block_retention);
        let deletable: Vec<Uuid> = list
            .compacted
            .iter()
            .filter(|compacted| compacted.compacted_time < delete_before)
            .map(|compacted| compacted.meta.block_id)
            .collect();
        let report = RetentionReport {
            superseded: self.mark(&superseded_blocks, now).await?,
            expired: self.mark(&expired_blocks, now).await?,
            deleted: self.delete_blocks(tenant, &deletable, true).await?,
            orphans: self
                .delete_orphans(
                    tenant,
                    list,
                    before(now, orphan_age(compacted_block_retention)),
                )
                .await?,
            leases: self
                .delete_old_leases(
                    tenant,
                    compaction_window,
                    before(
                        now,
                        block_retention + compacted_block_retention + 2 * compaction_window,
                    ),
                )
                .await?,
        };
        let count = |status: &str, value: usize| {
            self.metrics
                .retention_blocks_total
                .with_label_values(&[tenant.as_str(), status])
                .inc_by(value as u64);
        };
        count("superseded", report.superseded);
        count("expired", report.expired);
        count("deleted", report.deleted);
        count("orphan", report.orphans);
        count("lease", report.leases);
        Ok(report)
    }

    async fn mark(&self, blocks: &[&BlockMeta], now: DateTime<Utc>) -> Result<usize> {
        // Futures of an `async fn` with owned arguments, built in a loop: futures made by a
        // closure over borrowed items make every caller's future !Send (rustc's higher-ranked
        // lifetime limitation).
        let mut marks = Vec::with_capacity(blocks.len());
        for meta in blocks {
            marks.push(mark_one(self.store.clone(), (*meta).clone(), now));
        }
        futures::stream::iter(marks)
            .buffer_unordered(self.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(blocks.len())
    }

    /// Deletes each block's objects; with `meta_first`, `meta.compacted.json` goes first.
    async fn delete_blocks(
        &self,
        tenant: &TenantId,
        block_ids: &[Uuid],
        meta_first: bool,
    ) -> Result<usize> {
        let mut deletions = Vec::with_capacity(block_ids.len());
        for block_id in block_ids {
            let meta = meta_first.then(|| object_path(tenant, block_id, COMPACTED_META_OBJECT));
            deletions.push(delete_block(
                self.store.clone(),
                meta,
                block_path(tenant, block_id),
            ));
        }
        futures::stream::iter(deletions)
            .buffer_unordered(self.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(block_ids.len())
    }

    async fn delete_orphans(
        &self,
        tenant: &TenantId,
        list: &BlockList,
        older_than: DateTime<Utc>,
    ) -> Result<usize> {
        let known: HashSet<Uuid> = list
            .live
            .iter()
            .map(|meta| meta.block_id)
            .chain(
                list.compacted
                    .iter()
                    .map(|compacted| compacted.meta.block_id),
            )
            .chain(list.corrupt.iter().map(|corrupt| corrupt.block_id))
            .collect();
        let prefix = Path::from(tenant.as_str());
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|source| contrail_storage::Error::from_store("list", &prefix, source))?;
        let mut orphans = Vec::new();
        for folder in &listing.common_prefixes {
            let Some(block_id) = folder
                .filename()
                .and_then(|name| Uuid::parse_str(name).ok())
            else {
                continue;
            };
            if known.contains(&block_id) {
                continue;
            }
            let objects: Vec<_> = self
                .store
                .list(Some(folder))
                .try_collect()
                .await
                .map_err(|source| contrail_storage::Error::from_store("list", folder, source))?;
            let newest = objects.iter().map(|object| object.last_modified).max();
            if newest.is_some_and(|newest| newest < older_than) {
                orphans.push(block_id);
            }
        }
        self.delete_blocks(tenant, &orphans, false).await
    }
}

impl Retention<'_> {
    /// Deletes the lease folders of windows that ended before `ended_before`.
    async fn delete_old_leases(
        &self,
        tenant: &TenantId,
        compaction_window: Duration,
        ended_before: DateTime<Utc>,
    ) -> Result<usize> {
        let prefix = Path::from(tenant.as_str()).join(LEASES_FOLDER);
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|source| contrail_storage::Error::from_store("list", &prefix, source))?;
        let width = i64::try_from(compaction_window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut deleted = 0;
        for folder in &listing.common_prefixes {
            let Some(window) = folder
                .filename()
                .and_then(|name| name.parse::<WindowIndex>().ok())
            else {
                continue;
            };
            let window_end = window.saturating_add(1).saturating_mul(width);
            if window_end < ended_before.timestamp() {
                delete_block(self.store.clone(), None, folder.clone()).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

async fn mark_one(store: Arc<dyn ObjectStore>, meta: BlockMeta, now: DateTime<Utc>) -> Result<()> {
    Ok(mark_compacted(store.as_ref(), &meta, now).await?)
}

/// Deletes `meta` first (when given), then every object under `prefix`.
async fn delete_block(store: Arc<dyn ObjectStore>, meta: Option<Path>, prefix: Path) -> Result<()> {
    if let Some(meta) = meta {
        delete_object(store.as_ref(), &meta).await?;
    }
    let objects: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| contrail_storage::Error::from_store("list", &prefix, source))?;
    for object in objects {
        delete_object(store.as_ref(), &object.location).await?;
    }
    Ok(())
}

async fn delete_object(store: &dyn ObjectStore, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(contrail_storage::Error::from_store("delete", path, source).into()),
    }
}
