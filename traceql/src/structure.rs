//! Depth-first order and nested-set numbers for the spans of one trace: the numbering behind the
//! structural operators, shared by the block writer, the compactor and the in-memory source.
//!
//! Spans are ordered depth-first from the roots, children by (start time, span ID). Each span
//! gets `left` on entry and `right` on exit from one counter starting at 1, so `a` is an ancestor
//! of `b` exactly when `a.left < b.left && b.right < a.right` — the structural operators (`>>`,
//! `>`, `~`) need no joins. `parent_index` is the parent's position in that order, or -1.
//! Spans whose parent is not in the trace are roots; cycles (bad input) are broken where found.

use std::collections::HashMap;

/// The input facts of one span needed for ordering.
pub struct SpanKey<'a> {
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub start_time_unix_nano: u64,
}

/// The depth-first order of a trace.
#[derive(Debug, Default, PartialEq)]
pub struct NestedSet {
    /// `order[i]` is the input index of the span at output position `i`.
    pub order: Vec<usize>,
    /// Per output position: the parent's output position, or -1.
    pub parent_index: Vec<i32>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
}

/// Orders and numbers `spans`.
pub fn nested_set(spans: &[SpanKey<'_>]) -> NestedSet {
    let count = spans.len();
    let mut first_by_id: HashMap<&[u8], usize> = HashMap::with_capacity(count);
    for (index, span) in spans.iter().enumerate() {
        first_by_id.entry(span.span_id).or_insert(index);
    }
    let parent_of: Vec<Option<usize>> = spans
        .iter()
        .map(|span| {
            if span.parent_span_id.is_empty() {
                None
            } else {
                first_by_id.get(span.parent_span_id).copied()
            }
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut roots = Vec::new();
    for (index, parent) in parent_of.iter().enumerate() {
        match parent {
            Some(parent) if *parent != index => children[*parent].push(index),
            _ => roots.push(index),
        }
    }
    let sort_key = |index: &usize| (spans[*index].start_time_unix_nano, spans[*index].span_id);
    roots.sort_by_key(sort_key);
    for list in &mut children {
        list.sort_by_key(sort_key);
    }

    let mut result = NestedSet {
        order: Vec::with_capacity(count),
        parent_index: Vec::with_capacity(count),
        left: vec![0; count],
        right: vec![0; count],
    };
    let mut position_of = vec![usize::MAX; count];
    let mut counter: i32 = 1;
    // Roots first; then whatever a cycle kept unreachable, as extra roots.
    let mut pending_roots = roots;
    let mut next_unvisited = 0;
    loop {
        for root in std::mem::take(&mut pending_roots) {
            if position_of[root] != usize::MAX {
                continue;
            }
            // Iterative DFS: (input index, next child to visit).
            let mut stack: Vec<(usize, usize)> = Vec::new();
            enter(root, &mut result, &mut position_of, &mut counter);
            stack.push((root, 0));
            while let Some((node, child_cursor)) = stack.last_mut() {
                let node = *node;
                if let Some(child) = children[node].get(*child_cursor).copied() {
                    *child_cursor += 1;
                    if position_of[child] == usize::MAX {
                        enter(child, &mut result, &mut position_of, &mut counter);
                        stack.push((child, 0));
                    }
                } else {
                    result.right[position_of[node]] = counter;
                    counter += 1;
                    stack.pop();
                }
            }
        }
        while next_unvisited < count && position_of[next_unvisited] != usize::MAX {
            next_unvisited += 1;
        }
        if next_unvisited == count {
            break;
        }
        pending_roots.push(next_unvisited);
    }
    for position in 0..count {
        let input = result.order[position];
        let parent_position = parent_of[input].map(|parent| position_of[parent]);
        result.parent_index.push(match parent_position {
            Some(parent) if parent != usize::MAX => parent as i32,
            _ => -1,
        });
    }
    result
}

/// Nested-set numbers and child counts of one span, in input order (see [`numbers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanNumbers {
    pub left: i32,
    pub right: i32,
    /// The parent's `left`, −1 for a root.
    pub parent: i32,
    /// Direct children in the trace.
    pub child_count: u32,
}

/// Per input span, the numbers the fetch contract defines: Tempo's nested-set numbers for spans
/// connected to a root, and 0, 0, 0 for a span whose parent ID no span of the trace has (and
/// for its descendants): such fragments match no structural relation.
pub fn numbers(spans: &[SpanKey<'_>]) -> Vec<SpanNumbers> {
    let set = nested_set(spans);
    let count = spans.len();
    let mut out = vec![SpanNumbers::default(); count];
    let mut disconnected = vec![false; count];
    let mut position = 0;
    while position < count {
        let input = set.order[position];
        if set.parent_index[position] == -1 && !spans[input].parent_span_id.is_empty() {
            let right = set.right[position];
            let mut inner = position;
            while inner < count && set.left[inner] < right {
                disconnected[inner] = true;
                inner += 1;
            }
            position = inner;
        } else {
            position += 1;
        }
    }
    for position in 0..count {
        let parent = set.parent_index[position];
        if parent >= 0 {
            out[set.order[parent as usize]].child_count += 1;
        }
    }
    for (position, fragment) in disconnected.iter().enumerate() {
        let input = set.order[position];
        if *fragment {
            continue;
        }
        let parent = set.parent_index[position];
        out[input].left = set.left[position];
        out[input].right = set.right[position];
        out[input].parent = if parent >= 0 {
            set.left[parent as usize]
        } else {
            -1
        };
    }
    out
}

fn enter(index: usize, result: &mut NestedSet, position_of: &mut [usize], counter: &mut i32) {
    let position = result.order.len();
    position_of[index] = position;
    result.order.push(index);
    result.left[position] = *counter;
    *counter += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(span_id: &'a [u8], parent: &'a [u8], start: u64) -> SpanKey<'a> {
        SpanKey {
            span_id,
            parent_span_id: parent,
            start_time_unix_nano: start,
        }
    }

    #[test]
    fn orders_depth_first_and_numbers_nested_sets() {
        // root(a) -> b(start 5), c(start 3); c -> d
        let spans = [
            key(b"b", b"a", 5),
            key(b"a", b"", 1),
            key(b"d", b"c", 4),
            key(b"c", b"a", 3),
        ];
        let set = nested_set(&spans);
        assert_eq!(set.order, vec![1, 3, 2, 0]); // a, c, d, b
        assert_eq!(set.parent_index, vec![-1, 0, 1, 0]);
        assert_eq!(set.left, vec![1, 2, 3, 6]);
        assert_eq!(set.right, vec![8, 5, 4, 7]);
    }

    #[test]
    fn numbers_zero_disconnected_fragments() {
        // root a -> b; fragment x (parent gone) -> y
        let spans = [
            key(b"a", b"", 1),
            key(b"b", b"a", 2),
            key(b"x", b"gone", 3),
            key(b"y", b"x", 4),
        ];
        let numbers = numbers(&spans);
        assert_eq!(
            (numbers[0].left, numbers[0].right, numbers[0].parent),
            (1, 4, -1)
        );
        assert_eq!(
            (numbers[1].left, numbers[1].right, numbers[1].parent),
            (2, 3, 1)
        );
        assert_eq!(
            (numbers[2].left, numbers[2].right, numbers[2].parent),
            (0, 0, 0)
        );
        assert_eq!(
            (numbers[3].left, numbers[3].right, numbers[3].parent),
            (0, 0, 0)
        );
        assert_eq!(numbers[0].child_count, 1);
        assert_eq!(numbers[2].child_count, 1);
    }

    #[test]
    fn missing_parents_and_cycles_become_roots() {
        let spans = [
            key(b"x", b"y", 2),
            key(b"y", b"x", 1),
            key(b"z", b"gone", 0),
        ];
        let set = nested_set(&spans);
        assert_eq!(set.order.len(), 3);
        assert_eq!(set.order[0], 2);
        // every span got a position and the parent links inside the cycle survive
        let mut sorted = set.order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
        assert_eq!(set.parent_index[0], -1);
    }
}
