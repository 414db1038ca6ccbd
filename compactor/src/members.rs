//! Who compacts what: the compactors split the work by hashing (tenant, window) over the
//! members (rendezvous hashing: the member with the highest hash of (member, key) owns the key,
//! so a member joining or leaving moves only its own share). The tenant index and retention of
//! a tenant belong to the owner of the tenant's name.
//!
//! Views of the membership may disagree for a while (a member starting, DNS caching); ownership
//! is only how work is split. Two compactors never compact the same block because a job first
//! takes the window's lease (`lease`).

use std::fmt;
use std::hash::Hasher;

use twox_hash::XxHash64;

/// The current compactor members. The binary adapts the ring crate's discovery (static list or
/// DNS) to this; [`StaticMembers`] is the fixed list of `compactor.sharding`.
pub trait CompactorMembers: Send + Sync + fmt::Debug + 'static {
    /// Every member's name, this compactor's included.
    fn members(&self) -> Vec<String>;
}

/// A fixed member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMembers {
    members: Vec<String>,
}

impl StaticMembers {
    /// The members `members`; `this` is added if missing (a compactor is always a member).
    pub fn new(this: &str, members: impl IntoIterator<Item = String>) -> Self {
        let mut members: Vec<String> = members.into_iter().collect();
        if !members.iter().any(|member| member == this) {
            members.push(this.to_owned());
        }
        members.sort();
        members.dedup();
        StaticMembers { members }
    }
}

impl CompactorMembers for StaticMembers {
    fn members(&self) -> Vec<String> {
        self.members.clone()
    }
}

/// The rendezvous score of `member` for `key` (stable across processes and versions).
fn score(member: &str, key: &str) -> u64 {
    let mut hasher = XxHash64::with_seed(0);
    hasher.write(member.as_bytes());
    hasher.write(&[0xff]);
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// The owner of `key` among `members` (`None` when there are none).
pub fn owner_of<'a>(members: &'a [String], key: &str) -> Option<&'a str> {
    members
        .iter()
        .max_by_key(|member| (score(member, key), member.as_str()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_stable_and_spread() {
        let members: Vec<String> = ["a", "b", "c"].iter().map(|m| (*m).to_owned()).collect();
        let mut counts = std::collections::HashMap::new();
        for window in 0..3000 {
            let key = format!("tenant/{window}");
            let owner = owner_of(&members, &key).expect("an owner");
            assert_eq!(Some(owner), owner_of(&members, &key));
            *counts.entry(owner.to_owned()).or_insert(0) += 1;
        }
        for member in &members {
            let share = counts[member];
            assert!(
                (800..1200).contains(&share),
                "{member} owns {share} of 3000"
            );
        }
    }

    #[test]
    fn a_leaving_member_moves_only_its_own_keys() {
        let three: Vec<String> = ["a", "b", "c"].iter().map(|m| (*m).to_owned()).collect();
        let two: Vec<String> = ["a", "b"].iter().map(|m| (*m).to_owned()).collect();
        for window in 0..1000 {
            let key = format!("t/{window}");
            let before = owner_of(&three, &key).expect("owner");
            let after = owner_of(&two, &key).expect("owner");
            if before != "c" {
                assert_eq!(before, after, "key {key} moved");
            }
        }
    }

    #[test]
    fn static_members_always_include_this_compactor() {
        let members = StaticMembers::new("me", vec!["x".to_owned(), "x".to_owned()]);
        assert_eq!(members.members(), vec!["me".to_owned(), "x".to_owned()]);
        assert_eq!(owner_of(&[], "k"), None);
    }
}
