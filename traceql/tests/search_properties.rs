//! Property: for random queries from a grammar of the search features, the answer is the
//! same for one in-memory source holding every trace and for the same spans split over many
//! sources (traces split across sources included), in any order of the sources, whatever the
//! limit; and the same when the traces whose encoded bytes lack the request's needles are
//! left out (what the ingester does before decoding its recent data).

mod support;

use proptest::prelude::*;
use support::grammar::{build, query, raw_traces};
use support::*;

use contrail_proto::tempopb;
use contrail_traceql::SearchOptions;
use contrail_traceql::needles::Needles;
use prost::Message;

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
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

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

    #[test]
    fn leaving_out_traces_without_the_needles_changes_no_answer(
        raw in raw_traces(),
        query in query(),
        limit in 1..6usize,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let data = build(&raw, 1);
        let options = SearchOptions { limit, spans_per_spanset: 2, ..SearchOptions::default() };
        let Ok(plan) = contrail_traceql::parse(&query)
            .and_then(|root| contrail_traceql::plan_search(&root, options.clone()))
        else {
            return Ok(());
        };
        let needles = plan
            .fetch
            .as_ref()
            .map_or(Needles::Unknown, Needles::of);
        let kept: Vec<_> = data
            .whole
            .iter()
            .filter(|trace| {
                let bytes = tempopb::Trace { resource_spans: trace.resource_spans.clone() }
                    .encode_to_vec();
                needles.admits(|needle| bytes.windows(needle.len()).any(|window| window == needle))
            })
            .cloned()
            .collect();
        let one = answer(&runtime, &[source(data.whole.clone())], &query, options.clone());
        let filtered = answer(&runtime, &[source(kept)], &query, options);
        match (&one, &filtered) {
            (Err(_), _) | (_, Err(_)) => {}
            (Ok(one), Ok(filtered)) => prop_assert_eq!(one, filtered, "query {}", query),
        }
    }
}
