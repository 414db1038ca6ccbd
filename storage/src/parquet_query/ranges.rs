//! Byte-range arithmetic for ranged GETs.

use std::ops::Range;

/// Merges byte ranges that are closer than `max_gap`, so neighbouring pages are fetched with one
/// request. Returns the merged ranges, sorted.
pub fn coalesce_ranges(ranges: &[Range<u64>], max_gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(max_gap) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::coalesce_ranges;

    #[test]
    fn coalesces_close_ranges_and_keeps_far_ones() {
        let merged = coalesce_ranges(&[10..20, 0..5, 22..30, 100..110, 25..26], 4);
        assert_eq!(merged, vec![0..5, 10..30, 100..110]);
        assert_eq!(coalesce_ranges(&[], 4), Vec::<std::ops::Range<u64>>::new());
        assert_eq!(coalesce_ranges(&[3..3, 1..2], 0), vec![1..2]);
    }
}
