//! `EngineBlockSearch` over real `vc1` blocks on local disk: search answers equal the engine's
//! over the same traces in a `MemorySource` (filters, limit, spss, time window), for one job and
//! for the block cut into row-group jobs merged by `SearchCombiner`; tag names and values are
//! the sets written out by hand below (scope filter, `q` filter, limits); a truncated
//! `data.parquet` is an error naming the block.
//!
//! The data: 12 traces, trace `i` starting at `BASE + i × 10 s`, one trace per row group.
//! - resource `service.name` = `cart` / `shop` / `db` for `i % 3` = 0 / 1 / 2;
//! - root span: name `GET /cart`, `GET /shop` or `query`; `span.attempt` = `i % 2` (int);
//!   `span.http.method` = `GET` except for `db`; kind server;
//! - child span `work` (+10 ms, 50 ms long): status error with an event `exception`
//!   {`exception.type` = `Timeout`} when `i % 4 == 0`; `span.db.system` = `postgres` for `db`.

use std::collections::BTreeSet;
use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::span::Event;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::tempopb::{SearchResponse, SearchTagsV2Response};
use contrail_proto::{ErrorCode, TenantId, TraceId};
use contrail_querier::EngineBlockSearch;
use contrail_querier::frontend::{
    BlockJob, BlockSearch, BlockSearchRequest, SearchCombiner, block_jobs,
};
use contrail_querier::params::parse_tag_name;
use contrail_querier::service::{TagScope, TagValuesRequest, TagsRequest, TimeRange};
use contrail_storage::DecodePool;
use contrail_storage::block::{BlockMeta, BlockWriter, BlockWriterConfig};
use contrail_storage::convert::Trace;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::{InlineRunner, MemorySource, MemoryTrace, SearchOptions, plan_search};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

const BASE: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        key_strindex: 0,
    }
}

fn trace(index: u64) -> Trace {
    let mut id = [0u8; 16];
    id[0] = 0x10;
    id[15] = index as u8;
    let service = ["cart", "shop", "db"][(index % 3) as usize];
    let start = BASE + index * 10 * SECOND;
    let mut root_attributes = vec![int("attempt", (index % 2) as i64)];
    if service != "db" {
        root_attributes.push(string("http.method", "GET"));
    }
    let root = Span {
        trace_id: id.to_vec(),
        span_id: vec![1, 0, 0, 0, 0, 0, 0, index as u8],
        name: match service {
            "cart" => "GET /cart",
            "shop" => "GET /shop",
            _ => "query",
        }
        .to_owned(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 100 * MS,
        attributes: root_attributes,
        ..Span::default()
    };
    let failed = index.is_multiple_of(4);
    let child = Span {
        trace_id: id.to_vec(),
        span_id: vec![2, 0, 0, 0, 0, 0, 0, index as u8],
        parent_span_id: root.span_id.clone(),
        name: "work".to_owned(),
        kind: 1,
        start_time_unix_nano: start + 10 * MS,
        end_time_unix_nano: start + 60 * MS,
        attributes: if service == "db" {
            vec![string("db.system", "postgres")]
        } else {
            Vec::new()
        },
        status: failed.then(|| Status {
            code: 2,
            message: "failed".to_owned(),
        }),
        events: if failed {
            vec![Event {
                time_unix_nano: start + 20 * MS,
                name: "exception".to_owned(),
                attributes: vec![string("exception.type", "Timeout")],
                dropped_attributes_count: 0,
            }]
        } else {
            Vec::new()
        },
        ..Span::default()
    };
    Trace {
        trace_id: TraceId::from_bytes(&id).expect("trace id"),
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![root, child],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn traces() -> Vec<Trace> {
    let mut traces: Vec<Trace> = (0..12).map(trace).collect();
    traces.sort_by_key(|trace| trace.trace_id);
    traces
}

struct Fixture {
    dir: tempfile::TempDir,
    engine: EngineBlockSearch,
    meta: Arc<BlockMeta>,
    tenant: TenantId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let tenant = TenantId::new("engine").expect("tenant");
    let mut config = BlockWriterConfig::new(tenant.clone());
    config.row_group_target_bytes = 1;
    config.batch_spans = 1;
    let mut writer = BlockWriter::new(store.clone(), config).expect("writer");
    for trace in traces() {
        writer.push_trace(trace).await.expect("push");
    }
    let meta = Arc::new(writer.finish().await.expect("finish").meta);
    assert_eq!(meta.row_groups.len(), 12, "one trace per row group");
    let engine = EngineBlockSearch::new(store, DecodePool::new(2), &prometheus::Registry::new())
        .expect("engine");
    Fixture {
        dir,
        engine,
        meta,
        tenant,
    }
}

impl Fixture {
    fn whole_job(&self) -> BlockJob {
        let jobs = block_jobs(
            &self.tenant,
            std::slice::from_ref(&self.meta),
            (0, u64::MAX),
            u64::MAX,
        );
        assert_eq!(jobs.len(), 1);
        jobs.into_iter().next().expect("one job")
    }

    fn row_group_jobs(&self, window: (u64, u64)) -> Vec<BlockJob> {
        block_jobs(&self.tenant, std::slice::from_ref(&self.meta), window, 1)
    }
}

fn request(query: &str, window: (u64, u64), limit: u32, spss: u32) -> BlockSearchRequest {
    BlockSearchRequest {
        query: query.to_owned(),
        root: Arc::new(contrail_traceql::parse_and_validate(query).expect("query")),
        start_unix_nano: window.0,
        end_unix_nano: window.1,
        limit,
        spans_per_span_set: spss,
    }
}

async fn in_memory(request: &BlockSearchRequest) -> SearchResponse {
    let options = SearchOptions {
        start_unix_nano: request.start_unix_nano,
        end_unix_nano: request.end_unix_nano,
        limit: request.limit as usize,
        spans_per_spanset: request.spans_per_span_set as usize,
        most_recent: false,
    };
    let plan = Arc::new(plan_search(&request.root, options).expect("plan"));
    let memory: Vec<MemoryTrace> = traces()
        .into_iter()
        .map(|trace| MemoryTrace {
            trace_id: trace.trace_id,
            resource_spans: trace.resource_spans,
        })
        .collect();
    let sources: Vec<Arc<dyn SpanSource>> =
        vec![Arc::new(MemorySource::new(memory, Arc::new(InlineRunner)))];
    contrail_traceql::search(&plan, &sources, &InlineRunner, &MemoryBudget::unlimited())
        .await
        .expect("memory search")
        .response
}

const CASES: [(&str, (u64, u64), u32, u32); 7] = [
    ("{}", (0, u64::MAX), 20, 3),
    ("{}", (0, u64::MAX), 3, 1),
    ("{ status = error }", (0, u64::MAX), 20, 0),
    (r#"{ resource.service.name = "shop" }"#, (0, u64::MAX), 2, 3),
    (
        r#"{ name = "GET /cart" } > { name = "work" }"#,
        (0, u64::MAX),
        20,
        3,
    ),
    (
        "{ duration > 60ms }",
        (BASE + 25 * SECOND, BASE + 75 * SECOND),
        20,
        3,
    ),
    (
        r#"{ span.attempt = 1 } | count() > 0"#,
        (BASE + 15 * SECOND, u64::MAX),
        4,
        2,
    ),
];

#[tokio::test]
async fn one_job_equals_the_engine_in_memory() {
    let fixture = fixture().await;
    let job = fixture.whole_job();
    for (query, window, limit, spss) in CASES {
        let request = request(query, window, limit, spss);
        let budget = MemoryBudget::new(64 * 1024 * 1024);
        let answer = fixture
            .engine
            .search(&job, &request, &budget)
            .await
            .expect("search");
        let expected = in_memory(&request).await;
        assert!(!expected.traces.is_empty(), "{query} matches something");
        assert_eq!(
            answer.traces, expected.traces,
            "{query} {window:?} {limit} {spss}"
        );
        assert_eq!(budget.used_bytes(), 0, "the job gave its memory back");
    }
}

#[tokio::test]
async fn row_group_jobs_combined_equal_the_engine_in_memory() {
    let fixture = fixture().await;
    for (query, window, limit, spss) in CASES {
        let request = request(query, window, limit, spss);
        let jobs = fixture.row_group_jobs(window);
        assert!(jobs.len() > 1, "{query}: several jobs");
        let budget = Arc::new(MemoryBudget::new(64 * 1024 * 1024));
        let mut combiner = SearchCombiner::new(limit, spss, budget.clone());
        for job in &jobs {
            let answer = fixture
                .engine
                .search(job, &request, &budget)
                .await
                .expect("search");
            combiner.add(answer).expect("combine");
        }
        let combined = combiner.finish();
        assert_eq!(combined.traces, in_memory(&request).await.traces, "{query}");
    }
}

#[tokio::test]
async fn an_impossible_budget_is_a_budget_error() {
    let fixture = fixture().await;
    let job = fixture.whole_job();
    let error = fixture
        .engine
        .search(
            &job,
            &request("{}", (0, u64::MAX), 20, 3),
            &MemoryBudget::new(16),
        )
        .await
        .expect_err("16 bytes cannot hold a row group");
    assert_eq!(error.code(), ErrorCode::BadRequest, "{error}");
    assert!(error.to_string().contains("memory budget"), "{error}");
}

fn tags_request(scope: TagScope, filter: Option<&str>, limit: u32) -> TagsRequest {
    TagsRequest {
        scope,
        filter: filter.map(str::to_owned),
        range: TimeRange::default(),
        limit,
        max_stale_values: 0,
    }
}

fn values_request(tag: &str, filter: Option<&str>, limit: u32) -> TagValuesRequest {
    TagValuesRequest {
        tag: parse_tag_name(tag).expect("tag"),
        tag_name: tag.to_owned(),
        filter: filter.map(str::to_owned),
        range: TimeRange::default(),
        limit,
        max_stale_values: 0,
    }
}

fn scopes(response: &SearchTagsV2Response) -> Vec<(String, BTreeSet<String>)> {
    response
        .scopes
        .iter()
        .map(|scope| (scope.name.clone(), scope.tags.iter().cloned().collect()))
        .collect()
}

fn names(scope: &str, tags: &[&str]) -> (String, BTreeSet<String>) {
    (
        scope.to_owned(),
        tags.iter().map(|tag| (*tag).to_owned()).collect(),
    )
}

#[tokio::test]
async fn tag_names_by_hand() {
    let fixture = fixture().await;
    let job = fixture.whole_job();
    let all = fixture
        .engine
        .tag_names(&job, &tags_request(TagScope::All, None, 0))
        .await
        .expect("names");
    assert_eq!(
        scopes(&all),
        vec![
            names("resource", &["service.name"]),
            names("span", &["attempt", "db.system", "http.method"]),
            names("event", &["exception.type"]),
        ]
    );
    let spans = fixture
        .engine
        .tag_names(&job, &tags_request(TagScope::Span, None, 2))
        .await
        .expect("names");
    assert_eq!(
        scopes(&spans),
        vec![names("span", &["attempt", "db.system"])]
    );
    let intrinsic = fixture
        .engine
        .tag_names(&job, &tags_request(TagScope::Intrinsic, None, 0))
        .await
        .expect("names");
    assert!(
        intrinsic.scopes.is_empty(),
        "the frontend adds the static list"
    );

    let errors = fixture
        .engine
        .tag_names(
            &job,
            &tags_request(TagScope::All, Some("{ status = error }"), 0),
        )
        .await
        .expect("names");
    // matched: the `work` spans of traces 0 (cart), 4 (shop), 8 (db)
    assert_eq!(
        scopes(&errors),
        vec![
            names("resource", &["service.name"]),
            names("span", &["db.system"]),
            names("event", &["exception.type"]),
        ]
    );
    let shop = fixture
        .engine
        .tag_names(
            &job,
            &tags_request(
                TagScope::Span,
                Some(r#"{ resource.service.name = "shop" }"#),
                0,
            ),
        )
        .await
        .expect("names");
    assert_eq!(
        scopes(&shop),
        vec![names("span", &["attempt", "http.method"])]
    );

    // one row-group job: trace 1 (shop, no error)
    let jobs = fixture.row_group_jobs((BASE + 10 * SECOND, BASE + 10 * SECOND + 100 * MS));
    assert_eq!(jobs.len(), 1);
    let one = fixture
        .engine
        .tag_names(&jobs[0], &tags_request(TagScope::All, None, 0))
        .await
        .expect("names");
    assert_eq!(
        scopes(&one),
        vec![
            names("resource", &["service.name"]),
            names("span", &["attempt", "http.method"]),
        ]
    );
}

fn typed(response: &contrail_proto::tempopb::SearchTagValuesV2Response) -> Vec<(String, String)> {
    response
        .tag_values
        .iter()
        .map(|value| (value.r#type.clone(), value.value.clone()))
        .collect()
}

fn expected(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(kind, value)| ((*kind).to_owned(), (*value).to_owned()))
        .collect()
}

/// A tag, its filter and limit, and the expected typed values.
type ValuesCase = (
    &'static str,
    Option<&'static str>,
    u32,
    Vec<(String, String)>,
);

#[tokio::test]
async fn tag_values_by_hand() {
    let fixture = fixture().await;
    let job = fixture.whole_job();
    let cases: [ValuesCase; 7] = [
        (
            "resource.service.name",
            None,
            0,
            expected(&[("string", "cart"), ("string", "db"), ("string", "shop")]),
        ),
        (
            "resource.service.name",
            None,
            2,
            expected(&[("string", "cart"), ("string", "db")]),
        ),
        (
            "span.attempt",
            None,
            0,
            expected(&[("int", "0"), ("int", "1")]),
        ),
        (".http.method", None, 0, expected(&[("string", "GET")])),
        (
            "name",
            Some(r#"{ resource.service.name = "db" }"#),
            0,
            expected(&[("string", "query"), ("string", "work")]),
        ),
        (
            "span.attempt",
            Some(r#"{ name = "GET /cart" && span.attempt = 1 }"#),
            0,
            expected(&[("int", "1")]),
        ),
        (
            "event.exception.type",
            None,
            0,
            expected(&[("string", "Timeout")]),
        ),
    ];
    for (tag, filter, limit, values) in cases {
        let answer = fixture
            .engine
            .tag_values(&job, &values_request(tag, filter, limit))
            .await
            .expect("values");
        assert_eq!(typed(&answer), values, "{tag} {filter:?} {limit}");
    }
    let bad = fixture
        .engine
        .tag_values(&job, &values_request("name", Some("{ .a = "), 0))
        .await
        .expect_err("an invalid filter");
    assert_eq!(bad.code(), ErrorCode::BadRequest, "{bad}");
}

#[tokio::test]
async fn a_truncated_block_is_an_error_naming_it() {
    let fixture = fixture().await;
    let data = fixture
        .dir
        .path()
        .join(fixture.tenant.as_str())
        .join(fixture.meta.block_id.to_string())
        .join("data.parquet");
    let bytes = std::fs::read(&data).expect("data.parquet");
    std::fs::write(&data, &bytes[..bytes.len() / 2]).expect("truncate");
    let job = fixture.whole_job();
    let block_id = fixture.meta.block_id.to_string();
    let search = fixture
        .engine
        .search(
            &job,
            &request("{}", (0, u64::MAX), 20, 3),
            &MemoryBudget::unlimited(),
        )
        .await
        .expect_err("a truncated block");
    assert_eq!(search.code(), ErrorCode::DataCorrupt, "{search}");
    assert!(search.to_string().contains(&block_id), "{search}");
    let names = fixture
        .engine
        .tag_names(&job, &tags_request(TagScope::All, None, 0))
        .await
        .expect_err("a truncated block");
    assert_eq!(names.code(), ErrorCode::DataCorrupt, "{names}");
    assert!(names.to_string().contains(&block_id), "{names}");
}

#[tokio::test]
async fn a_deleted_block_is_not_found() {
    let fixture = fixture().await;
    std::fs::remove_dir_all(
        fixture
            .dir
            .path()
            .join(fixture.tenant.as_str())
            .join(fixture.meta.block_id.to_string()),
    )
    .expect("delete the block");
    let error = fixture
        .engine
        .search(
            &fixture.whole_job(),
            &request("{}", (0, u64::MAX), 20, 3),
            &MemoryBudget::unlimited(),
        )
        .await
        .expect_err("a deleted block");
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
}
