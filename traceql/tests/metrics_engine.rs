//! TraceQL metrics on the engine: span pipelines evaluated by the evaluator over in-memory
//! sources (the ingesters' recent data), surviving spans accumulated, one answer whatever the
//! split of the traces over sources (traces split across sources included: structural
//! pipelines and trace-level labels see whole traces).

mod support;

use std::sync::Arc;

use contrail_traceql::InlineRunner;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, MetricsResult, SpanStarts, TimeWindow, run_metrics,
};
use support::*;

fn client(span: S) -> S {
    S { kind: 3, ..span }
}

/// Trace 1: a GET (service a) → db (b) → query (b). Trace 2: GET (b, error) → db (b).
fn trace_one() -> Vec<S> {
    vec![
        span(1, 0, "GET").service("a"),
        client(span(2, 1, "db").service("b")),
        client(span(3, 2, "query").service("b")),
    ]
}

fn trace_two() -> Vec<S> {
    vec![
        span(1, 0, "GET").service("b").error().start(1_020 * MS),
        client(span(2, 1, "db").service("b").start(1_021 * MS)),
    ]
}

fn window() -> TimeWindow {
    TimeWindow::instant(1, 100_000 * MS).unwrap()
}

async fn run(query: &str, sources: &[Arc<dyn SpanSource>], exemplars: u32) -> MetricsResult {
    let plan = MetricsPlan::parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
    let request = MetricsRequest {
        window: window(),
        max_series: 1000,
        max_exemplars: exemplars,
        span_starts: SpanStarts::ALL,
    };
    let compiled = Arc::new(MetricsQuery::new(plan, request).unwrap());
    let outcome = run_metrics(
        &compiled,
        sources,
        &InlineRunner,
        &MemoryBudget::unlimited(),
    )
    .await
    .unwrap_or_else(|error| panic!("{query}: {error}"));
    compiled.plan.evaluate(&request, &outcome.partial).unwrap()
}

fn answer(result: &MetricsResult) -> Vec<(String, f64)> {
    result
        .series
        .series
        .iter()
        .map(|series| (series.key(), series.values[0]))
        .collect()
}

fn expect(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), *value))
        .collect()
}

/// The queries and their answers over traces one and two, written from the spec.
fn cases() -> Vec<(&'static str, Vec<(String, f64)>)> {
    vec![
        (
            "{ } | count_over_time() by (resource.service.name)",
            expect(&[
                ("{resource.service.name=\"a\"}", 1.0),
                ("{resource.service.name=\"b\"}", 4.0),
            ]),
        ),
        (
            "{ kind = server } | count_over_time() by (resource.service.name)",
            expect(&[
                ("{resource.service.name=\"a\"}", 1.0),
                ("{resource.service.name=\"b\"}", 1.0),
            ]),
        ),
        (
            "{ resource.service.name = \"a\" } >> { name = \"db\" } | count_over_time()",
            expect(&[("{__name__=\"count_over_time\"}", 1.0)]),
        ),
        (
            "{ } | count_over_time() by (rootServiceName)",
            expect(&[
                ("{rootServiceName=\"a\"}", 3.0),
                ("{rootServiceName=\"b\"}", 2.0),
            ]),
        ),
        (
            "{ kind = client } | max_over_time(duration) by (name)",
            expect(&[("{name=\"db\"}", 0.01), ("{name=\"query\"}", 0.01)]),
        ),
        (
            "({ status = error } | count_over_time()) / ({ } | count_over_time())",
            expect(&[("{__name__=\"(count_over_time / count_over_time)\"}", 0.2)]),
        ),
        (
            "{ } | count_over_time() by (resource.service.name) | topk(1)",
            expect(&[("{resource.service.name=\"b\"}", 4.0)]),
        ),
    ]
}

#[tokio::test]
async fn leaves_run_on_the_engine() {
    let sources = [source(vec![trace(1, &trace_one()), trace(2, &trace_two())])];
    for (query, expected) in cases() {
        assert_eq!(answer(&run(query, &sources, 0).await), expected, "{query}");
    }
}

#[tokio::test]
async fn split_traces_give_the_same_answer() {
    let one = trace_one();
    // trace 1 split over two sources: its root in one, the rest (orphans) in the other
    let splits: Vec<Vec<Arc<dyn SpanSource>>> = vec![
        vec![
            source(vec![trace(1, &one[..1]), trace(2, &trace_two())]),
            source(vec![trace(1, &one[1..])]),
        ],
        vec![
            source(vec![trace(1, &one[1..2])]),
            source(vec![trace(2, &trace_two()[..1])]),
            source(vec![
                trace(1, &[one[0].clone(), one[2].clone()]),
                trace(2, &trace_two()[1..]),
            ]),
        ],
    ];
    for sources in &splits {
        for (query, expected) in cases() {
            assert_eq!(answer(&run(query, sources, 0).await), expected, "{query}");
        }
    }
}

#[tokio::test]
async fn compare_filter_is_evaluated_by_the_engine() {
    let sources = [source(vec![trace(1, &trace_one()), trace(2, &trace_two())])];
    let result = run("{ } | compare({ status = error })", &sources, 0).await;
    let answer = answer(&result);
    let value = |key: &str| {
        answer
            .iter()
            .find(|(known, _)| known == key)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("no {key} in {answer:?}"))
    };
    assert_eq!(
        value("{__meta_type=\"selection_total\", resource.service.name=nil}"),
        1.0
    );
    assert_eq!(
        value("{__meta_type=\"selection\", resource.service.name=\"b\"}"),
        1.0
    );
    assert_eq!(
        value("{__meta_type=\"baseline\", resource.service.name=\"b\"}"),
        3.0
    );
    assert_eq!(value("{__meta_type=\"baseline\", name=\"GET\"}"), 1.0);
    assert_eq!(value("{__meta_type=\"selection\", name=\"GET\"}"), 1.0);
}

#[tokio::test]
async fn exemplars_are_spans_of_the_sources() {
    let sources = [source(vec![trace(1, &trace_one()), trace(2, &trace_two())])];
    let result = run(
        "{ kind = client } | count_over_time() by (resource.service.name)",
        &sources,
        10,
    )
    .await;
    let series = &result.series.series[0];
    assert_eq!(series.exemplars.len(), 2, "one per trace");
    for exemplar in &series.exemplars {
        let trace_id = exemplar.trace_id.trim_start_matches('0');
        assert!(trace_id == "1" || trace_id == "2", "{exemplar:?}");
        // the client spans of both traces have span ID 2 or 3
        assert!(
            exemplar.span_id == span_id_hex(2) || exemplar.span_id == span_id_hex(3),
            "{exemplar:?}"
        );
    }
}

#[test]
fn fetch_requests_carry_what_metrics_need() {
    let plan = MetricsPlan::parse(
        "{ kind = server } | quantile_over_time(duration, .5) by (resource.service.name, span.http.route)",
    )
    .unwrap();
    let request = MetricsRequest {
        window: window(),
        max_series: 1000,
        max_exemplars: 0,
        span_starts: SpanStarts::ALL,
    };
    let compiled = MetricsQuery::new(plan, request).unwrap();
    let fetch = compiled.fetch_requests()[0].expect("a fetch");
    let attributes: Vec<String> = fetch
        .conditions
        .iter()
        .map(|condition| condition.attribute.to_string())
        .collect();
    assert_eq!(
        attributes,
        ["kind", "resource.service.name", "span.http.route"]
    );
    assert!(
        !fetch.need_span_ids,
        "span IDs only for exemplars and split traces"
    );
    assert_eq!(fetch.start_unix_nano, 1);
}

fn snapshot_of(query: &str) -> String {
    let plan = MetricsPlan::parse(query).unwrap();
    let request = MetricsRequest {
        window: TimeWindow::for_range_request(3_600_000_000_000, 7_200_000_000_000, 60_000_000_000)
            .unwrap(),
        max_series: 1000,
        max_exemplars: 100,
        span_starts: SpanStarts::ALL,
    };
    let compiled = MetricsQuery::new(plan, request).unwrap();
    format!(
        "plan: {:#?}\nfetch: {:#?}",
        compiled.plan,
        compiled.fetch_requests()
    )
}

#[test]
fn metrics_plans() {
    insta::assert_snapshot!(
        "m1_rate_by_service",
        snapshot_of("{ } | rate() by (resource.service.name)")
    );
    insta::assert_snapshot!(
        "m2_quantiles_by_service",
        snapshot_of(
            "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)"
        )
    );
    insta::assert_snapshot!(
        "error_ratio_topk",
        snapshot_of(
            "({ status = error } | rate() by (resource.service.name)) / ({ } | rate() by (resource.service.name)) | topk(5) with (sample=0.5)"
        )
    );
    insta::assert_snapshot!(
        "structural_compare",
        snapshot_of(
            "{ resource.service.name = \"api\" } >> { span.db.system = \"postgresql\" } | compare({ duration > 100ms }, 5)"
        )
    );
}
