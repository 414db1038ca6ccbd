//! The domain of the read path: the requests the API accepts once parsed and validated, what
//! they answer, and [`QueryService`], the trait the HTTP and gRPC adapters call. Single-binary
//! mode and distributed mode implement it with the same [`crate::Querier`]; the adapters only
//! convert.

use std::sync::Arc;

use async_trait::async_trait;
use contrail_proto::tempopb::{
    QueryInstantResponse, QueryRangeResponse, SearchResponse, SearchTagValuesV2Response,
    SearchTagsV2Response, SearchTagsV2Scope, TagValue, Trace,
};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::Uuid;
use contrail_traceql::RootExpr;
use contrail_traceql::ast::{Attribute, Intrinsic};
use futures::stream::BoxStream;

use crate::error::Result;

/// Unix-second bounds of a request; both 0 means unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub start_secs: u32,
    pub end_secs: u32,
}

impl TimeRange {
    /// Whether the request named a range.
    pub fn is_set(&self) -> bool {
        self.start_secs != 0 || self.end_secs != 0
    }

    /// The range in unix nanoseconds, inclusive (`end` covers its whole second).
    pub fn nanos(&self) -> Option<(u64, u64)> {
        self.is_set().then(|| {
            (
                u64::from(self.start_secs) * 1_000_000_000,
                u64::from(self.end_secs) * 1_000_000_000 + 999_999_999,
            )
        })
    }
}

/// Where a trace-by-ID lookup looks (`mode`, a debug parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryMode {
    #[default]
    All,
    Ingesters,
    Blocks,
}

/// `GET /api/traces/{id}` and `/api/v2/traces/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceByIdRequest {
    pub trace_id: TraceId,
    /// With both bounds set, only blocks overlapping the window are read.
    pub range: TimeRange,
    pub mode: QueryMode,
    /// Only blocks whose ID is at least this (debug).
    pub block_start: Option<Uuid>,
    /// Only blocks whose ID is at most this (debug).
    pub block_end: Option<Uuid>,
}

/// The answer of a trace-by-ID lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceByIdResult {
    /// Every span found, merged and deduplicated; no spans means not found.
    pub trace: Trace,
    /// Set when the trace was cut at the tenant's `max_bytes_per_trace`: the reason, shown to
    /// users (v2 answers PARTIAL with it, v1 answers 422).
    pub partial_message: Option<String>,
    /// Bytes of block data read.
    pub inspected_bytes: u64,
}

/// A search, parsed and validated once.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The TraceQL text (legacy tag searches are converted to TraceQL).
    pub query: String,
    pub root: Arc<RootExpr>,
    pub limit: u32,
    pub spans_per_span_set: u32,
    /// Unset: recent data only (Tempo's behaviour without start and end).
    pub range: TimeRange,
}

/// One message of a search stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchUpdate {
    /// Traces new or changed since the previous message, with the cumulative metrics.
    Progress(SearchResponse),
    /// The complete result: every trace after the limit, final metrics. Always the last item.
    Final(SearchResponse),
}

/// The stream a search answers with: progress messages, then exactly one `Final` (or an error).
pub type SearchStream = BoxStream<'static, Result<SearchUpdate>>;

/// `GET /api/metrics/query_range` and `/api/metrics/query`, parsed and validated once; the
/// clock-dependent defaults are resolved by the service
/// ([`MetricsQueryRequest::window`](crate::params::parse_metrics)).
#[derive(Debug, Clone)]
pub struct MetricsQueryRequest {
    /// The TraceQL metrics query text.
    pub query: String,
    /// The parsed and validated query (its body is a metrics query).
    pub root: Arc<RootExpr>,
    /// Unix nanoseconds; unset: `end` − `since`.
    pub start_unix_nano: Option<u64>,
    /// Unix nanoseconds; unset: now.
    pub end_unix_nano: Option<u64>,
    /// Unset: one hour.
    pub since: Option<std::time::Duration>,
    /// Range queries only; unset: about 240 points.
    pub step_nano: Option<u64>,
    /// `/api/metrics/query`: one value per series over the whole range.
    pub instant: bool,
    /// Exemplars per series asked for (`exemplars`).
    pub exemplars: Option<u32>,
    /// `maxSeries`.
    pub max_series: Option<u32>,
}

/// `scope` of the tag endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagScope {
    /// No scope given: every scope, and the static intrinsics.
    All,
    /// `none`: like `All` (Tempo's spelling of "no scope").
    None,
    Resource,
    Span,
    Intrinsic,
    Event,
    Link,
    Instrumentation,
}

impl TagScope {
    /// The scope name in responses (`All`/`None` have none).
    pub fn name(self) -> Option<&'static str> {
        match self {
            TagScope::All | TagScope::None => None,
            TagScope::Resource => Some("resource"),
            TagScope::Span => Some("span"),
            TagScope::Intrinsic => Some("intrinsic"),
            TagScope::Event => Some("event"),
            TagScope::Link => Some("link"),
            TagScope::Instrumentation => Some("instrumentation"),
        }
    }

    /// Whether answers include the static intrinsic list.
    pub fn includes_intrinsics(self) -> bool {
        matches!(self, TagScope::All | TagScope::None | TagScope::Intrinsic)
    }

    /// Whether answers include attribute names of scope `name` (read from data).
    pub fn includes(self, name: &str) -> bool {
        match self.name() {
            None => name != "intrinsic",
            Some(own) => own == name && own != "intrinsic",
        }
    }
}

/// `GET /api/v2/search/tags` (and v1).
#[derive(Debug, Clone, PartialEq)]
pub struct TagsRequest {
    pub scope: TagScope,
    /// Only names seen on spans matching this TraceQL filter (already reduced to its valid
    /// part).
    pub filter: Option<String>,
    pub range: TimeRange,
    /// At most this many names per scope; 0 = unlimited.
    pub limit: u32,
    /// Stop early after this many names already seen; 0 = never.
    pub max_stale_values: u32,
}

/// `GET /api/v2/search/tag/{scopedTag}/values` (and v1).
#[derive(Debug, Clone, PartialEq)]
pub struct TagValuesRequest {
    pub tag: Attribute,
    /// The tag as the request wrote it.
    pub tag_name: String,
    pub filter: Option<String>,
    pub range: TimeRange,
    pub limit: u32,
    pub max_stale_values: u32,
}

/// The read path, as the API adapters call it. `tenants` has one entry, or several for a
/// cross-tenant query (`X-Scope-OrgID: a|b`), whose results are merged.
#[async_trait]
pub trait QueryService: Send + Sync + 'static {
    /// Every span of one trace, from recent data and blocks.
    async fn find_trace_by_id(
        &self,
        tenants: &[TenantId],
        request: TraceByIdRequest,
    ) -> Result<TraceByIdResult>;

    /// A TraceQL search, streamed: progress messages, then the final result.
    async fn search(&self, tenants: &[TenantId], request: SearchRequest) -> Result<SearchStream>;

    /// Attribute names by scope.
    async fn search_tags(
        &self,
        tenants: &[TenantId],
        request: TagsRequest,
    ) -> Result<SearchTagsV2Response>;

    /// Typed values of one attribute.
    async fn search_tag_values(
        &self,
        tenants: &[TenantId],
        request: TagValuesRequest,
    ) -> Result<SearchTagValuesV2Response>;

    /// A TraceQL metrics query over a range (`request.instant` false).
    async fn query_range(
        &self,
        tenants: &[TenantId],
        request: MetricsQueryRequest,
    ) -> Result<QueryRangeResponse>;

    /// A TraceQL metrics query with one value per series (`request.instant` true).
    async fn query_instant(
        &self,
        tenants: &[TenantId],
        request: MetricsQueryRequest,
    ) -> Result<QueryInstantResponse>;
}

/// The intrinsics every tags answer lists in scope `intrinsic` (spec §4.7).
pub const STATIC_INTRINSICS: [&str; 25] = [
    "duration",
    "name",
    "status",
    "statusMessage",
    "kind",
    "rootServiceName",
    "rootName",
    "traceDuration",
    "event:name",
    "event:timeSinceStart",
    "link:spanID",
    "link:traceID",
    "instrumentation:name",
    "instrumentation:version",
    "trace:id",
    "span:id",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "span:duration",
    "span:name",
    "span:kind",
    "trace:rootName",
    "trace:rootService",
    "trace:duration",
];

/// The `intrinsic` scope of a tags answer.
pub fn intrinsic_scope() -> SearchTagsV2Scope {
    SearchTagsV2Scope {
        name: "intrinsic".to_owned(),
        tags: STATIC_INTRINSICS
            .iter()
            .map(|tag| (*tag).to_owned())
            .collect(),
    }
}

/// The fixed answer for intrinsics whose values are known without data (spec §4.8): `status`,
/// `kind` (keywords) and the durations (no values). `None`: read values from data.
pub fn static_tag_values(tag: &Attribute) -> Option<Vec<TagValue>> {
    let keywords = |values: &[&str]| {
        values
            .iter()
            .map(|value| TagValue {
                r#type: "keyword".to_owned(),
                value: (*value).to_owned(),
            })
            .collect()
    };
    match tag {
        Attribute::Intrinsic(Intrinsic::Status) => Some(keywords(&["ok", "error", "unset"])),
        Attribute::Intrinsic(Intrinsic::Kind) => Some(keywords(&[
            "client",
            "server",
            "producer",
            "consumer",
            "internal",
            "unspecified",
        ])),
        Attribute::Intrinsic(Intrinsic::Duration | Intrinsic::TraceDuration) => Some(Vec::new()),
        _ => None,
    }
}
