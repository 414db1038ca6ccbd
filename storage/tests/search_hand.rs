//! The vc1 span source against a hand-built block (`search_common`): every condition kind, with
//! the expected spans written by hand from the block's description; combine modes, time ranges,
//! targeted fetches, trace info, nested sets, the second pass, one and many row groups.

mod search_common;

use std::sync::Arc;

use contrail_proto::TraceId;
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::{BlockSpanSource, block_units};
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, SpanKind, Static, Status};
use contrail_traceql::fetch::{
    Combine, Condition, ConditionOp, FetchRequest, MemoryBudget, SecondPassRequest, SpanBatch,
    SpanSource,
};
use contrail_traceql::value::{CompareOp, Value};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use search_common::{MS, T, name_of, span_id, trace_a, trace_b, trace_c, write_hand_block};

fn span_attr(name: &str) -> Attribute {
    Attribute::Custom {
        scope: AttributeScope::Span,
        name: name.to_owned(),
    }
}

fn scoped(scope: AttributeScope, name: &str) -> Attribute {
    Attribute::Custom {
        scope,
        name: name.to_owned(),
    }
}

fn intrinsic(intrinsic: Intrinsic) -> Attribute {
    Attribute::Intrinsic(intrinsic)
}

fn cmp(attribute: Attribute, op: CompareOp, value: Static) -> Condition {
    Condition {
        attribute,
        op: Some(ConditionOp::Compare { op, value }),
    }
}

fn regex(attribute: Attribute, pattern: &str, negated: bool) -> Condition {
    Condition {
        attribute,
        op: Some(ConditionOp::Regex {
            pattern: pattern.to_owned(),
            negated,
        }),
    }
}

fn string(text: &str) -> Static {
    Static::String(text.to_owned())
}

fn request(conditions: Vec<Condition>, combine: Combine) -> FetchRequest {
    FetchRequest {
        conditions,
        combine,
        ..FetchRequest::all_spans(0, u64::MAX)
    }
}

struct Block {
    one: Vec<BlockSpanSource>,
    many: Vec<BlockSpanSource>,
}

async fn blocks() -> Block {
    let mut out = Vec::new();
    for split in [false, true] {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let meta = write_hand_block(store.clone(), split).await;
        let reader = Arc::new(BlockReader::open(store, meta).unwrap());
        out.push(block_units(&reader, if split { 1 } else { 100 }));
    }
    let many = out.pop().unwrap();
    let one = out.pop().unwrap();
    assert_eq!(one.len(), 1);
    assert!(many.len() >= 3, "one row group per trace");
    Block { one, many }
}

/// Names of the returned spans, sorted, over all units.
async fn names(units: &[BlockSpanSource], request: &FetchRequest) -> Vec<&'static str> {
    let mut out = Vec::new();
    for unit in units {
        let output = unit
            .fetch(request, &MemoryBudget::unlimited())
            .await
            .unwrap();
        for batch in &output.batches {
            check_batch_shape(batch);
            out.extend(batch.spans.span_id.iter().map(|id| name_of(id.as_bytes())));
        }
    }
    out.sort_unstable();
    out
}

fn check_batch_shape(batch: &SpanBatch) {
    let rows = batch.span_rows();
    assert_eq!(batch.spans.row_ref.len(), rows);
    assert_eq!(batch.spans.span_id.len(), rows);
    for (_, column) in &batch.span_values {
        assert_eq!(column.len(), rows);
    }
    let mut next = 0;
    for trace in &batch.traces {
        assert_eq!(trace.rows.start, next, "trace rows contiguous");
        next = trace.rows.end;
    }
    assert_eq!(next, rows);
}

async fn expect(block: &Block, conditions: Vec<Condition>, combine: Combine, want: &[&str]) {
    let request = request(conditions.clone(), combine);
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    assert_eq!(
        names(&block.one, &request).await,
        want,
        "one row group: {conditions:?}"
    );
    assert_eq!(
        names(&block.many, &request).await,
        want,
        "many row groups: {conditions:?}"
    );
}

#[tokio::test]
async fn span_intrinsics() {
    let block = blocks().await;
    let all = Combine::All;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Name),
            CompareOp::Eq,
            string("charge"),
        )],
        all,
        &["b1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Name),
            CompareOp::Ne,
            string("charge"),
        )],
        all,
        &["a1", "a2", "a3", "b2", "c1"],
    )
    .await;
    expect(
        &block,
        vec![regex(intrinsic(Intrinsic::Name), "GET.*", false)],
        all,
        &["a1", "c1"],
    )
    .await;
    // anchored: "GET" alone does not match "GET /"
    expect(
        &block,
        vec![regex(intrinsic(Intrinsic::Name), "GET", false)],
        all,
        &[],
    )
    .await;
    expect(
        &block,
        vec![regex(intrinsic(Intrinsic::Name), "GET.*", true)],
        all,
        &["a2", "a3", "b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Static::Status(Status::Error),
        )],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Static::Status(Status::Unset),
        )],
        all,
        &["a3", "b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Status),
            CompareOp::Ne,
            Static::Status(Status::Ok),
        )],
        all,
        &["a2", "a3", "b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::StatusMessage),
            CompareOp::Eq,
            string("timeout"),
        )],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Kind),
            CompareOp::Eq,
            Static::Kind(SpanKind::Server),
        )],
        all,
        &["a1", "b1", "c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Duration),
            CompareOp::Gt,
            Static::Duration(500 * MS as i64),
        )],
        all,
        &["a2", "b1"],
    )
    .await;
    // cross-numeric: an int and a float literal against durations (nanoseconds)
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Duration),
            CompareOp::Eq,
            Static::Int(100 * MS as i64),
        )],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Duration),
            CompareOp::Lt,
            Static::Float(2.5e6),
        )],
        all,
        &["b2", "c1"],
    )
    .await;
    // mismatched types match nothing
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Name),
            CompareOp::Eq,
            Static::Int(1),
        )],
        all,
        &[],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::Kind),
            CompareOp::Eq,
            Static::Status(Status::Ok),
        )],
        all,
        &[],
    )
    .await;
}

#[tokio::test]
async fn ids_compare_normalised() {
    let block = blocks().await;
    let all = Combine::All;
    let b1 = hex::encode(span_id("b1"));
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::SpanId),
            CompareOp::Eq,
            string(&b1),
        )],
        all,
        &["b1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::SpanId),
            CompareOp::Eq,
            string(&b1.to_uppercase()),
        )],
        all,
        &["b1"],
    )
    .await;
    // trace C's first byte is zero: found written with or without the leading zeros
    let c = hex::encode(trace_c());
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceId),
            CompareOp::Eq,
            string(&c),
        )],
        all,
        &["c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceId),
            CompareOp::Eq,
            string(c.trim_start_matches('0')),
        )],
        all,
        &["c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceId),
            CompareOp::Eq,
            string("not hex"),
        )],
        all,
        &[],
    )
    .await;
    // a literal that is no hex: `=` matches nothing, `!=` every span
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceId),
            CompareOp::Ne,
            string("not hex"),
        )],
        all,
        &["a1", "a2", "a3", "b1", "b2", "c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceId),
            CompareOp::Ne,
            string(&hex::encode(trace_a())),
        )],
        all,
        &["b1", "b2", "c1"],
    )
    .await;
    let link = hex::encode(span_id("b1"));
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::LinkSpanId),
            CompareOp::Eq,
            string(&link),
        )],
        all,
        &["a3"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::LinkTraceId),
            CompareOp::Eq,
            string(&hex::encode(trace_b())),
        )],
        all,
        &["a3"],
    )
    .await;
}

#[tokio::test]
async fn span_attributes_generic_and_dedicated() {
    let block = blocks().await;
    let all = Combine::All;
    expect(
        &block,
        vec![cmp(
            span_attr("http.status_code"),
            CompareOp::Eq,
            Static::Int(418),
        )],
        all,
        &[],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            span_attr("http.status_code"),
            CompareOp::Ge,
            Static::Int(500),
        )],
        all,
        &["b1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            span_attr("http.response.status_code"),
            CompareOp::Eq,
            Static::Float(200.0),
        )],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![regex(span_attr("http.route"), "/api/v1/users/.*", false)],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            span_attr("db.system"),
            CompareOp::Eq,
            string("postgresql"),
        )],
        all,
        &["a2"],
    )
    .await;
    // the engine's cross-numeric rule, not Tempo's typed pushdown: int 1 and double 1.0 both
    expect(
        &block,
        vec![cmp(span_attr("count"), CompareOp::Eq, Static::Float(1.0))],
        all,
        &["a1", "a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(span_attr("count"), CompareOp::Eq, Static::Int(1))],
        all,
        &["a1", "a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(span_attr("ratio"), CompareOp::Gt, Static::Int(1))],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(span_attr("flag"), CompareOp::Eq, Static::Bool(true))],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(span_attr("flag"), CompareOp::Ne, Static::Bool(true))],
        all,
        &[],
    )
    .await;
    // a string compared with an int attribute: false, even for !=
    expect(
        &block,
        vec![cmp(span_attr("count"), CompareOp::Ne, string("1"))],
        all,
        &[],
    )
    .await;
    expect(
        &block,
        vec![cmp(span_attr("tags"), CompareOp::Eq, string("a"))],
        all,
        &["a1"],
    )
    .await;
    expect(
        &block,
        vec![Condition {
            attribute: span_attr("db.system"),
            op: Some(ConditionOp::Exists),
        }],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![Condition {
            attribute: span_attr("count"),
            op: Some(ConditionOp::Exists),
        }],
        all,
        &["a1", "a2"],
    )
    .await;
}

#[tokio::test]
async fn resource_scope_event_link_and_unscoped() {
    let block = blocks().await;
    let all = Combine::All;
    let resource = |name: &str| scoped(AttributeScope::Resource, name);
    expect(
        &block,
        vec![cmp(
            resource("service.name"),
            CompareOp::Eq,
            string("payment-service"),
        )],
        all,
        &["b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![regex(resource("service.name"), "front.*", false)],
        all,
        &["a1", "a2", "a3", "c1"],
    )
    .await;
    expect(
        &block,
        vec![Condition {
            attribute: resource("k8s.namespace.name"),
            op: Some(ConditionOp::Missing),
        }],
        all,
        &["b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::InstrumentationName),
            CompareOp::Eq,
            string("grpc"),
        )],
        all,
        &["b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::InstrumentationVersion),
            CompareOp::Eq,
            string("1.2"),
        )],
        all,
        &["a1", "a2", "a3", "c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::EventName),
            CompareOp::Eq,
            string("exception"),
        )],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            scoped(AttributeScope::Event, "msg"),
            CompareOp::Eq,
            string("timeout"),
        )],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::EventTimeSinceStart),
            CompareOp::Eq,
            Static::Duration(5 * MS as i64),
        )],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            scoped(AttributeScope::Link, "kind"),
            CompareOp::Eq,
            string("follows"),
        )],
        all,
        &["a3"],
    )
    .await;
    let unscoped = |name: &str| scoped(AttributeScope::Unscoped, name);
    expect(
        &block,
        vec![cmp(
            unscoped("k8s.namespace.name"),
            CompareOp::Eq,
            string("prod"),
        )],
        all,
        &["a1", "a2", "a3", "c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(unscoped("msg"), CompareOp::Eq, string("timeout"))],
        all,
        &["a2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(unscoped("kind"), CompareOp::Eq, string("follows"))],
        all,
        &["a3"],
    )
    .await;
}

#[tokio::test]
async fn trace_level_intrinsics_select_whole_traces() {
    let block = blocks().await;
    let all = Combine::All;
    // B has an orphan (its portion may be part of a split trace): trace-level conditions hold
    // on all its spans, the engine decides on the whole trace
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceRootService),
            CompareOp::Eq,
            string("frontend"),
        )],
        all,
        &["a1", "a2", "a3", "b1", "b2", "c1"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceRootService),
            CompareOp::Eq,
            string("nobody"),
        )],
        all,
        &["b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceRootName),
            CompareOp::Eq,
            string("charge"),
        )],
        all,
        &["b1", "b2"],
    )
    .await;
    // A: 0..610ms; B: 1000..1951ms → 951ms; C: 2ms
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceDuration),
            CompareOp::Gt,
            Static::Duration(900 * MS as i64),
        )],
        all,
        &["b1", "b2"],
    )
    .await;
    expect(
        &block,
        vec![cmp(
            intrinsic(Intrinsic::TraceDuration),
            CompareOp::Eq,
            Static::Duration(610 * MS as i64),
        )],
        all,
        &["a1", "a2", "a3", "b1", "b2"],
    )
    .await;
}

#[tokio::test]
async fn portions_with_orphans_always_come_back() {
    let block = blocks().await;
    let request = request(
        vec![cmp(
            intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Static::Status(Status::Error),
        )],
        Combine::All,
    );
    for units in [&block.one, &block.many] {
        let mut traces = Vec::new();
        for unit in units.iter() {
            let output = unit
                .fetch(&request, &MemoryBudget::unlimited())
                .await
                .unwrap();
            for batch in &output.batches {
                check_batch_shape(batch);
                traces.extend(batch.traces.iter().map(|trace| {
                    (
                        trace.trace_id,
                        trace.rows.len(),
                        trace.has_orphans,
                        trace.span_count,
                    )
                }));
            }
        }
        // A with its error span; B without any selected span, for its orphan; not C
        assert_eq!(
            traces,
            vec![
                (TraceId::from_array(trace_a()), 1, false, 3),
                (TraceId::from_array(trace_b()), 0, true, 2),
            ]
        );
    }
    // outside the time range B does not come back
    let mut early = request.clone();
    early.end_unix_nano = T + 500 * MS;
    let output = block.one[0]
        .fetch(&early, &MemoryBudget::unlimited())
        .await
        .unwrap();
    let ids: Vec<TraceId> = output
        .batches
        .iter()
        .flat_map(|b| b.traces.iter().map(|t| t.trace_id))
        .collect();
    assert_eq!(ids, vec![TraceId::from_array(trace_a())]);
    assert_eq!(
        block.one[0].latest_start_unix_nano(),
        Some(T + 3_600_002 * MS)
    );
}

#[tokio::test]
async fn combine_all_and_any() {
    let block = blocks().await;
    let long = cmp(
        intrinsic(Intrinsic::Duration),
        CompareOp::Gt,
        Static::Duration(500 * MS as i64),
    );
    let server = cmp(
        intrinsic(Intrinsic::Kind),
        CompareOp::Eq,
        Static::Kind(SpanKind::Server),
    );
    expect(
        &block,
        vec![long.clone(), server.clone()],
        Combine::All,
        &["b1"],
    )
    .await;
    expect(
        &block,
        vec![long, server],
        Combine::Any,
        &["a1", "a2", "b1", "c1"],
    )
    .await;
    let error = cmp(
        intrinsic(Intrinsic::Status),
        CompareOp::Eq,
        Static::Status(Status::Error),
    );
    let charge = cmp(intrinsic(Intrinsic::Name), CompareOp::Eq, string("charge"));
    expect(
        &block,
        vec![error.clone(), charge.clone()],
        Combine::Any,
        &["a2", "b1"],
    )
    .await;
    expect(&block, vec![error, charge], Combine::All, &[]).await;
    // fetch-only conditions select nothing by themselves
    expect(
        &block,
        vec![Condition::fetch(span_attr("count"))],
        Combine::All,
        &["a1", "a2", "a3", "b1", "b2", "c1"],
    )
    .await;
}

#[tokio::test]
async fn time_ranges_and_targeted_fetches_select_traces() {
    let block = blocks().await;
    // C starts an hour later; [T, T+2s] holds A and B only
    let mut windowed = FetchRequest::all_spans(T, T + 2000 * MS);
    assert_eq!(
        names(&block.one, &windowed).await,
        vec!["a1", "a2", "a3", "b1", "b2"]
    );
    assert_eq!(
        names(&block.many, &windowed).await,
        vec!["a1", "a2", "a3", "b1", "b2"]
    );
    // a trace overlapping the window's edge is selected whole (A ends at T+610ms)
    windowed = FetchRequest::all_spans(T + 600 * MS, T + 605 * MS);
    assert_eq!(names(&block.one, &windowed).await, vec!["a1", "a2", "a3"]);
    windowed = FetchRequest::all_spans(T + 611 * MS, T + 999 * MS);
    assert!(names(&block.one, &windowed).await.is_empty());

    let mut targeted = FetchRequest::all_spans(0, u64::MAX);
    targeted.trace_ids = Some(vec![TraceId::from_array(trace_b())]);
    assert_eq!(names(&block.one, &targeted).await, vec!["b1", "b2"]);
    assert_eq!(names(&block.many, &targeted).await, vec!["b1", "b2"]);
    targeted.trace_ids = Some(vec![TraceId::from_array([0x0c; 16])]);
    assert!(names(&block.one, &targeted).await.is_empty());
}

#[tokio::test]
async fn targeted_fetches_ask_the_bloom_filter_before_scanning() {
    let block = blocks().await;
    // an ID inside the block's ID range that it does not hold
    let mut ids = [trace_a(), trace_b(), trace_c()];
    ids.sort_unstable();
    let mut absent = ids[1];
    absent[15] ^= 1;
    assert!(ids[0] < absent && absent < ids[2]);
    let mut targeted = FetchRequest::all_spans(0, u64::MAX);
    targeted.trace_ids = Some(vec![TraceId::from_array(absent)]);
    for units in [&block.one, &block.many] {
        assert!(names(units, &targeted).await.is_empty());
        let scanned: u64 = units.iter().map(|unit| unit.scan_stats().row_groups).sum();
        assert_eq!(
            scanned, 0,
            "no row group scanned for an ID the bloom filter rules out"
        );
    }
    // with a held ID as well, only that trace comes back
    targeted.trace_ids = Some(vec![
        TraceId::from_array(absent),
        TraceId::from_array(trace_c()),
    ]);
    assert_eq!(names(&block.one, &targeted).await, names_of_c(&block).await);
}

async fn names_of_c(block: &Block) -> Vec<&'static str> {
    let mut only_c = FetchRequest::all_spans(0, u64::MAX);
    only_c.trace_ids = Some(vec![TraceId::from_array(trace_c())]);
    let names = names(&block.many, &only_c).await;
    assert!(!names.is_empty(), "trace C is in the block");
    names
}

#[tokio::test]
async fn trace_info_and_structure() {
    let block = blocks().await;
    let request = FetchRequest::all_spans(0, u64::MAX);
    let output = block.one[0]
        .fetch(&request, &MemoryBudget::unlimited())
        .await
        .unwrap();
    assert_eq!(output.stats.inspected_spans, 6);
    assert_eq!(output.stats.inspected_traces, 3);
    assert!(output.stats.inspected_bytes > 0);
    let batch = &output.batches[0];
    let ids: Vec<TraceId> = batch.traces.iter().map(|trace| trace.trace_id).collect();
    assert_eq!(
        ids,
        vec![
            TraceId::from_array(trace_c()),
            TraceId::from_array(trace_a()),
            TraceId::from_array(trace_b())
        ]
    );
    let a = &batch.traces[1];
    assert_eq!(a.start_unix_nano, T);
    assert_eq!(a.end_unix_nano, T + 610 * MS);
    assert_eq!(a.root_service_name.as_deref(), Some("frontend"));
    assert_eq!(a.root_span_name.as_deref(), Some("GET /"));
    assert!(!a.has_orphans);
    assert_eq!(a.span_count, 3);
    let b = &batch.traces[2];
    assert!(b.has_orphans);
    assert_eq!(b.root_span_name.as_deref(), Some("charge"));
    assert_eq!(b.span_count, 2);

    let row_of = |name: &str| {
        batch
            .spans
            .span_id
            .iter()
            .position(|id| id.as_bytes() == &span_id(name))
            .unwrap()
    };
    let nested = |name: &str| {
        let row = row_of(name);
        (
            batch.spans.nested_set_left[row],
            batch.spans.nested_set_right[row],
            batch.spans.nested_set_parent[row],
        )
    };
    // A: a1 [1, 6], children ordered by start: a2 [2, 3], a3 [4, 5], parent = a1's left
    assert_eq!(nested("a1"), (1, 6, -1));
    assert_eq!(nested("a2"), (2, 3, 1));
    assert_eq!(nested("a3"), (4, 5, 1));
    assert_eq!(nested("b1"), (1, 2, -1));
    // the orphan is not connected to a root: no structure
    assert_eq!(nested("b2"), (0, 0, 0));
    assert_eq!(batch.spans.start_unix_nano[row_of("a2")], T + 10 * MS);
    assert_eq!(batch.spans.duration_nano[row_of("a2")], 600 * MS);

    // computed intrinsics through a fetch-only request
    let mut request = FetchRequest::all_spans(0, u64::MAX);
    request.conditions = vec![
        Condition::fetch(intrinsic(Intrinsic::SpanChildCount)),
        Condition::fetch(intrinsic(Intrinsic::SpanParentId)),
        Condition::fetch(intrinsic(Intrinsic::Name)),
    ];
    for units in [&block.one, &block.many] {
        let mut seen = 0;
        for unit in units.iter() {
            let output = unit
                .fetch(&request, &MemoryBudget::unlimited())
                .await
                .unwrap();
            for batch in &output.batches {
                let children = batch
                    .span_column(&intrinsic(Intrinsic::SpanChildCount))
                    .unwrap();
                let parents = batch
                    .span_column(&intrinsic(Intrinsic::SpanParentId))
                    .unwrap();
                let names = batch.span_column(&intrinsic(Intrinsic::Name)).unwrap();
                for (row, id) in batch.spans.span_id.iter().enumerate() {
                    seen += 1;
                    let (count, parent, name) = match name_of(id.as_bytes()) {
                        "a1" => (2, Value::Nil, "GET /"),
                        "a2" => (0, Value::string(&hex::encode(span_id("a1"))), "db query"),
                        "a3" => (0, Value::string(&hex::encode(span_id("a1"))), "cache"),
                        "b1" => (0, Value::Nil, "charge"),
                        "b2" => (0, Value::string("ffffffffffffffff"), "orphan"),
                        "c1" => (0, Value::Nil, "GET /health"),
                        other => panic!("unexpected span {other}"),
                    };
                    assert_eq!(children.get(row), &Value::Int(count));
                    assert_eq!(parents.get(row), &parent);
                    assert_eq!(names.get(row), &Value::string(name));
                }
            }
        }
        assert_eq!(seen, 6);
    }
}

#[tokio::test]
async fn returned_values_and_the_second_pass() {
    let block = blocks().await;
    let mut request = request(
        vec![
            cmp(
                intrinsic(Intrinsic::Status),
                CompareOp::Eq,
                Static::Status(Status::Error),
            ),
            Condition::fetch(scoped(AttributeScope::Unscoped, "count")),
            Condition::fetch(scoped(AttributeScope::Event, "msg")),
        ],
        Combine::All,
    );
    request.need_structure = false;
    let unit = &block.one[0];
    let output = unit
        .fetch(&request, &MemoryBudget::unlimited())
        .await
        .unwrap();
    let batch = &output.batches[0];
    assert_eq!(batch.span_rows(), 1);
    assert!(batch.spans.nested_set_left.is_empty());
    assert_eq!(
        batch.span_column(&span_attr("count")).unwrap().get(0),
        &Value::Float(1.0)
    );
    assert_eq!(
        batch
            .span_column(&scoped(AttributeScope::Resource, "count"))
            .unwrap()
            .get(0),
        &Value::Nil
    );
    assert_eq!(
        batch
            .span_column(&intrinsic(Intrinsic::Status))
            .unwrap()
            .get(0),
        &Value::Status(Status::Error)
    );
    assert_eq!(batch.events.items_of(0), 0..1);
    let msg = &batch
        .events
        .columns
        .iter()
        .find(|(key, _)| *key == scoped(AttributeScope::Event, "msg"))
        .unwrap()
        .1;
    assert_eq!(msg.get(0), &Value::string("timeout"));

    let second = SecondPassRequest {
        rows: batch.spans.row_ref.clone(),
        attributes: vec![
            intrinsic(Intrinsic::Name),
            scoped(AttributeScope::Resource, "service.name"),
            span_attr("db.system"),
            intrinsic(Intrinsic::EventName),
        ],
        service_stats_for: vec![
            TraceId::from_array(trace_a()),
            TraceId::from_array([0x77; 16]),
        ],
    };
    let pass = unit
        .fetch_second_pass(&second, &MemoryBudget::unlimited())
        .await
        .unwrap();
    assert_eq!(pass.rows, batch.spans.row_ref);
    let column = |attribute: Attribute| {
        pass.span_values
            .iter()
            .find(|(key, _)| *key == attribute)
            .map(|(_, column)| column.get(0).clone())
    };
    assert_eq!(
        column(intrinsic(Intrinsic::Name)),
        Some(Value::string("db query"))
    );
    assert_eq!(
        column(scoped(AttributeScope::Resource, "service.name")),
        Some(Value::string("frontend"))
    );
    assert_eq!(
        column(span_attr("db.system")),
        Some(Value::string("postgresql"))
    );
    assert_eq!(pass.events.items_of(0), 0..1);
    assert_eq!(pass.service_stats.len(), 1, "the absent trace has no stats");
    let (trace, stats) = &pass.service_stats[0];
    assert_eq!(*trace, TraceId::from_array(trace_a()));
    assert_eq!(stats.len(), 1);
    assert_eq!(&*stats[0].service_name, "frontend");
    assert_eq!((stats[0].span_count, stats[0].error_count), (3, 1));

    let foreign = SecondPassRequest {
        rows: vec![99 << 32],
        attributes: vec![intrinsic(Intrinsic::Name)],
        service_stats_for: Vec::new(),
    };
    let error = unit
        .fetch_second_pass(&foreign, &MemoryBudget::unlimited())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not in row groups"), "{error}");
}

#[tokio::test]
async fn the_memory_budget_is_a_clear_error() {
    let block = blocks().await;
    let budget = MemoryBudget::new(1_000);
    let error = block.one[0]
        .fetch(&FetchRequest::all_spans(0, u64::MAX), &budget)
        .await
        .unwrap_err();
    assert_eq!(error.code(), contrail_proto::ErrorCode::TooLarge);
    assert!(
        error.to_string().contains("memory budget of 1000 bytes"),
        "{error}"
    );
    assert_eq!(budget.used_bytes(), 0, "everything reserved was released");
    let roomy = MemoryBudget::new(64 * 1024 * 1024);
    block.one[0]
        .fetch(&FetchRequest::all_spans(0, u64::MAX), &roomy)
        .await
        .unwrap();
    assert_eq!(roomy.used_bytes(), 0);
}
