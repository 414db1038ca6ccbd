//! Tag names and values over vc1 blocks (`block::v1::tags`): expected sets written by hand from
//! the hand-built block (`search_common`), per row-group range, with a `q` filter, with limits;
//! the block half agrees with the in-memory half over the same traces (hand block and corpus);
//! a truncated `data.parquet` is an error naming the block, never a panic.

mod block_common;
mod search_common;

use std::collections::BTreeSet;
use std::sync::Arc;

use contrail_proto::ErrorCode;
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::v1::tags::{RowSelection, block_tag_names, block_tag_values};
use contrail_storage::convert::Trace;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::tags::memory::{collect_names, collect_values};
use contrail_traceql::tags::{
    DataScope, MatchedSpans, SpanFilter, TagNames, TagValues, ValueTarget, parse_tag_name,
};
use contrail_traceql::{InlineRunner, MemorySource, MemoryTrace};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use search_common::write_hand_block;

struct Block {
    _dir: tempfile::TempDir,
    reader: Arc<BlockReader>,
}

async fn hand_block(one_trace_per_row_group: bool) -> Block {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let meta = write_hand_block(store.clone(), one_trace_per_row_group).await;
    let reader = Arc::new(BlockReader::open(store, meta).expect("reader"));
    Block { _dir: dir, reader }
}

fn memory(traces: &[Trace]) -> Vec<MemoryTrace> {
    traces
        .iter()
        .map(|trace| MemoryTrace {
            trace_id: trace.trace_id,
            resource_spans: trace.resource_spans.clone(),
        })
        .collect()
}

async fn block_selection(reader: &Arc<BlockReader>, query: &str) -> Option<RowSelection> {
    let filter = SpanFilter::new(query, 0, u64::MAX).expect("filter")?;
    let total = reader.meta().row_groups.len();
    let source = BlockSpanSource::new(reader.clone(), 0..total);
    let source: &dyn SpanSource = &source;
    let matched = filter
        .matching(source, &reader.pool().clone(), &MemoryBudget::unlimited())
        .await
        .expect("matching");
    Some(RowSelection::from_row_refs(&matched.rows))
}

async fn memory_matched(traces: &[MemoryTrace], query: &str) -> Option<MatchedSpans> {
    let filter = SpanFilter::new(query, 0, u64::MAX).expect("filter")?;
    let source = MemorySource::new(traces.to_vec(), Arc::new(InlineRunner));
    let source: &dyn SpanSource = &source;
    Some(
        filter
            .matching(source, &InlineRunner, &MemoryBudget::unlimited())
            .await
            .expect("matching"),
    )
}

async fn names(block: &Block, rows: std::ops::Range<usize>, query: Option<&str>) -> TagNames {
    let selection = match query {
        Some(query) => block_selection(&block.reader, query).await,
        None => None,
    };
    block_tag_names(
        &block.reader,
        rows,
        selection.as_ref(),
        TagNames::new(&DataScope::ALL, 0, 0),
    )
    .await
    .expect("names")
}

async fn values(block: &Block, tag: &str, query: Option<&str>) -> Vec<(String, String)> {
    let selection = match query {
        Some(query) => block_selection(&block.reader, query).await,
        None => None,
    };
    let target = ValueTarget::of(&parse_tag_name(tag).expect("tag"));
    let total = block.reader.meta().row_groups.len();
    block_tag_values(
        &block.reader,
        0..total,
        selection.as_ref(),
        &target,
        TagValues::new(0, 0),
    )
    .await
    .expect("values")
    .values()
    .iter()
    .cloned()
    .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn typed(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(kind, value)| ((*kind).to_owned(), (*value).to_owned()))
        .collect()
}

#[tokio::test]
async fn names_by_scope_from_the_hand_block() {
    let block = hand_block(false).await;
    let all = names(&block, 0..1, None).await;
    assert_eq!(
        all.names(DataScope::Span),
        &set(&[
            "count",
            "db.system",
            "flag",
            "http.response.status_code",
            "http.route",
            "http.status_code",
            "ratio",
            "tags",
        ])
    );
    assert_eq!(
        all.names(DataScope::Resource),
        &set(&["k8s.namespace.name", "service.name"])
    );
    assert_eq!(all.names(DataScope::Event), &set(&["msg"]));
    assert_eq!(all.names(DataScope::Link), &set(&["kind"]));
    assert!(all.names(DataScope::Instrumentation).is_empty());
}

#[tokio::test]
async fn names_per_row_group_job() {
    // row groups: C (frontend, no span attributes), A, B (payment-service)
    let block = hand_block(true).await;
    assert_eq!(block.reader.meta().row_groups.len(), 3);
    let c = names(&block, 0..1, None).await;
    assert!(c.names(DataScope::Span).is_empty());
    assert_eq!(
        c.names(DataScope::Resource),
        &set(&["k8s.namespace.name", "service.name"])
    );
    let b = names(&block, 2..3, None).await;
    assert_eq!(b.names(DataScope::Span), &set(&["http.status_code"]));
    assert_eq!(b.names(DataScope::Resource), &set(&["service.name"]));
    assert!(b.names(DataScope::Event).is_empty());
    // jobs merge into the whole block's answer
    let mut merged = names(&block, 0..1, None).await;
    merged.merge(names(&block, 1..2, None).await);
    merged.merge(b);
    let whole = names(&block, 0..3, None).await;
    for scope in DataScope::ALL {
        assert_eq!(merged.names(scope), whole.names(scope), "{scope:?}");
    }
}

#[tokio::test]
async fn names_with_a_filter() {
    let block = hand_block(true).await;
    let errors = names(&block, 0..3, Some("{ status = error }")).await;
    assert_eq!(errors.names(DataScope::Span), &set(&["count", "db.system"]));
    assert_eq!(
        errors.names(DataScope::Resource),
        &set(&["k8s.namespace.name", "service.name"])
    );
    assert_eq!(errors.names(DataScope::Event), &set(&["msg"]));
    assert!(errors.names(DataScope::Link).is_empty());
    let none = names(&block, 0..3, Some(r#"{ name = "no such span" }"#)).await;
    for scope in DataScope::ALL {
        assert!(none.names(scope).is_empty());
    }
}

#[tokio::test]
async fn one_scope_and_limit() {
    let block = hand_block(false).await;
    let spans = block_tag_names(
        &block.reader,
        0..1,
        None,
        TagNames::new(&[DataScope::Span], 3, 0),
    )
    .await
    .expect("names");
    assert_eq!(
        spans.names(DataScope::Span),
        &set(&["count", "db.system", "flag"])
    );
    assert!(spans.names(DataScope::Resource).is_empty());
}

#[tokio::test]
async fn typed_values_from_the_hand_block() {
    let block = hand_block(true).await;
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        (".count", typed(&[("float", "1"), ("int", "1")])),
        ("span.http.status_code", typed(&[("int", "503")])),
        ("span.http.response.status_code", typed(&[("int", "200")])),
        ("span.http.route", typed(&[("string", "/api/v1/users/1")])),
        (".flag", typed(&[("bool", "true")])),
        (".ratio", typed(&[("float", "1.5")])),
        (".tags", Vec::new()),
        (
            "resource.service.name",
            typed(&[("string", "frontend"), ("string", "payment-service")]),
        ),
        (
            ".service.name",
            typed(&[("string", "frontend"), ("string", "payment-service")]),
        ),
        ("event.msg", typed(&[("string", "timeout")])),
        ("link.kind", typed(&[("string", "follows")])),
        ("event:name", typed(&[("string", "exception")])),
        ("statusMessage", typed(&[("string", "timeout")])),
        (
            "name",
            typed(&[
                ("string", "GET /"),
                ("string", "GET /health"),
                ("string", "cache"),
                ("string", "charge"),
                ("string", "db query"),
                ("string", "orphan"),
            ]),
        ),
        (
            "rootServiceName",
            typed(&[("string", "frontend"), ("string", "payment-service")]),
        ),
        (
            "trace:rootName",
            typed(&[
                ("string", "GET /"),
                ("string", "GET /health"),
                ("string", "charge"),
            ]),
        ),
        (
            "instrumentation:name",
            typed(&[("string", "grpc"), ("string", "http-lib")]),
        ),
        (
            "instrumentation:version",
            typed(&[("string", "0.9"), ("string", "1.2")]),
        ),
        ("span:id", Vec::new()),
    ];
    for (tag, expected) in cases {
        assert_eq!(values(&block, tag, None).await, expected, "{tag}");
    }
}

#[tokio::test]
async fn values_with_a_filter_and_a_limit() {
    let block = hand_block(true).await;
    assert_eq!(
        values(
            &block,
            "name",
            Some(r#"{ resource.service.name = "payment-service" }"#)
        )
        .await,
        typed(&[("string", "charge"), ("string", "orphan")])
    );
    assert_eq!(
        values(&block, ".count", Some("{ status = error }")).await,
        typed(&[("float", "1")])
    );
    let target = ValueTarget::of(&parse_tag_name("name").expect("tag"));
    let limited = block_tag_values(&block.reader, 0..3, None, &target, TagValues::new(2, 0))
        .await
        .expect("values");
    let limited: Vec<_> = limited.values().iter().cloned().collect();
    assert_eq!(
        limited,
        typed(&[("string", "GET /"), ("string", "GET /health")])
    );
}

/// The block half and the in-memory half give the same answers over the same traces.
async fn agree(traces: Vec<Trace>, block: &Block, queries: &[Option<&str>], tags: &[&str]) {
    let in_memory = memory(&traces);
    let total = block.reader.meta().row_groups.len();
    for query in queries {
        let selection = match query {
            Some(query) => block_selection(&block.reader, query).await,
            None => None,
        };
        let matched = match query {
            Some(query) => memory_matched(&in_memory, query).await,
            None => None,
        };
        let from_block = block_tag_names(
            &block.reader,
            0..total,
            selection.as_ref(),
            TagNames::new(&DataScope::ALL, 0, 0),
        )
        .await
        .expect("names");
        let mut from_memory = TagNames::new(&DataScope::ALL, 0, 0);
        collect_names(&in_memory, matched.as_ref(), &mut from_memory);
        assert!(
            !from_memory.names(DataScope::Span).is_empty()
                && !from_memory.names(DataScope::Resource).is_empty(),
            "the data has names with {query:?}"
        );
        for scope in DataScope::ALL {
            assert_eq!(
                from_block.names(scope),
                from_memory.names(scope),
                "{scope:?} names with {query:?}"
            );
        }
        for tag in tags {
            let target = ValueTarget::of(&parse_tag_name(tag).expect("tag"));
            let from_block = block_tag_values(
                &block.reader,
                0..total,
                selection.as_ref(),
                &target,
                TagValues::new(0, 0),
            )
            .await
            .expect("values");
            let mut from_memory = TagValues::new(0, 0);
            collect_values(&in_memory, matched.as_ref(), &target, &mut from_memory);
            assert_eq!(
                from_block.values(),
                from_memory.values(),
                "{tag} values with {query:?}"
            );
        }
    }
}

#[tokio::test]
async fn block_and_memory_agree_on_the_hand_block() {
    let block = hand_block(true).await;
    agree(
        search_common::traces(),
        &block,
        &[
            None,
            Some("{ status = error }"),
            Some("{ kind = server }"),
            Some("{ .count = 1 }"),
        ],
        &[
            ".count",
            "resource.service.name",
            "name",
            "event.msg",
            "link.kind",
            "rootServiceName",
        ],
    )
    .await;
}

#[tokio::test]
async fn block_and_memory_agree_on_the_corpus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let traces = block_common::corpus_traces(7, 60);
    let written =
        block_common::write_block(store.clone(), block_common::small_config(), traces.clone())
            .await;
    assert!(written.meta.row_groups.len() > 1, "several row groups");
    let block = Block {
        _dir: dir,
        reader: Arc::new(BlockReader::open(store, written.meta).expect("reader")),
    };
    agree(
        traces,
        &block,
        &[
            None,
            Some("{ status = error }"),
            Some("{ kind = client && duration > 5ms }"),
        ],
        &[
            "resource.service.name",
            "span.http.route",
            ".http.response.status_code",
            "name",
            "instrumentation:name",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_truncated_block_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let meta = write_hand_block(store.clone(), false).await;
    let data = dir
        .path()
        .join(meta.tenant_id.as_str())
        .join(meta.block_id.to_string())
        .join("data.parquet");
    let bytes = std::fs::read(&data).expect("data.parquet");
    std::fs::write(&data, &bytes[..bytes.len() / 2]).expect("truncate");
    let reader = BlockReader::open(store, meta.clone()).expect("reader");
    let error = block_tag_names(&reader, 0..1, None, TagNames::new(&DataScope::ALL, 0, 0))
        .await
        .expect_err("a truncated block");
    assert_eq!(error.code(), ErrorCode::DataCorrupt, "{error}");
    assert!(
        error.to_string().contains(&meta.block_id.to_string()),
        "{error}"
    );
    let target = ValueTarget::of(&parse_tag_name("name").expect("tag"));
    let error = block_tag_values(&reader, 0..1, None, &target, TagValues::new(0, 0))
        .await
        .expect_err("a truncated block");
    assert!(
        error.to_string().contains(&meta.block_id.to_string()),
        "{error}"
    );
}
