//! Spanset operators between two spansets of one trace (spec §8.3), on sorted row lists and
//! the nested-set numbers of the batch. `a` is an ancestor of `b` exactly when
//! `a.left < b.left && b.right < a.right`; the parent of `b` is the span whose `left` is
//! `b.parent`; roots (parent −1) are siblings of each other; spans numbered 0 (not connected
//! to a root) take part in no relation, so a negated operator keeps them.
//! Each relation runs in O((|L| + |R|) log |L|).

use std::collections::HashMap;

use crate::ast::SpansetOp;

/// Nested-set numbers of a batch's rows.
#[derive(Debug, Clone, Copy)]
pub struct Nested<'b> {
    pub left: &'b [i32],
    pub right: &'b [i32],
    pub parent: &'b [i32],
}

impl Nested<'_> {
    fn structured(&self, row: u32) -> bool {
        self.left.get(row as usize).is_some_and(|left| *left != 0)
    }
    fn left(&self, row: u32) -> i32 {
        self.left[row as usize]
    }
    fn right(&self, row: u32) -> i32 {
        self.right[row as usize]
    }
    fn parent(&self, row: u32) -> i32 {
        self.parent[row as usize]
    }
}

/// Rows of `candidates` whose parent is in `others`.
fn has_parent_in(nested: Nested<'_>, others: &[u32], candidates: &[u32]) -> Vec<u32> {
    let mut lefts: Vec<i32> = others
        .iter()
        .filter(|row| nested.structured(**row))
        .map(|row| nested.left(*row))
        .collect();
    lefts.sort_unstable();
    candidates
        .iter()
        .copied()
        .filter(|row| nested.structured(*row) && lefts.binary_search(&nested.parent(*row)).is_ok())
        .collect()
}

/// Rows of `candidates` that are the parent of a span in `others`.
fn is_parent_of_some(nested: Nested<'_>, others: &[u32], candidates: &[u32]) -> Vec<u32> {
    let mut parents: Vec<i32> = others
        .iter()
        .filter(|row| nested.structured(**row))
        .map(|row| nested.parent(*row))
        .collect();
    parents.sort_unstable();
    candidates
        .iter()
        .copied()
        .filter(|row| nested.structured(*row) && parents.binary_search(&nested.left(*row)).is_ok())
        .collect()
}

/// Rows of `candidates` that have an ancestor in `others`.
fn has_ancestor_in(nested: Nested<'_>, others: &[u32], candidates: &[u32]) -> Vec<u32> {
    let mut intervals: Vec<(i32, i32)> = others
        .iter()
        .filter(|row| nested.structured(**row))
        .map(|row| (nested.left(*row), nested.right(*row)))
        .collect();
    intervals.sort_unstable();
    // prefix maximum of `right` over intervals sorted by `left`
    let mut max_right = Vec::with_capacity(intervals.len());
    let mut running = i32::MIN;
    for (_, right) in &intervals {
        running = running.max(*right);
        max_right.push(running);
    }
    candidates
        .iter()
        .copied()
        .filter(|row| {
            if !nested.structured(*row) {
                return false;
            }
            let before = intervals.partition_point(|(left, _)| *left < nested.left(*row));
            before > 0 && max_right[before - 1] > nested.right(*row)
        })
        .collect()
}

/// Rows of `candidates` that have a descendant in `others`.
fn has_descendant_in(nested: Nested<'_>, others: &[u32], candidates: &[u32]) -> Vec<u32> {
    let mut lefts: Vec<i32> = others
        .iter()
        .filter(|row| nested.structured(**row))
        .map(|row| nested.left(*row))
        .collect();
    lefts.sort_unstable();
    candidates
        .iter()
        .copied()
        .filter(|row| {
            if !nested.structured(*row) {
                return false;
            }
            let (left, right) = (nested.left(*row), nested.right(*row));
            let first_after = lefts.partition_point(|candidate| *candidate <= left);
            lefts.get(first_after).is_some_and(|inside| *inside < right)
        })
        .collect()
}

/// Rows of `candidates` that have a sibling (same parent, another span) in `others`.
fn has_sibling_in(nested: Nested<'_>, others: &[u32], candidates: &[u32]) -> Vec<u32> {
    let mut per_parent: HashMap<i32, u32> = HashMap::new();
    for row in others.iter().filter(|row| nested.structured(**row)) {
        *per_parent.entry(nested.parent(*row)).or_default() += 1;
    }
    candidates
        .iter()
        .copied()
        .filter(|row| {
            if !nested.structured(*row) {
                return false;
            }
            let count = per_parent.get(&nested.parent(*row)).copied().unwrap_or(0);
            let itself = u32::from(others.binary_search(row).is_ok());
            count > itself
        })
        .collect()
}

/// Sorted union of two sorted row lists.
pub fn union(lhs: &[u32], rhs: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(lhs.len() + rhs.len());
    let (mut left, mut right) = (0, 0);
    while left < lhs.len() && right < rhs.len() {
        match lhs[left].cmp(&rhs[right]) {
            std::cmp::Ordering::Less => {
                out.push(lhs[left]);
                left += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(rhs[right]);
                right += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(lhs[left]);
                left += 1;
                right += 1;
            }
        }
    }
    out.extend_from_slice(&lhs[left..]);
    out.extend_from_slice(&rhs[right..]);
    out
}

/// Rows of sorted `all` that are not in sorted `remove`.
fn difference(all: &[u32], remove: &[u32]) -> Vec<u32> {
    all.iter()
        .copied()
        .filter(|row| remove.binary_search(row).is_err())
        .collect()
}

/// `lhs OP rhs` for two spansets of one trace (sorted rows); `&&` and `||` included.
pub fn apply(op: SpansetOp, nested: Nested<'_>, lhs: &[u32], rhs: &[u32]) -> Vec<u32> {
    use SpansetOp::*;
    match op {
        And if lhs.is_empty() || rhs.is_empty() => Vec::new(),
        And | Union => union(lhs, rhs),
        Child => has_parent_in(nested, lhs, rhs),
        Parent => is_parent_of_some(nested, lhs, rhs),
        Descendant => has_ancestor_in(nested, lhs, rhs),
        Ancestor => has_descendant_in(nested, lhs, rhs),
        Sibling => has_sibling_in(nested, lhs, rhs),
        NotChild => difference(rhs, &has_parent_in(nested, lhs, rhs)),
        NotParent => difference(rhs, &is_parent_of_some(nested, lhs, rhs)),
        NotDescendant => difference(rhs, &has_ancestor_in(nested, lhs, rhs)),
        NotAncestor => difference(rhs, &has_descendant_in(nested, lhs, rhs)),
        NotSibling => difference(rhs, &has_sibling_in(nested, lhs, rhs)),
        UnionChild => union(
            &is_parent_of_some(nested, rhs, lhs),
            &has_parent_in(nested, lhs, rhs),
        ),
        UnionParent => union(
            &has_parent_in(nested, rhs, lhs),
            &is_parent_of_some(nested, lhs, rhs),
        ),
        UnionDescendant => union(
            &has_descendant_in(nested, rhs, lhs),
            &has_ancestor_in(nested, lhs, rhs),
        ),
        UnionAncestor => union(
            &has_ancestor_in(nested, rhs, lhs),
            &has_descendant_in(nested, lhs, rhs),
        ),
        UnionSibling => union(
            &has_sibling_in(nested, rhs, lhs),
            &has_sibling_in(nested, lhs, rhs),
        ),
    }
}
