//! Grouping portions by trace, leaving out what the needles rule out, cutting units newest
//! first, and decoding a unit only when it is fetched.

use bytes::Bytes;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::tempopb;
use contrail_traceql::{InlineRunner, SearchOptions, parse, plan_search, search};
use prost::Message;

use super::*;

fn chunk(trace: u128, span: u64, service: &str, name: &str, start: u64) -> Bytes {
    let string = |value: &str| AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    };
    tempopb::Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(string(service)),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace.to_be_bytes().to_vec(),
                    span_id: span.to_be_bytes().to_vec(),
                    name: name.to_owned(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000,
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
    .into()
}

fn recent(trace: u128, span: u64, service: &str, name: &str, start: u64) -> RecentTrace {
    RecentTrace::from_chunks(
        TraceId::from_u128(trace),
        vec![chunk(trace, span, service, name, start)],
        start,
        start + 1_000,
        1,
    )
}

fn needles(query: &str) -> Needles {
    let plan = plan_search(&parse(query).unwrap(), SearchOptions::default()).unwrap();
    plan.fetch.as_ref().map_or(Needles::Unknown, Needles::of)
}

fn ids(groups: &[RecentGroup]) -> Vec<TraceId> {
    groups.iter().map(|group| group.trace_id).collect()
}

#[test]
fn portions_of_one_trace_become_one_group_in_newest_first_order() {
    // newest first, as RecentSnapshot orders them: trace 2's head portion, trace 1, trace 2 live
    let traces = vec![
        recent(2, 21, "cart", "GET", 300),
        recent(1, 11, "cart", "GET", 200),
        recent(2, 22, "cart", "POST", 100),
    ];
    let grouped = groups(&traces, &Needles::Unknown, &[]).kept;
    assert_eq!(
        ids(&grouped),
        vec![TraceId::from_u128(2), TraceId::from_u128(1)]
    );
    assert_eq!(grouped[0].chunks.len(), 2);
    assert_eq!(grouped[0].spans, 2);
    assert_eq!(grouped[0].start_unix_nano, 100);
    assert_eq!(grouped[0].end_unix_nano, 1_300);
}

#[test]
fn traces_without_the_needle_are_left_out() {
    let traces = vec![
        recent(1, 11, "cart", "GET /cart", 100),
        recent(2, 21, "payments", "charge", 100),
        recent(3, 31, "cart", "POST /checkout", 100),
        // the needle in a second portion of trace 4 keeps both portions
        recent(4, 41, "cart", "GET /cart", 100),
        recent(4, 42, "payments", "refund", 100),
    ];
    let kept = groups(
        &traces,
        &needles(r#"{ resource.service.name = "payments" }"#),
        &[],
    )
    .kept;
    assert_eq!(
        ids(&kept),
        vec![TraceId::from_u128(2), TraceId::from_u128(4)]
    );
    assert_eq!(kept[1].chunks.len(), 2);
    let both = groups(
        &traces,
        &needles(r#"{ resource.service.name = "cart" && name = "GET /cart" }"#),
        &[],
    )
    .kept;
    assert_eq!(
        ids(&both),
        vec![TraceId::from_u128(1), TraceId::from_u128(4)]
    );
    let unknown = groups(&traces, &needles("{ duration > 1ns }"), &[]).kept;
    assert_eq!(unknown.len(), 4);
}

#[test]
fn units_hold_about_unit_spans_newest_first_with_a_bound() {
    let big = |trace: u128, start: u64| RecentGroup {
        order: trace as usize,
        trace_id: TraceId::from_u128(trace),
        chunks: Vec::new(),
        start_unix_nano: start,
        end_unix_nano: start + 10,
        spans: UNIT_SPANS / 2,
    };
    let cut = units(
        vec![
            big(1, 500),
            big(2, 400),
            big(3, 300),
            big(4, 200),
            big(5, 100),
        ],
        Arc::new(InlineRunner),
    );
    let sizes: Vec<usize> = cut.iter().map(|unit| unit.groups.len()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    let bounds: Vec<Option<u64>> = cut
        .iter()
        .map(|unit| unit.latest_start_unix_nano())
        .collect();
    assert_eq!(bounds, vec![Some(510), Some(310), Some(110)]);
}

#[tokio::test]
async fn a_search_that_fills_its_limit_from_the_newest_unit_decodes_no_other() {
    // traces said to hold UNIT_SPANS / 4 spans each: 4 per unit
    let per_trace = UNIT_SPANS / 4;
    let traces: Vec<RecentTrace> = (0..12u128)
        .map(|index| {
            let start = 1_000_000 - index as u64 * 1_000;
            let mut trace = recent(index + 1, 1, "cart", "GET", start);
            trace.span_count = per_trace;
            trace
        })
        .collect();
    let cut: Vec<Arc<RecentUnit>> = units(
        groups(&traces, &Needles::Unknown, &[]).kept,
        Arc::new(InlineRunner),
    )
    .into_iter()
    .map(Arc::new)
    .collect();
    assert_eq!(cut.len(), 3);
    let sources: Vec<Arc<dyn SpanSource>> = cut
        .iter()
        .map(|unit| unit.clone() as Arc<dyn SpanSource>)
        .collect();
    let options = SearchOptions {
        limit: 2,
        ..SearchOptions::default()
    };
    let plan = Arc::new(plan_search(&parse("{ }").unwrap(), options).unwrap());
    let outcome = search(&plan, &sources, &InlineRunner, &MemoryBudget::unlimited())
        .await
        .expect("search");
    let found: Vec<&str> = outcome
        .response
        .traces
        .iter()
        .map(|t| t.trace_id.as_str())
        .collect();
    assert_eq!(found, vec!["1", "2"]);
    assert_eq!(outcome.skipped_units, 2);
    let decoded: Vec<bool> = cut.iter().map(|unit| unit.decoded.initialized()).collect();
    assert_eq!(
        decoded,
        vec![true, false, false],
        "only the newest unit was decoded"
    );
}

#[test]
fn a_trace_with_a_portion_in_a_local_block_is_kept() {
    let traces = vec![
        recent(1, 11, "cart", "GET", 300),
        recent(2, 21, "cart", "GET", 200),
        recent(3, 31, "payments", "charge", 100),
    ];
    let wanted = needles(r#"{ resource.service.name = "payments" }"#);
    // trace 2 has another portion in a block this ingester wrote
    let written: Arc<[TraceId]> = vec![TraceId::from_u128(2), TraceId::from_u128(9)].into();
    let grouped = groups(&traces, &wanted, &[Some(written.clone())]);
    assert_eq!(
        ids(&grouped.kept),
        vec![TraceId::from_u128(2), TraceId::from_u128(3)]
    );
    assert!(grouped.doubtful.is_empty());
    // with a block found at start-up (IDs unknown), the others are doubtful ...
    let grouped = groups(&traces, &wanted, &[Some(written), None]);
    assert_eq!(ids(&grouped.doubtful), vec![TraceId::from_u128(1)]);
    // ... and come back, in order, when its bloom filter may hold them
    let may_hold: HashSet<TraceId> = [TraceId::from_u128(1)].into_iter().collect();
    let kept = readmit(grouped, &may_hold);
    assert_eq!(
        ids(&kept),
        vec![
            TraceId::from_u128(1),
            TraceId::from_u128(2),
            TraceId::from_u128(3)
        ]
    );
}
