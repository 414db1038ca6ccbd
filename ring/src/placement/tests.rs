//! Rendezvous placement: determinism, balance, and the share of traces that move when a member
//! joins or leaves.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::{PushBatch, PushError, PushOutcome, PushTarget, TenantId};

use super::{RingSnapshot, placement_key};
use crate::members::Member;

struct Unused;

#[async_trait]
impl PushTarget for Unused {
    async fn push(&self, _: &TenantId, _: PushBatch) -> Result<PushOutcome, PushError> {
        Err(PushError::Unreachable(
            "placement tests never push".to_owned(),
        ))
    }
}

fn members(ids: &[String]) -> Vec<Member> {
    ids.iter()
        .map(|id| Member::new(id.as_str(), Arc::new(Unused)))
        .collect()
}

fn ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("ingester-{index}.ingester.tempo.svc:9095"))
        .collect()
}

fn keys(count: u64) -> Vec<u64> {
    let tenant = TenantId::new("team-a").expect("tenant");
    (0..count)
        .map(|index| {
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&index.to_le_bytes());
            trace_id[8..]
                .copy_from_slice(&(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
            placement_key(&tenant, &trace_id)
        })
        .collect()
}

/// The replica set of `key` as member IDs.
fn replica_ids(snapshot: &RingSnapshot, key: u64) -> BTreeSet<String> {
    let mut out = Vec::new();
    snapshot.replicas(key, &mut out);
    out.iter()
        .map(|index| snapshot.members()[*index].id().to_owned())
        .collect()
}

#[test]
fn replicas_are_distinct_deterministic_and_capped_by_the_member_count() {
    let snapshot = RingSnapshot::of(members(&ids(5)), 3);
    for key in keys(1000) {
        let first = replica_ids(&snapshot, key);
        assert_eq!(first.len(), 3);
        assert_eq!(first, replica_ids(&snapshot, key));
    }
    let small = RingSnapshot::of(members(&ids(2)), 3);
    assert_eq!(replica_ids(&small, 7).len(), 2);
    let empty = RingSnapshot::of(Vec::new(), 3);
    assert!(replica_ids(&empty, 7).is_empty());
    // The order of the member list does not matter, only the IDs.
    let mut reversed = ids(5);
    reversed.reverse();
    let reversed = RingSnapshot::of(members(&reversed), 3);
    for key in keys(200) {
        assert_eq!(replica_ids(&snapshot, key), replica_ids(&reversed, key));
    }
}

#[test]
fn traces_spread_evenly_over_the_members() {
    let snapshot = RingSnapshot::of(members(&ids(10)), 1);
    let mut counts = [0usize; 10];
    let mut out = Vec::new();
    for key in keys(100_000) {
        snapshot.replicas(key, &mut out);
        counts[out[0]] += 1;
    }
    for count in counts {
        assert!((9_000..=11_000).contains(&count), "{counts:?}");
    }
}

/// Share of keys whose replica set differs between `before` and `after`.
fn moved_share(before: &RingSnapshot, after: &RingSnapshot, keys: &[u64]) -> f64 {
    let moved = keys
        .iter()
        .filter(|key| replica_ids(before, **key) != replica_ids(after, **key))
        .count();
    moved as f64 / keys.len() as f64
}

#[test]
fn a_joining_member_takes_only_its_share_and_only_from_others() {
    let keys = keys(50_000);
    for replication_factor in [1usize, 3] {
        let before = RingSnapshot::of(members(&ids(10)), replication_factor);
        let after = RingSnapshot::of(members(&ids(11)), replication_factor);
        let share = moved_share(&before, &after, &keys);
        let expected = replication_factor as f64 / 11.0;
        println!(
            "rf={replication_factor}: member 11 joins 10, {:.2}% of traces move (ideal {:.2}%)",
            share * 100.0,
            expected * 100.0
        );
        assert!(
            (share - expected).abs() < expected * 0.1,
            "rf={replication_factor}: {share}"
        );
        let newcomer = ids(11).pop().expect("id");
        for key in &keys {
            let old = replica_ids(&before, *key);
            let new = replica_ids(&after, *key);
            if old != new {
                // Exactly one replica changed, and it is the newcomer.
                let added: Vec<&String> = new.difference(&old).collect();
                assert_eq!(added, [&newcomer]);
                assert_eq!(old.difference(&new).count(), 1);
            }
        }
    }
}

#[test]
fn a_leaving_member_moves_only_the_traces_it_held() {
    let keys = keys(50_000);
    let all = ids(10);
    let leaving = all[3].clone();
    let remaining: Vec<String> = all.iter().filter(|id| **id != leaving).cloned().collect();
    for replication_factor in [1usize, 3] {
        let before = RingSnapshot::of(members(&all), replication_factor);
        let after = RingSnapshot::of(members(&remaining), replication_factor);
        let share = moved_share(&before, &after, &keys);
        let expected = replication_factor as f64 / 10.0;
        println!(
            "rf={replication_factor}: 1 of 10 members leaves, {:.2}% of traces move (ideal {:.2}%)",
            share * 100.0,
            expected * 100.0
        );
        assert!(
            (share - expected).abs() < expected * 0.1,
            "rf={replication_factor}: {share}"
        );
        for key in &keys {
            let old = replica_ids(&before, *key);
            let new = replica_ids(&after, *key);
            if !old.contains(&leaving) {
                assert_eq!(old, new, "a trace the leaving member did not hold moved");
            } else {
                assert_eq!(old.intersection(&new).count(), replication_factor - 1);
            }
        }
    }
}

#[test]
fn the_tenant_is_part_of_the_placement_key() {
    let trace_id = [7u8; 16];
    let a = placement_key(&TenantId::new("a").expect("tenant"), &trace_id);
    let b = placement_key(&TenantId::new("b").expect("tenant"), &trace_id);
    assert_ne!(a, b);
}

#[test]
fn an_id_only_snapshot_places_like_one_with_push_targets() {
    let with_targets = RingSnapshot::of(members(&ids(5)), 3);
    let id_only = RingSnapshot::of_ids(ids(5), 3);
    assert_eq!(id_only.replication_factor(), 3);
    let mut first = Vec::new();
    let mut second = Vec::new();
    for key in keys(2000) {
        // Same indexes, same order (best first), not only the same set.
        with_targets.replicas(key, &mut first);
        id_only.replicas(key, &mut second);
        assert_eq!(first, second);
    }
    let ids = ids(5);
    for (index, member) in id_only.members().iter().enumerate() {
        assert_eq!(member.id(), ids[index]);
    }
}

#[test]
fn the_first_ranked_eligible_member_is_the_best_eligible_replica() {
    let snapshot = RingSnapshot::of_ids(ids(5), 3);
    let mut replicas = Vec::new();
    for key in keys(500) {
        snapshot.replicas(key, &mut replicas);
        let everyone = snapshot.first_ranked_where(key, |_| true);
        assert_eq!(everyone, Some(replicas[0]));
        // Without the best replica, the second best.
        let best = replicas[0];
        let others = snapshot.first_ranked_where(key, |index| index != best);
        assert_eq!(others, Some(replicas[1]));
        // Only the last replica eligible, with members outside the replica set: that replica.
        let last = replicas[2];
        let outside: Vec<usize> = (0..5).filter(|index| !replicas.contains(index)).collect();
        let with_outside =
            snapshot.first_ranked_where(key, |index| index == last || outside.contains(&index));
        assert_eq!(with_outside, Some(last));
        // Only members outside the replica set: the best of them, which a ring of RF = 5 ranks
        // fourth.
        let mut full = Vec::new();
        RingSnapshot::of_ids(ids(5), 5).replicas(key, &mut full);
        let outside_only = snapshot.first_ranked_where(key, |index| outside.contains(&index));
        assert_eq!(outside_only, Some(full[3]));
        assert_eq!(snapshot.first_ranked_where(key, |_| false), None);
    }
}

#[tokio::test]
async fn pushing_to_an_id_only_member_fails_naming_it() {
    let member = Member::id_only("ingester-0:9095");
    let error = member
        .target()
        .push(&TenantId::new("a").expect("tenant"), PushBatch::default())
        .await
        .expect_err("no push target");
    assert!(error.to_string().contains("ingester-0:9095"), "{error}");
}
