//! Which conditions give needles: string equalities on span-level fields, combined as the
//! request combines them; nothing for trace-level intrinsics, `parent.*`, regexes, `!=` or
//! requests for given trace IDs.

use super::*;
use crate::{SearchOptions, parse, plan_search};

fn needles(query: &str) -> Needles {
    let plan =
        plan_search(&parse(query).expect("parses"), SearchOptions::default()).expect("plans");
    plan.fetch.as_ref().map_or(Needles::Unknown, Needles::of)
}

fn all(strings: &[&str]) -> Needles {
    Needles::All(strings.iter().map(|s| s.as_bytes().to_vec()).collect())
}

#[test]
fn string_equalities_on_span_fields_are_needles() {
    assert_eq!(
        needles(r#"{ span.contrail.probe = "w6-1" }"#),
        all(&["w6-1"])
    );
    assert_eq!(
        needles(r#"{ resource.service.name = "checkout" && name = "GET /cart" }"#),
        all(&["checkout", "GET /cart"])
    );
    assert_eq!(needles(r#"{ .db.system = "redis" }"#), all(&["redis"]));
    assert_eq!(
        needles(r#"{ event:name = "exception" }"#),
        all(&["exception"])
    );
}

#[test]
fn other_conditions_of_a_conjunction_are_ignored() {
    assert_eq!(
        needles(r#"{ resource.service.name = "checkout" && duration > 1s }"#),
        all(&["checkout"])
    );
}

#[test]
fn conditions_that_give_no_needle() {
    for query in [
        "{}",
        "{ duration > 1s }",
        r#"{ trace:rootService = "checkout" }"#,
        r#"{ trace:rootName = "GET /" }"#,
        r#"{ name != "a" }"#,
        r#"{ name =~ "GET.*" }"#,
        r#"{ span.x = "" }"#,
        r#"{ span.n = 3 }"#,
        r#"{ name = "a" || duration > 1s }"#,
    ] {
        assert_eq!(needles(query), Needles::Unknown, "{query}");
    }
}

#[test]
fn a_disjunction_of_needles_needs_one_of_them() {
    match needles(r#"{ name = "a" || name = "b" }"#) {
        Needles::Any(mut strings) => {
            strings.sort();
            assert_eq!(strings, vec![b"a".to_vec(), b"b".to_vec()]);
        }
        // a planner that keeps the disjunction inside one condition gives nothing to skip on
        Needles::Unknown => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn requests_for_given_traces_have_no_needles() {
    let plan = plan_search(
        &parse(r#"{ name = "a" }"#).expect("parses"),
        SearchOptions::default(),
    )
    .expect("plans");
    let mut request = plan.fetch.expect("fetches");
    request.trace_ids = Some(Vec::new());
    assert_eq!(Needles::of(&request), Needles::Unknown);
}

#[test]
fn admits_checks_all_or_any() {
    let haystack = b"xx checkout yy";
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(all(&["checkout", "yy"]).admits(contains));
    assert!(!all(&["checkout", "zz"]).admits(contains));
    assert!(Needles::Any(vec![b"zz".to_vec(), b"yy".to_vec()]).admits(contains));
    assert!(!Needles::Any(vec![b"zz".to_vec()]).admits(contains));
    assert!(Needles::Unknown.admits(|_| false));
}
