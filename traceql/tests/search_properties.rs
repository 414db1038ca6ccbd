//! Property: for random queries from a grammar of the search features, the answer is the
//! same for one in-memory source holding every trace and for the same spans split over many
//! sources (traces split across sources included), in any order of the sources, whatever the
//! limit.

mod support;

use proptest::prelude::*;
use support::*;

use contrail_traceql::SearchOptions;

const ATOMS: &[&str] = &[
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

const SPANSET_OPS: &[&str] = &[
    "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>",
    "&<<", "&~",
];

const STAGES: &[&str] = &[
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

fn filter() -> impl Strategy<Value = String> {
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

fn query() -> impl Strategy<Value = String> {
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
type RawSpan = (usize, usize, usize, Option<i64>, bool, u64, u64, usize);

fn raw_traces() -> impl Strategy<Value = Vec<Vec<RawSpan>>> {
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

struct Data {
    whole: Vec<contrail_traceql::MemoryTrace>,
    split: Vec<Vec<contrail_traceql::MemoryTrace>>,
}

fn build(raw: &[Vec<RawSpan>], sources: usize) -> Data {
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

fn answer(
    runtime: &tokio::runtime::Runtime,
    sources: &[std::sync::Arc<dyn contrail_traceql::fetch::SpanSource>],
    query: &str,
    options: SearchOptions,
) -> Result<contrail_proto::tempopb::SearchResponse, String> {
    runtime
        .block_on(run_with(sources, query, options))
        .map(|mut response| {
            response.metrics = None;
            for trace in &mut response.traces {
                for set in trace.span_sets.iter_mut().chain(trace.span_set.iter_mut()) {
                    for span in &mut set.spans {
                        span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                    }
                }
            }
            response
        })
        .map_err(|error| error.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn answer_does_not_depend_on_the_split(
        raw in raw_traces(),
        query in query(),
        sources in 1..4usize,
        limit in 1..6usize,
        reverse in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let data = build(&raw, sources);
        let options = SearchOptions { limit, spans_per_spanset: 2, ..SearchOptions::default() };
        let one = answer(&runtime, &[source(data.whole.clone())], &query, options.clone());
        let mut many: Vec<_> = data.split.iter().map(|traces| source(traces.clone())).collect();
        if reverse {
            many.reverse();
        }
        let split = answer(&runtime, &many, &query, options.clone());
        match (&one, &split) {
            // a query error is data-dependent (ADR 006): only compare answers
            (Err(_), _) | (_, Err(_)) => {}
            (Ok(one), Ok(split)) => prop_assert_eq!(one, split, "query {}", query),
        }
        // the most recent `limit` of the complete answer
        if let (Ok(one), Ok(everything)) = (&one, answer(&runtime, &[source(data.whole.clone())], &query, SearchOptions { limit: 1000, ..options })) {
            prop_assert_eq!(&one.traces[..], &everything.traces[..one.traces.len().min(everything.traces.len())], "query {}", query);
        }
    }
}
