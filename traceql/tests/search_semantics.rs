//! Search semantics per operator on small hand-built traces in memory. The expected span sets
//! are written from ../shared/spec/traceql.md (§5, §7, §8, §9), not from the engine's output.

mod support;

use contrail_traceql::SearchOptions;
use support::*;

/// A → B → C, A → D (one service).
fn tree() -> Vec<contrail_traceql::MemoryTrace> {
    vec![trace(
        1,
        &[
            span(1, 0, "A"),
            span(2, 1, "B"),
            span(3, 2, "C"),
            span(4, 1, "D"),
        ],
    )]
}

#[tokio::test]
async fn nil_comparisons_are_false_and_nil_checks_test_presence() {
    // spec §7.1: every comparison with nil is false, also !=; `= nil` / `!= nil` test presence
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "a").attr("x", int(1)),
                span(2, 1, "b").attr("x", int(2)),
                span(3, 1, "c"),
            ],
        )]
    };
    assert_eq!(ids(traces(), "{ span.x != 1 }").await, vec![2]);
    assert_eq!(ids(traces(), "{ span.x = nil }").await, vec![3]);
    assert_eq!(ids(traces(), "{ span.x != nil }").await, vec![1, 2]);
    assert_eq!(ids(traces(), "{ span.x + 1 = 2 }").await, vec![1]);
    // arithmetic with nil is false, so comparing it is false
    assert_eq!(ids(traces(), "{ span.x + 1 != 5 }").await, vec![1, 2]);
}

#[tokio::test]
async fn cross_numeric_comparisons() {
    // spec §7.2: int/float/duration mix compares as f64; `duration = 100000000` is `= 100ms`
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "a").attr("n", int(1)).duration(100 * MS),
                span(2, 1, "b").attr("n", float(1.5)),
                span(3, 1, "c").attr("n", string("1")),
            ],
        )]
    };
    assert_eq!(ids(traces(), "{ span.n = 1.0 }").await, vec![1]);
    assert_eq!(ids(traces(), "{ span.n > 1 }").await, vec![2]);
    assert_eq!(ids(traces(), "{ duration = 100000000 }").await, vec![1]);
    assert_eq!(ids(traces(), "{ span.n = \"1\" }").await, vec![3]);
    assert_eq!(ids(traces(), "{ span.n * 2 = 3 }").await, vec![2]);
}

#[tokio::test]
async fn arrays_match_any_element_and_ne_means_none_equal() {
    // spec §7.6 (documented engine semantics, ADR 006)
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "a").attr("tags", array(vec![string("a"), string("b")])),
                span(2, 1, "b").attr("tags", array(vec![string("a"), string("c")])),
                span(3, 1, "c").attr("tags", array(vec![])),
                span(4, 1, "d").attr("nums", array(vec![int(1), int(5)])),
            ],
        )]
    };
    assert_eq!(ids(traces(), "{ span.tags = \"b\" }").await, vec![1]);
    assert_eq!(ids(traces(), "{ span.tags != \"b\" }").await, vec![2, 3]);
    assert_eq!(ids(traces(), "{ span.tags =~ \"c\" }").await, vec![2]);
    assert_eq!(ids(traces(), "{ span.nums > 4 }").await, vec![4]);
    assert_eq!(ids(traces(), "{ 4 < span.nums }").await, vec![4]);
    // arithmetic on an array fails the query
    assert!(matches!(
        error_of(traces(), "{ span.nums + 3 = 4 }").await,
        contrail_traceql::Error::Query { .. }
    ));
}

#[tokio::test]
async fn regexes_are_anchored() {
    let traces = || vec![trace(1, &[span(1, 0, "db query"), span(2, 1, "db")])];
    assert_eq!(ids(traces(), "{ name =~ \"db\" }").await, vec![2]);
    assert_eq!(ids(traces(), "{ name =~ \"db.*\" }").await, vec![1, 2]);
    assert_eq!(ids(traces(), "{ name !~ \"db\" }").await, vec![1]);
}

#[tokio::test]
async fn structural_operators_follow_the_spec_table() {
    let cases: &[(&str, &[u64])] = &[
        ("{ } > { }", &[2, 3, 4]),
        ("{ name = \"A\" } > { }", &[2, 4]),
        ("{ name = \"A\" } >> { }", &[2, 3, 4]),
        ("{ name = \"C\" } < { }", &[2]),
        ("{ name = \"C\" } << { }", &[1, 2]),
        ("{ name = \"B\" } ~ { }", &[4]),
        ("{ name = \"A\" } !> { }", &[1, 3]),
        ("{ } !< { }", &[3, 4]),
        ("{ name = \"A\" } !>> { }", &[1]),
        ("{ name = \"C\" } !<< { }", &[3, 4]),
        ("{ name = \"B\" } !~ { }", &[1, 2, 3]),
        ("{ status = error } !<< { }", &[1, 2, 3, 4]),
        ("{ name = \"A\" } &> { name = \"B\" }", &[1, 2]),
        ("{ name = \"B\" } &< { name = \"A\" }", &[1, 2]),
        ("{ name = \"A\" } &>> { name = \"C\" }", &[1, 3]),
        ("{ name = \"C\" } &<< { name = \"A\" }", &[1, 3]),
        ("{ name = \"B\" } &~ { name = \"D\" }", &[2, 4]),
        ("{ } > { } > { }", &[3]),
        ("{ name = \"A\" } && { name = \"D\" }", &[1, 4]),
        ("{ name = \"A\" } && { name = \"nope\" }", &[]),
        ("{ name = \"A\" } || { name = \"nope\" }", &[1]),
        (
            "({ name = \"A\" } | count() = 1) >> ({ name = \"C\" })",
            &[3],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(tree(), query).await, expected.to_vec(), "{query}");
    }
}

#[tokio::test]
async fn roots_are_siblings_and_fragments_match_no_relation() {
    // two roots R1, R2; X's parent (99) is not in the trace
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "R1"),
                span(2, 0, "R2"),
                span(3, 99, "X"),
                span(4, 3, "Y"),
            ],
        )]
    };
    assert_eq!(ids(traces(), "{ name = \"R1\" } ~ { }").await, vec![2]);
    assert_eq!(
        ids(traces(), "{ } > { name = \"Y\" }").await,
        Vec::<u64>::new()
    );
    assert_eq!(ids(traces(), "{ } !> { name = \"Y\" }").await, vec![4]);
    assert_eq!(
        ids(traces(), "{ } ~ { name = \"X\" }").await,
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn event_conditions_hold_per_event() {
    // spec §5.1: conditions joined by && must hold on the same event
    let traces = || {
        vec![trace(
            1,
            &[span(1, 0, "a")
                .event("exception", &[("msg", string("a"))])
                .event("retry", &[("msg", string("timeout"))])],
        )]
    };
    assert_eq!(
        ids(
            traces(),
            "{ event:name = \"exception\" && event.msg = \"timeout\" }"
        )
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(
        ids(
            traces(),
            "{ event:name = \"exception\" && event.msg = \"a\" }"
        )
        .await,
        vec![1]
    );
    assert_eq!(
        ids(
            traces(),
            "{ event:name = \"exception\" || event.msg = \"timeout\" }"
        )
        .await,
        vec![1]
    );
    assert_eq!(
        ids(traces(), "{ event:timeSinceStart = 1ns }").await,
        vec![1]
    );
}

#[tokio::test]
async fn unscoped_attributes_resolve_span_first() {
    // spec §5.1 C05: a span value shadows the resource value
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "a").attr("x", int(1)).resource_attr("x", int(2)),
                span(2, 1, "b").service("other").resource_attr("x", int(2)),
            ],
        )]
    };
    assert_eq!(ids(traces(), "{ .x = 1 }").await, vec![1]);
    assert_eq!(ids(traces(), "{ .x = 2 }").await, vec![2]);
    assert_eq!(ids(traces(), "{ resource.x = 2 }").await, vec![1, 2]);
    assert_eq!(
        ids(traces(), "{ .service.name = \"other\" }").await,
        vec![2]
    );
}

#[tokio::test]
async fn aggregates_by_coalesce_and_select() {
    // spec §8.4 C31: avg(duration) of 100, 80, 70, 40, 5, 8 ms = 50.5ms
    let durations = [100, 80, 70, 40, 5, 8];
    let spans: Vec<S> = durations
        .iter()
        .enumerate()
        .map(|(index, ms)| {
            let id = index as u64 + 1;
            span(id, if id == 1 { 0 } else { 1 }, "op")
                .duration(ms * MS)
                .service(if id.is_multiple_of(2) { "even" } else { "odd" })
                .attr("foo", int(id as i64))
        })
        .collect();
    let traces = || vec![trace(1, &spans)];
    assert_eq!(
        ids(traces(), "{ } | avg(duration) = 50.5ms").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(ids(traces(), "{ } | count() > 6").await, Vec::<u64>::new());
    assert_eq!(ids(traces(), "count() > 5").await, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        ids(traces(), "{ } | sum(span.foo) = 21").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        ids(traces(), "{ } | max(duration) = 100ms").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    let response = run_with(&[source(traces())], "{ } | avg(duration) = 50.5ms", all())
        .await
        .unwrap();
    let attribute = &response.traces[0].span_sets[0].attributes[0];
    assert_eq!(attribute.key, "avg(duration)");
    // by(): one spanset per service, aggregates per group (C32)
    let groups = matched(traces(), "{ } | by(resource.service.name) | count() = 3").await;
    assert_eq!(
        groups,
        vec![("1".to_owned(), vec![vec![2, 4, 6], vec![1, 3, 5]])]
    );
    let response = run_with(
        &[source(traces())],
        "{ } | by(resource.service.name)",
        all(),
    )
    .await
    .unwrap();
    let keys: Vec<_> = response.traces[0]
        .span_sets
        .iter()
        .map(|set| set.attributes[0].key.clone())
        .collect();
    assert_eq!(
        keys,
        vec!["by(resource.service.name)", "by(resource.service.name)"]
    );
    // coalesce(): one spanset, no attributes (C33)
    let merged = run_with(
        &[source(traces())],
        "{ } | by(resource.service.name) | coalesce()",
        all(),
    )
    .await
    .unwrap();
    assert_eq!(merged.traces[0].span_sets.len(), 1);
    assert_eq!(merged.traces[0].span_sets[0].matched, 6);
    assert!(merged.traces[0].span_sets[0].attributes.is_empty());
    // select(): filters nothing, returns the attribute (C34)
    let selected = run_with(
        &[source(traces())],
        "{ name = \"op\" && duration > 50ms } | select(span.foo)",
        all(),
    )
    .await
    .unwrap();
    let shown: Vec<_> = selected.traces[0].span_sets[0]
        .spans
        .iter()
        .map(|span| {
            span.attributes
                .iter()
                .map(|kv| kv.key.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(shown, vec![vec!["foo".to_owned()]; 3]);
    assert_eq!(selected.traces[0].span_sets[0].spans[0].name, "op");
}

#[tokio::test]
async fn spanset_operators_reject_several_spansets() {
    let error = error_of(tree(), "{ } | by(name) | { } && { }").await;
    assert!(
        error.to_string().contains("consider using coalesce()"),
        "{error}"
    );
}

#[tokio::test]
async fn query_errors_and_prefix_operators_on_nil() {
    let traces = || {
        vec![trace(
            1,
            &[
                span(1, 0, "p1")
                    .attr("flag", boolean(false))
                    .attr("zero", int(0)),
                span(2, 1, "p3"),
            ],
        )]
    };
    // integer division by zero fails the query (§7.3)
    assert!(matches!(
        error_of(traces(), "{ 1 / span.zero = 1 }").await,
        contrail_traceql::Error::Query { .. }
    ));
    // `!` on nil under `||` fails the query; in a conjunction the span simply does not match
    assert!(matches!(
        error_of(traces(), "{ !span.flag || name = \"p3\" }").await,
        contrail_traceql::Error::Query { .. }
    ));
    assert_eq!(ids(traces(), "{ !span.flag }").await, vec![1]);
    // a condition evaluated first keeps the division away from zero
    assert_eq!(
        ids(traces(), "{ span.zero != 0 && 1 / span.zero = 1 }").await,
        Vec::<u64>::new()
    );
    // constant folding: `{ 1 = 2 }` is `{ false }`; int ^ int is lhs^rhs (ADR 006)
    assert_eq!(ids(traces(), "{ 1 = 2 }").await, Vec::<u64>::new());
    assert_eq!(ids(traces(), "{ 2 ^ 3 = 8 }").await, vec![1, 2]);
    assert_eq!(ids(traces(), "{ 2 ^ 3 = 9 }").await, Vec::<u64>::new());
}

#[tokio::test]
async fn trace_level_intrinsics_and_ids() {
    let traces = || {
        vec![
            trace(
                0xc2,
                &[
                    span(1, 0, "root").service("front"),
                    span(0x00ab, 1, "child").duration(2_000 * MS),
                ],
            ),
            trace(0xd3, &[span(5, 0, "other").service("back")]),
        ]
    };
    assert_eq!(
        ids(traces(), "{ trace:rootService = \"front\" }").await,
        vec![1, 0xab]
    );
    assert_eq!(
        ids(traces(), "{ trace:rootName = \"other\" }").await,
        vec![5]
    );
    assert_eq!(
        ids(traces(), "{ trace:duration > 1s }").await,
        vec![1, 0xab]
    );
    assert_eq!(
        ids(traces(), "{ trace:id = \"000000c2\" }").await,
        vec![1, 0xab]
    );
    assert_eq!(ids(traces(), "{ trace:id = \"c2\" }").await, vec![1, 0xab]);
    // a span ID whose first byte is 00 is found however it is written (ADR 006)
    assert_eq!(
        ids(traces(), "{ span:id = \"00000000000000ab\" }").await,
        vec![0xab]
    );
    assert_eq!(ids(traces(), "{ span:id = \"ab\" }").await, vec![0xab]);
    assert_eq!(ids(traces(), "{ span:parentID = \"1\" }").await, vec![0xab]);
    assert_eq!(ids(traces(), "{ span:childCount = 1 }").await, vec![1]);
    assert_eq!(
        ids(
            traces(),
            "{ instrumentation:name = \"lib\" && nestedSetParent = -1 }"
        )
        .await,
        vec![1, 5]
    );
}

#[tokio::test]
async fn results_are_most_recent_first_limited_and_truncated() {
    let traces = || {
        vec![
            trace(1, &[span(1, 0, "a").start(100 * MS)]),
            trace(
                2,
                &[
                    span(1, 0, "a").start(300 * MS),
                    span(2, 1, "a").start(301 * MS),
                    span(3, 1, "a").start(302 * MS),
                ],
            ),
            trace(3, &[span(1, 0, "a").start(200 * MS)]),
        ]
    };
    let options = SearchOptions {
        limit: 2,
        spans_per_spanset: 2,
        ..SearchOptions::default()
    };
    let response = run_with(&[source(traces())], "{ name = \"a\" }", options)
        .await
        .unwrap();
    let order: Vec<_> = response
        .traces
        .iter()
        .map(|trace| trace.trace_id.clone())
        .collect();
    assert_eq!(order, vec!["2", "3"]);
    let first = &response.traces[0];
    assert_eq!(first.span_sets[0].matched, 3);
    assert_eq!(first.span_sets[0].spans.len(), 2);
    assert_eq!(first.span_set, first.span_sets.first().cloned());
    assert_eq!(first.root_service_name, "svc");
    assert_eq!(first.root_trace_name, "a");
    assert_eq!(first.service_stats["svc"].span_count, 3);
    // time range: only traces overlapping [start, end]
    let options = SearchOptions {
        start_unix_nano: 150 * MS,
        end_unix_nano: 250 * MS,
        ..all()
    };
    let response = run_with(&[source(traces())], "{ }", options).await.unwrap();
    assert_eq!(
        response
            .traces
            .iter()
            .map(|trace| trace.trace_id.as_str())
            .collect::<Vec<_>>(),
        vec!["3"]
    );
}

#[tokio::test]
async fn traces_split_across_two_sources_are_evaluated_whole() {
    // A → B → C, A → D with A, D in one source and B, C in the other (tempo#6871)
    let whole = vec![trace(
        1,
        &[
            span(1, 0, "A"),
            span(2, 1, "B"),
            span(3, 2, "C").duration(5_000 * MS),
            span(4, 1, "D"),
        ],
    )];
    let first = vec![trace(1, &[span(1, 0, "A"), span(4, 1, "D")])];
    let second = vec![trace(
        1,
        &[span(2, 1, "B"), span(3, 2, "C").duration(5_000 * MS)],
    )];
    for query in [
        "{ name = \"A\" } >> { name = \"C\" }",
        "{ name = \"A\" } > { }",
        "{ } !< { }",
        "{ trace:duration > 4s }",
        "{ } | count() = 4",
        "{ name = \"C\" }",
        "{ name = \"B\" } ~ { }",
    ] {
        let expected = matched(whole.clone(), query).await;
        let split = run_with(
            &[source(first.clone()), source(second.clone())],
            query,
            all(),
        )
        .await
        .unwrap();
        assert_eq!(spans_of(&split), expected, "{query}");
        assert!(!expected.is_empty(), "{query} should match");
        if let Some(trace) = split.traces.first() {
            assert_eq!(trace.root_trace_name, "A", "{query}");
            assert_eq!(trace.service_stats["svc"].span_count, 4, "{query}");
        }
    }
}

#[tokio::test]
async fn memory_budget_overrun_names_the_budget() {
    let root = contrail_traceql::parse("{ }").unwrap();
    let plan = std::sync::Arc::new(contrail_traceql::plan_search(&root, all()).unwrap());
    let budget = contrail_traceql::fetch::MemoryBudget::new(16);
    let error = contrail_traceql::search(
        &plan,
        &[source(tree())],
        &contrail_traceql::InlineRunner,
        &budget,
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("memory budget of 16 bytes"),
        "{error}"
    );
    assert_eq!(error.code(), contrail_proto::ErrorCode::TooLarge);
}
