//! Segment files (`<seq>.wal`, 20 zero-padded digits, so names sort by sequence) and the
//! [`SegmentTracker`] that decides when a segment may be deleted: once it is no longer the
//! active segment and every trace chunk appended to it is in a block whose `meta.json` is in
//! the object store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The file of segment `seq` in `dir`.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// The segments in `dir`, sorted by sequence. Other files are left alone.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::wal_io("list", dir, source))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::wal_io("list", dir, source))?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".wal"))
            .filter(|stem| stem.len() == 20)
            .and_then(|stem| stem.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push((seq, entry.path()));
    }
    segments.sort();
    Ok(segments)
}

/// References to the trace chunks of one segment that are not yet in the object store.
/// A chunk is one trace's segment in one record; [`SegmentRefs`] lists them per segment.
pub(crate) type SegmentRefs = Vec<(u64, u32)>;

/// Adds one chunk reference to `seq` into `refs` (merging with the last entry).
pub(crate) fn push_ref(refs: &mut SegmentRefs, seq: u64) {
    match refs.last_mut() {
        Some((last, count)) if *last == seq => *count += 1,
        _ => refs.push((seq, 1)),
    }
}

#[derive(Debug, Default)]
struct TrackerState {
    /// Outstanding chunk references per segment (0 = deletable once inactive).
    refs: BTreeMap<u64, u64>,
    active: u64,
}

/// Counts, per segment, the trace chunks not yet in an uploaded block.
#[derive(Debug)]
pub(crate) struct SegmentTracker {
    dir: PathBuf,
    state: Mutex<TrackerState>,
}

impl SegmentTracker {
    pub(crate) fn new(dir: PathBuf) -> Self {
        SegmentTracker {
            dir,
            state: Mutex::new(TrackerState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a segment that exists (replayed or new) so it is deleted once unreferenced.
    pub(crate) fn register(&self, seq: u64) {
        self.lock().refs.entry(seq).or_insert(0);
    }

    /// Adds `count` chunk references to `seq` (done by the writer before the append is acked).
    pub(crate) fn add(&self, seq: u64, count: u64) {
        *self.lock().refs.entry(seq).or_insert(0) += count;
    }

    /// Makes `seq` the segment being written; returns the paths now deletable.
    pub(crate) fn set_active(&self, seq: u64) -> Vec<PathBuf> {
        let mut state = self.lock();
        state.active = seq;
        state.refs.entry(seq).or_insert(0);
        self.take_deletable(&mut state)
    }

    /// Drops chunk references (their traces are in an uploaded block); returns the paths now
    /// deletable.
    pub(crate) fn release(&self, refs: &[(u64, u32)]) -> Vec<PathBuf> {
        let mut state = self.lock();
        for (seq, count) in refs {
            if let Some(outstanding) = state.refs.get_mut(seq) {
                *outstanding = outstanding.saturating_sub(u64::from(*count));
            }
        }
        self.take_deletable(&mut state)
    }

    fn take_deletable(&self, state: &mut TrackerState) -> Vec<PathBuf> {
        let active = state.active;
        let deletable: Vec<u64> = state
            .refs
            .iter()
            .filter(|(seq, outstanding)| **seq < active && **outstanding == 0)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in &deletable {
            state.refs.remove(seq);
        }
        deletable
            .into_iter()
            .map(|seq| segment_path(&self.dir, seq))
            .collect()
    }

    /// Outstanding references per segment (tests and debugging).
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> Vec<(u64, u64)> {
        self.lock()
            .refs
            .iter()
            .map(|(seq, count)| (*seq, *count))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_deletable_only_when_inactive_and_unreferenced() {
        let tracker = SegmentTracker::new(PathBuf::from("/wal"));
        assert!(tracker.set_active(1).is_empty());
        tracker.add(1, 2);
        assert!(tracker.set_active(2).is_empty(), "still referenced");
        assert!(tracker.release(&[(1, 1)]).is_empty());
        tracker.add(2, 1);
        let deleted = tracker.release(&[(1, 1), (2, 1)]);
        assert_eq!(deleted, vec![segment_path(Path::new("/wal"), 1)]);
        assert_eq!(tracker.outstanding(), vec![(2, 0)], "active segment kept");
        assert_eq!(
            tracker.set_active(3),
            vec![segment_path(Path::new("/wal"), 2)]
        );
    }

    #[test]
    fn refs_merge_per_segment() {
        let mut refs = SegmentRefs::new();
        push_ref(&mut refs, 4);
        push_ref(&mut refs, 4);
        push_ref(&mut refs, 5);
        assert_eq!(refs, vec![(4, 2), (5, 1)]);
    }
}
