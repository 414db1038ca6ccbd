//! Window leases: a compactor compacts a (tenant, window) only while it holds the window's
//! lease, so two compactors never compact the same block, whatever they believe about the
//! membership.
//!
//! A lease is a sequence of generations `<tenant>/compactor-leases/<window>/<generation>.json`,
//! each written with a conditional create (`PutMode::Create`: S3 `If-None-Match: *`, atomic on
//! every backend), holding the owner, a random nonce and an expiry. The newest generation is the
//! lease's state. Taking a free (absent, expired or released) lease, renewing and releasing
//! each create the next generation; of two compactors racing for the same generation exactly
//! one create succeeds. Older generations are deleted after a successful create.
//!
//! Expiry is what frees the window of a compactor that died; the holder renews well before it
//! (`lease_duration / 3`) and checks, before making a job's output visible, that its lease has
//! at least half its duration left. Times come from the injected `Clock`; compactors' clocks
//! must agree to much better than the lease duration.
//!
//! Every generation also records the holder's intent (the job's output block and inputs) until
//! the swap is done. Whoever takes the lease next gets the intents of every generation still
//! present, and finishes a swap whose output became visible before its compactor died (see
//! `executor`); older generations are deleted only at the next create after that.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contrail_proto::{Clock, TenantId};
use contrail_storage::block::Uuid;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::planner::WindowIndex;

/// Folder of the leases under `<tenant>/` (not a block ID, so block listings skip it).
pub const LEASES_FOLDER: &str = "compactor-leases";

/// What a lease holder is doing: the output it writes and the inputs that output replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobIntent {
    /// The output block's ID.
    pub output: Uuid,
    /// The input blocks' IDs.
    pub inputs: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeaseRecord {
    owner: String,
    nonce: Uuid,
    expires_unix_nanos: u64,
    released: bool,
    #[serde(default)]
    intent: Option<JobIntent>,
}

#[derive(Debug, Clone)]
struct LeaseState {
    generation: u64,
    expires_unix_nanos: u64,
    /// Generations older than `generation`, deleted at the next successful create.
    stale: Vec<u64>,
}

/// What `Leases::observe` read of a lease's folder.
struct Observed {
    generations: Vec<u64>,
    earlier: Vec<JobIntent>,
    latest: Option<LeaseRecord>,
}

/// A lease this compactor holds.
#[derive(Debug)]
pub struct Lease {
    tenant: TenantId,
    window: WindowIndex,
    folder: Path,
    intent: JobIntent,
    state: Mutex<LeaseState>,
}

impl Lease {
    fn state(&self) -> LeaseState {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_state(&self, state: LeaseState) {
        *self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }

    /// When the lease expires unless renewed, unix nanoseconds.
    pub fn expires_unix_nanos(&self) -> u64 {
        self.state().expires_unix_nanos
    }
}

/// Takes, renews and releases window leases for one compactor.
#[derive(Debug, Clone)]
pub struct Leases {
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    owner: String,
    duration: Duration,
}

fn generation_path(folder: &Path, generation: u64) -> Path {
    folder
        .clone()
        .join(format!("{generation:020}.json").as_str())
}

impl Leases {
    /// Leases held by `owner` for `duration` at a time.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        owner: String,
        duration: Duration,
    ) -> Self {
        Leases {
            store,
            clock,
            owner,
            duration,
        }
    }

    fn folder(tenant: &TenantId, window: WindowIndex) -> Path {
        Path::from(tenant.as_str())
            .join(LEASES_FOLDER)
            .join(window.to_string().as_str())
    }

    fn lease_busy(tenant: &TenantId, window: WindowIndex, record: &LeaseRecord) -> Error {
        Error::LeaseBusy {
            tenant: tenant.to_string(),
            window: window.to_string(),
            owner: record.owner.clone(),
            expires_at: chrono::DateTime::from_timestamp_nanos(
                i64::try_from(record.expires_unix_nanos).unwrap_or(i64::MAX),
            )
            .to_rfc3339(),
        }
    }

    /// Takes the lease of `window` for the job `intent`, or fails with `LeaseBusy` when another
    /// compactor holds it. Also returns the intents recorded by earlier holders, oldest first.
    pub async fn acquire(
        &self,
        tenant: &TenantId,
        window: WindowIndex,
        intent: JobIntent,
    ) -> Result<(Lease, Vec<JobIntent>)> {
        let folder = Self::folder(tenant, window);
        let observed = self.observe(&folder).await?;
        self.take(tenant, window, folder, observed, intent).await
    }

    /// The generations present and what they record.
    async fn observe(&self, folder: &Path) -> Result<Observed> {
        let generations = self.generations(folder).await?;
        let mut earlier = Vec::new();
        let mut latest = None;
        for generation in &generations {
            match self.read(&generation_path(folder, *generation)).await {
                Ok(record) => {
                    earlier.extend(record.intent.clone());
                    latest = Some(record);
                }
                // Deleted since the listing by a newer holder: the create below cannot take
                // the lease (its name is taken or, if freed too, a newer generation is listed).
                Err(Error::Storage(contrail_storage::Error::NotFound { .. })) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(Observed {
            generations,
            earlier,
            latest,
        })
    }

    /// Takes the lease from what `observe` saw, which may be out of date by now.
    async fn take(
        &self,
        tenant: &TenantId,
        window: WindowIndex,
        folder: Path,
        observed: Observed,
        intent: JobIntent,
    ) -> Result<(Lease, Vec<JobIntent>)> {
        let Observed {
            generations,
            earlier,
            latest,
        } = observed;
        let now = self.clock.now_unix_nanos();
        if let Some(record) = &latest
            && !record.released
            && record.expires_unix_nanos > now
        {
            return Err(Self::lease_busy(tenant, window, record));
        }
        let next = generations.last().map_or(0, |latest| latest + 1);
        let expires_unix_nanos = self.expiry();
        let record = self.record(expires_unix_nanos, false, Some(intent.clone()));
        match self.create(&folder, next, &record).await {
            Ok(()) => {}
            Err(Error::Storage(contrail_storage::Error::AlreadyExists { .. })) => {
                let record = self.read(&generation_path(&folder, next)).await?;
                return Err(Self::lease_busy(tenant, window, &record));
            }
            Err(error) => return Err(error),
        }
        if let Some(newer) = self.newer_generation(&folder, next).await? {
            // Our generation's name had been used and deleted (a holder took it, moved on and
            // deleted it) while we read an older state: `newer` is the lease's real state.
            self.discard(&folder, next).await;
            let record = self.read(&generation_path(&folder, newer)).await?;
            return Err(Self::lease_busy(tenant, window, &record));
        }
        let lease = Lease {
            tenant: tenant.clone(),
            window,
            folder,
            intent,
            state: Mutex::new(LeaseState {
                generation: next,
                expires_unix_nanos,
                stale: generations,
            }),
        };
        Ok((lease, earlier))
    }

    /// Extends the lease by a full duration; `LeaseLost` if it expired or was taken over.
    pub async fn renew(&self, lease: &Lease) -> Result<()> {
        let state = lease.state();
        if state.expires_unix_nanos <= self.clock.now_unix_nanos() {
            return Err(self.lost(lease, "expired before it was renewed"));
        }
        let next = state.generation + 1;
        let expires_unix_nanos = self.expiry();
        let record = self.record(expires_unix_nanos, false, Some(lease.intent.clone()));
        match self.create(&lease.folder, next, &record).await {
            Ok(()) => {}
            Err(Error::Storage(contrail_storage::Error::AlreadyExists { .. })) => {
                return Err(self.lost(lease, "another compactor took it over"));
            }
            Err(error) => return Err(error),
        }
        if self.newer_generation(&lease.folder, next).await?.is_some() {
            self.discard(&lease.folder, next).await;
            return Err(self.lost(lease, "another compactor took it over"));
        }
        lease.set_state(LeaseState {
            generation: next,
            expires_unix_nanos,
            stale: Vec::new(),
        });
        let mut stale = state.stale;
        stale.push(state.generation);
        self.delete_older(&lease.folder, &stale).await;
        Ok(())
    }

    /// Renews the lease unless it has at least half its duration left; `LeaseLost` if it is
    /// gone. Called before a job makes its output visible.
    pub async fn ensure_fresh(&self, lease: &Lease) -> Result<()> {
        let left = lease
            .expires_unix_nanos()
            .saturating_sub(self.clock.now_unix_nanos());
        if u128::from(left) >= self.duration.as_nanos() / 2 {
            return Ok(());
        }
        self.renew(lease).await
    }

    /// Renews `lease` every third of its duration until it fails (that error is returned).
    pub async fn keep_renewed(&self, lease: &Lease) -> Error {
        loop {
            tokio::time::sleep(self.duration / 3).await;
            if let Err(error) = self.renew(lease).await {
                return error;
            }
        }
    }

    /// Frees the window now (best effort: an expired lease frees it too). Unless `swap_done`, the
    /// intent stays recorded for the next holder.
    pub async fn release(&self, lease: Lease, swap_done: bool) {
        let state = lease.state();
        let now = self.clock.now_unix_nanos();
        let intent = (!swap_done).then(|| lease.intent.clone());
        let record = self.record(now, true, intent);
        if self
            .create(&lease.folder, state.generation + 1, &record)
            .await
            .is_ok()
        {
            let mut stale = state.stale;
            stale.push(state.generation);
            self.delete_older(&lease.folder, &stale).await;
        } else {
            tracing::warn!(
                tenant = %lease.tenant,
                window = lease.window,
                "lease release failed; the lease frees itself when it expires"
            );
        }
    }

    fn lost(&self, lease: &Lease, message: &str) -> Error {
        Error::LeaseLost {
            tenant: lease.tenant.to_string(),
            window: lease.window.to_string(),
            message: message.to_owned(),
        }
    }

    fn expiry(&self) -> u64 {
        let duration = u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX);
        self.clock.now_unix_nanos().saturating_add(duration)
    }

    fn record(
        &self,
        expires_unix_nanos: u64,
        released: bool,
        intent: Option<JobIntent>,
    ) -> LeaseRecord {
        LeaseRecord {
            owner: self.owner.clone(),
            // Unique bytes: a retried create that finds its own object can tell it is its own.
            nonce: Uuid::new_v4(),
            expires_unix_nanos,
            released,
            intent,
        }
    }

    async fn create(&self, folder: &Path, generation: u64, record: &LeaseRecord) -> Result<()> {
        let path = generation_path(folder, generation);
        let body = serde_json::to_vec(record).map_err(|error| Error::CorruptLease {
            object: path.to_string(),
            message: error.to_string(),
        })?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(body), options)
            .await
            .map_err(|source| contrail_storage::Error::from_store("put", &path, source))?;
        Ok(())
    }

    async fn read(&self, path: &Path) -> Result<LeaseRecord> {
        let bytes = self
            .store
            .get(path)
            .await
            .map_err(|source| contrail_storage::Error::from_store("get", path, source))?
            .bytes()
            .await
            .map_err(|source| contrail_storage::Error::from_store("get", path, source))?;
        serde_json::from_slice(&bytes).map_err(|error| Error::CorruptLease {
            object: path.to_string(),
            message: error.to_string(),
        })
    }

    /// The generations present, ascending; names that are not generations are ignored.
    async fn generations(&self, folder: &Path) -> Result<Vec<u64>> {
        let objects: Vec<_> = self
            .store
            .list(Some(folder))
            .try_collect()
            .await
            .map_err(|source| contrail_storage::Error::from_store("list", folder, source))?;
        let mut generations: Vec<u64> = objects
            .iter()
            .filter_map(|object| object.location.filename())
            .filter_map(|name| name.strip_suffix(".json"))
            .filter_map(|stem| stem.parse().ok())
            .collect();
        generations.sort_unstable();
        Ok(generations)
    }

    /// The newest generation above `generation`, if any. A create of `generation` succeeds
    /// only if no object of that name exists, but names are reused: a generation is deleted
    /// once a newer one exists, so a compactor that read the folder before another took,
    /// renewed or released the lease can create a deleted name. The newest generation is the
    /// state, so such a create took nothing; this check, made after every create, catches it
    /// (the newer generation was written before the name was freed, so it is listed).
    async fn newer_generation(&self, folder: &Path, generation: u64) -> Result<Option<u64>> {
        let generations = self.generations(folder).await?;
        Ok(generations
            .last()
            .copied()
            .filter(|newest| *newest > generation))
    }

    /// Deletes a generation this compactor created but does not hold (best effort).
    async fn discard(&self, folder: &Path, generation: u64) {
        let path = generation_path(folder, generation);
        if let Err(error) = self.store.delete(&path).await {
            tracing::debug!(%path, %error, "stale lease generation not deleted");
        }
    }

    async fn delete_older(&self, folder: &Path, generations: &[u64]) {
        for generation in generations {
            let path = generation_path(folder, *generation);
            if let Err(error) = self.store.delete(&path).await {
                tracing::debug!(%path, %error, "old lease generation not deleted");
            }
        }
    }
}

#[cfg(test)]
mod tests;
