//! The random search queries and traces of the property tests: a grammar of the search
//! features (filters, spanset operators, pipeline stages) and traces of random shape, each span
//! assigned to one of several sources (so traces are split across sources). Shared by the
//! engine's property test and storage's, which runs the same queries over vc1 blocks.

use proptest::prelude::*;

use super::*;

pub const ATOMS: &[&str] = &[
    "name = \"a\"",
    "name =~ \"[ab]\"",
    "span.n > 1",
    "span.n = 2",
    ".n != nil",
    "span.n = nil",
    "status = error",
    "resource.service.name = \"s1\"",
    "duration > 5ms",
    "kind = server",
    "trace:rootName = \"a\"",
    "trace:duration > 30ms",
    "span:childCount > 0",
    "span.n * 2 >= 4",
    "true",
];

pub const SPANSET_OPS: &[&str] = &[
    "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>",
    "&<<", "&~",
];

pub const STAGES: &[&str] = &[
    "count() > 1",
    "count() = 1",
    "avg(duration) > 8ms",
    "max(span.n) >= 2",
    "by(resource.service.name)",
    "by(span.n)",
    "coalesce()",
    "select(span.n, status)",
    "{ status != error }",
];

pub fn filter() -> impl Strategy<Value = String> {
    (0..ATOMS.len(), 0..ATOMS.len(), 0..4usize).prop_map(|(first, second, shape)| match shape {
        0 => format!("{{ {} }}", ATOMS[first]),
        1 => format!("{{ {} && {} }}", ATOMS[first], ATOMS[second]),
        2 => format!("{{ {} || {} }}", ATOMS[first], ATOMS[second]),
        _ => format!(
            "{{ ({} || {}) && {} }}",
            ATOMS[first], ATOMS[second], ATOMS[first]
        ),
    })
}

pub fn query() -> impl Strategy<Value = String> {
    (
        filter(),
        filter(),
        0..SPANSET_OPS.len(),
        0..4usize,
        0..STAGES.len(),
        0..STAGES.len(),
    )
        .prop_map(|(lhs, rhs, op, shape, stage, second)| match shape {
            0 => lhs,
            1 => format!("{lhs} {} {rhs}", SPANSET_OPS[op]),
            2 => format!("{lhs} | {}", STAGES[stage]),
            _ => format!(
                "{lhs} {} {rhs} | {} | {}",
                SPANSET_OPS[op], STAGES[stage], STAGES[second]
            ),
        })
}

/// One random span: (parent choice, name, service, n, error, duration ms, start ms, source).
pub type RawSpan = (usize, usize, usize, Option<i64>, bool, u64, u64, usize);

pub fn raw_traces() -> impl Strategy<Value = Vec<Vec<RawSpan>>> {
    let span = (
        0..8usize,
        0..3usize,
        0..2usize,
        proptest::option::of(0..4i64),
        any::<bool>(),
        1..20u64,
        0..50u64,
        0..4usize,
    );
    proptest::collection::vec(proptest::collection::vec(span, 1..7), 1..6)
}

pub struct Data {
    pub whole: Vec<contrail_traceql::MemoryTrace>,
    pub split: Vec<Vec<contrail_traceql::MemoryTrace>>,
}

pub fn build(raw: &[Vec<RawSpan>], sources: usize) -> Data {
    let mut whole = Vec::new();
    let mut split: Vec<Vec<contrail_traceql::MemoryTrace>> = vec![Vec::new(); sources];
    for (trace_index, spans) in raw.iter().enumerate() {
        let trace_id = 0x1000 + trace_index as u128;
        let base = 1_000 * MS + (trace_index as u64 % 3) * 10 * MS;
        let mut built: Vec<(S, usize)> = Vec::new();
        for (index, (parent, name, service, n, error, duration, start, source)) in
            spans.iter().enumerate()
        {
            let id = index as u64 + 1;
            let parent_id = if index == 0 {
                0
            } else {
                (*parent % index) as u64 + 1
            };
            let mut span = span(id, parent_id, ["a", "b", "c"][*name])
                .service(["s1", "s2"][*service])
                .start(base + start * MS + id)
                .duration(duration * MS);
            if let Some(n) = n {
                span = span.attr("n", int(*n));
            }
            if *error {
                span = span.error();
            }
            built.push((span, source % sources));
        }
        let all: Vec<S> = built.iter().map(|(span, _)| span.clone()).collect();
        whole.push(trace(trace_id, &all));
        for (source, traces) in split.iter_mut().enumerate() {
            let part: Vec<S> = built
                .iter()
                .filter(|(_, at)| *at == source)
                .map(|(span, _)| span.clone())
                .collect();
            if !part.is_empty() {
                traces.push(trace(trace_id, &part));
            }
        }
    }
    Data { whole, split }
}
