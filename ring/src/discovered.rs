//! [`DiscoveredMembers`]: members found by [`Discovery`] and kept only while their
//! `grpc.health.v1` check passes; each is reached through a [`GrpcPushTarget`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use contrail_proto::GrpcPushTarget;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::discovery::Discovery;
use crate::error::Result;
use crate::health::check_health;
use crate::members::{Member, MemberSource};
use crate::metrics::RingMetrics;

/// What [`DiscoveredMembers::start`] needs.
#[derive(Debug)]
pub struct DiscoveredMembersArgs {
    /// Where the members are.
    pub discovery: Discovery,
    /// The `grpc.health.v1` service name each member must report as serving.
    pub health_service: String,
    /// How often discovery runs again.
    pub refresh_interval: Duration,
    /// How often every member is checked.
    pub health_check_interval: Duration,
    /// Deadline of one check.
    pub health_check_timeout: Duration,
    /// Deadline of one push to a member.
    pub remote_timeout: Duration,
    /// The ring's metrics.
    pub metrics: RingMetrics,
}

struct KnownMember {
    channel: Channel,
    member: Member,
    healthy: bool,
}

/// Discovered, health-checked members.
pub struct DiscoveredMembers {
    args: DiscoveredMembersArgs,
    known: Mutex<BTreeMap<String, KnownMember>>,
    healthy: ArcSwap<Arc<[Member]>>,
}

impl std::fmt::Debug for DiscoveredMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveredMembers")
            .field("discovery", &self.args.discovery)
            .finish_non_exhaustive()
    }
}

impl MemberSource for DiscoveredMembers {
    fn healthy_members(&self) -> Arc<[Member]> {
        Arc::clone(&self.healthy.load())
    }
}

impl DiscoveredMembers {
    /// Runs one discovery round and one round of health checks, so the first pushes already
    /// see the members that are up. A failed first discovery is logged and retried by
    /// [`DiscoveredMembers::run`].
    pub async fn start(args: DiscoveredMembersArgs) -> Arc<Self> {
        let members = Arc::new(DiscoveredMembers {
            args,
            known: Mutex::new(BTreeMap::new()),
            healthy: ArcSwap::from_pointee(Arc::from(Vec::new())),
        });
        // The error is logged and counted inside; the loop retries.
        let _ = members.refresh().await;
        members.check_all().await;
        members
    }

    /// Discovers again: new members are added (healthy after their first passing check),
    /// members no longer listed are dropped at once. On failure the members stay as they are.
    pub async fn refresh(&self) -> Result<()> {
        let addresses = match self.args.discovery.resolve().await {
            Ok(addresses) => addresses,
            Err(error) => {
                self.args.metrics.discovery_failures.inc();
                tracing::warn!(ring = self.args.metrics.ring(), error = %error, "member discovery failed; keeping the current members");
                return Err(error);
            }
        };
        {
            let mut known = self.lock_known();
            known.retain(|address, _| addresses.contains(address));
            for address in addresses {
                if known.contains_key(&address) {
                    continue;
                }
                match Endpoint::from_shared(format!("http://{address}")) {
                    Ok(endpoint) => {
                        let channel = endpoint
                            .connect_timeout(self.args.health_check_timeout)
                            .timeout(self.args.remote_timeout)
                            .connect_lazy();
                        let target = Arc::new(GrpcPushTarget::new(channel.clone()));
                        tracing::info!(ring = self.args.metrics.ring(), member = %address, "member discovered");
                        known.insert(
                            address.clone(),
                            KnownMember {
                                channel,
                                member: Member::new(address, target),
                                healthy: false,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(member = %address, error = %error, "discovered address is not a valid endpoint; skipped");
                    }
                }
            }
        }
        self.publish();
        Ok(())
    }

    /// Checks every known member once (concurrently) and publishes the healthy ones.
    pub async fn check_all(&self) {
        let to_check: Vec<(String, Channel)> = self
            .lock_known()
            .iter()
            .map(|(address, known)| (address.clone(), known.channel.clone()))
            .collect();
        let service = self.args.health_service.as_str();
        let timeout = self.args.health_check_timeout;
        let results =
            futures::future::join_all(to_check.into_iter().map(|(address, channel)| async move {
                (address, check_health(channel, service, timeout).await)
            }))
            .await;
        {
            let mut known = self.lock_known();
            for (address, healthy) in results {
                let result = if healthy { "healthy" } else { "unhealthy" };
                self.args
                    .metrics
                    .health_checks
                    .with_label_values(&[result])
                    .inc();
                if let Some(entry) = known.get_mut(&address) {
                    if entry.healthy != healthy {
                        tracing::info!(ring = self.args.metrics.ring(), member = %address, healthy, "member health changed");
                    }
                    entry.healthy = healthy;
                }
            }
        }
        self.publish();
    }

    /// Re-discovers every `refresh_interval` and re-checks every `health_check_interval` until
    /// `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<()> {
        let mut refresh = tokio::time::interval(self.args.refresh_interval);
        let mut health = tokio::time::interval(self.args.health_check_interval);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        health.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = refresh.tick() => {
                    // Failures are logged and counted in `refresh`; the members stay.
                    let _ = self.refresh().await;
                }
                _ = health.tick() => self.check_all().await,
            }
        }
    }

    fn publish(&self) {
        let known = self.lock_known();
        let healthy: Vec<Member> = known
            .values()
            .filter(|entry| entry.healthy)
            .map(|entry| entry.member.clone())
            .collect();
        let healthy_count = i64::try_from(healthy.len()).unwrap_or(i64::MAX);
        let unhealthy_count = i64::try_from(known.len()).unwrap_or(i64::MAX) - healthy_count;
        self.args
            .metrics
            .members
            .with_label_values(&["healthy"])
            .set(healthy_count);
        self.args
            .metrics
            .members
            .with_label_values(&["unhealthy"])
            .set(unhealthy_count);
        self.healthy.store(Arc::new(Arc::from(healthy)));
    }

    fn lock_known(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, KnownMember>> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
