//! HTTP query parameters → the domain requests of [`crate::service`], with Tempo's validation
//! order and messages (spec §2.5, §4). Parsing is pure: the handlers pass the raw query string
//! and the limits from `query_frontend`, and get a request or an [`Error::BadRequest`] /
//! [`Error::InvalidQuery`] / [`Error::TraceId`] whose text is the HTTP body.

mod duration;
mod logfmt;
mod metrics;
mod tags;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use contrail_proto::TraceId;
use contrail_storage::block::Uuid;
use contrail_traceql::value::format_go_duration;

pub(crate) use duration::parse_go_duration;
pub use metrics::{MetricsLimits, parse_metrics, parse_metrics_time, parse_prometheus_duration};
pub use tags::{parse_tag_name, tolerant_filter};

use crate::config::QueryFrontendConfig;
use crate::error::{Error, Result};
use crate::service::{
    QueryMode, SearchRequest, TagScope, TagValuesRequest, TagsRequest, TimeRange, TraceByIdRequest,
};

/// The decoded query string: every value of every key, in order.
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes a raw (URL-encoded) query string.
    pub fn parse(raw_opt: Option<&str>) -> Self {
        let pairs = raw_opt
            .map(|raw| {
                form_urlencoded::parse(raw.as_bytes())
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        QueryParams { pairs }
    }

    /// The first value of `key` (Go's `url.Values.Get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

fn parse_u32(params: &QueryParams, key: &str) -> Result<Option<u32>> {
    params
        .get(key)
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                Error::bad_request(format!(
                    "invalid {key}: must be a non-negative integer, received {text:?}"
                ))
            })
        })
        .transpose()
}

/// `start` and `end` in unix seconds; both 0 (or absent) is unset, otherwise `end` must be after
/// `start`.
pub fn parse_time_range(params: &QueryParams) -> Result<TimeRange> {
    let start_secs = parse_u32(params, "start")?.unwrap_or(0);
    let end_secs = parse_u32(params, "end")?.unwrap_or(0);
    let range = TimeRange {
        start_secs,
        end_secs,
    };
    check_time_range(range)?;
    Ok(range)
}

/// Both bounds unset, or `end` after `start`.
pub fn check_time_range(range: TimeRange) -> Result<()> {
    if range.is_set() && range.start_secs >= range.end_secs {
        return Err(Error::bad_request(format!(
            "http parameter start must be before end. received start={} end={}",
            range.start_secs, range.end_secs
        )));
    }
    Ok(())
}

/// The legacy tag search of a gRPC `SearchRequest` (`Tags`, `MinDurationMs`, `MaxDurationMs`)
/// as TraceQL.
pub fn tags_query(
    tags: &BTreeMap<String, String>,
    min_duration_ms: u32,
    max_duration_ms: u32,
) -> String {
    tags::tags_to_traceql(tags, Some(min_duration_ms), Some(max_duration_ms))
}

/// The path segment of `/api/traces/{id}`, with Tempo's hex rules.
pub fn parse_trace_id(text: &str) -> Result<TraceId> {
    TraceId::from_hex(text).map_err(Error::TraceId)
}

/// `GET /api/traces/{id}` and `/api/v2/traces/{id}`.
pub fn parse_trace_by_id(path_id: &str, params: &QueryParams) -> Result<TraceByIdRequest> {
    let trace_id = parse_trace_id(path_id)?;
    let range = parse_time_range(params)?;
    let mode = match params.get("mode").unwrap_or("") {
        "" | "all" => QueryMode::All,
        "ingesters" => QueryMode::Ingesters,
        "blocks" => QueryMode::Blocks,
        other => {
            return Err(Error::bad_request(format!(
                "invalid value for mode {other}"
            )));
        }
    };
    let block = |key: &str| -> Result<Option<Uuid>> {
        params
            .get(key)
            .filter(|text| !text.is_empty())
            .map(|text| {
                Uuid::parse_str(text)
                    .map_err(|error| Error::bad_request(format!("invalid {key}: {error}")))
            })
            .transpose()
    };
    Ok(TraceByIdRequest {
        trace_id,
        range,
        mode,
        block_start: block("blockStart")?,
        block_end: block("blockEnd")?,
    })
}

/// Parameters a search reads from `query_frontend.search`.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    pub default_limit: u32,
    pub max_limit: u32,
    pub default_spans_per_span_set: u32,
    pub max_spans_per_span_set: u32,
    pub max_duration_secs: u64,
    pub max_query_bytes: usize,
}

impl SearchLimits {
    /// The limits of `config`.
    pub fn from_config(config: &QueryFrontendConfig) -> Self {
        SearchLimits {
            default_limit: config.search.default_result_limit,
            max_limit: config.search.max_result_limit,
            default_spans_per_span_set: config.search.default_spans_per_span_set,
            max_spans_per_span_set: config.search.max_spans_per_span_set,
            max_duration_secs: config.search.max_duration.as_secs(),
            max_query_bytes: config.max_query_expression_size_bytes,
        }
    }
}

const SEARCH_KEYS: [&str; 8] = [
    "q",
    "tags",
    "minDuration",
    "maxDuration",
    "limit",
    "spss",
    "start",
    "end",
];

/// `GET /api/search`.
pub fn parse_search(params: &QueryParams, limits: &SearchLimits) -> Result<SearchRequest> {
    let range = parse_time_range(params)?;
    let query_opt = params.get("q");
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    if let Some(encoded) = params.get("tags") {
        if query_opt.is_some() {
            return Err(Error::bad_request(
                "invalid request: can't specify tags and q in the same query",
            ));
        }
        for (key, value) in logfmt::parse_logfmt(encoded)
            .map_err(|message| Error::bad_request(format!("invalid tags: {message}")))?
        {
            if tags.contains_key(&key) {
                return Err(Error::bad_request(format!(
                    "invalid tags: tag {key} has been set twice"
                )));
            }
            tags.insert(key, value);
        }
    } else if query_opt.is_none() && !range.is_set() {
        // Very old Grafana sends each tag as its own parameter.
        for (key, value) in params.keys() {
            if !SEARCH_KEYS.contains(&key) {
                tags.entry(key.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
    }
    let duration_ms = |key: &str| -> Result<Option<u32>> {
        params
            .get(key)
            .map(|text| {
                parse_go_duration(text)
                    .map(|duration| u32::try_from(duration.as_millis()).unwrap_or(u32::MAX))
                    .map_err(|message| Error::bad_request(format!("invalid {key}: {message}")))
            })
            .transpose()
    };
    let min_duration_ms = duration_ms("minDuration")?;
    let max_duration_ms = duration_ms("maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration_ms, max_duration_ms)
        && min != 0
        && min > max
    {
        return Err(Error::bad_request(
            "invalid maxDuration: must be greater than minDuration",
        ));
    }
    let limit = positive(params, "limit")?.unwrap_or(limits.default_limit);
    let spans_per_span_set = positive(params, "spss")?.unwrap_or(limits.default_spans_per_span_set);
    let query = match query_opt {
        Some(query) => query.to_owned(),
        None => tags::tags_to_traceql(&tags, min_duration_ms, max_duration_ms),
    };
    build_search(
        SearchInput {
            query,
            limit,
            spans_per_span_set,
            range,
        },
        limits,
    )
}

fn positive(params: &QueryParams, key: &str) -> Result<Option<u32>> {
    params
        .get(key)
        .map(|text| match text.parse::<i64>() {
            Ok(value) if value <= 0 => Err(Error::bad_request(format!(
                "invalid {key}: must be a positive number"
            ))),
            Ok(value) => Ok(u32::try_from(value).unwrap_or(u32::MAX)),
            Err(_) => Err(Error::bad_request(format!(
                "invalid {key}: must be a positive number, received {text:?}"
            ))),
        })
        .transpose()
}

/// The fields of a search before the frontend's checks (HTTP and gRPC share them).
#[derive(Debug, Clone)]
pub struct SearchInput {
    pub query: String,
    pub limit: u32,
    pub spans_per_span_set: u32,
    pub range: TimeRange,
}

/// Applies the frontend's limits and parses and validates the TraceQL once.
pub fn build_search(input: SearchInput, limits: &SearchLimits) -> Result<SearchRequest> {
    let SearchInput {
        query,
        limit,
        spans_per_span_set,
        range,
    } = input;
    if limits.max_limit != 0 && limit > limits.max_limit {
        return Err(Error::bad_request(format!(
            "limit {limit} exceeds max limit {}",
            limits.max_limit
        )));
    }
    if spans_per_span_set > limits.max_spans_per_span_set {
        return Err(Error::bad_request(format!(
            "spans per span set exceeds {}. received {spans_per_span_set}",
            limits.max_spans_per_span_set
        )));
    }
    check_range_duration(range, limits.max_duration_secs)?;
    if query.len() > limits.max_query_bytes {
        return Err(Error::bad_request(format!(
            "TraceQL query exceeds the maximum size of {} bytes. received {} bytes",
            limits.max_query_bytes,
            query.len()
        )));
    }
    let text = if query.trim().is_empty() {
        "{}".to_owned()
    } else {
        query
    };
    let root = contrail_traceql::parse_and_validate(&text).map_err(Error::InvalidQuery)?;
    if matches!(root.body, contrail_traceql::ast::Body::Metrics(_)) {
        return Err(Error::bad_request(
            "invalid TraceQL query: metrics queries are answered by /api/metrics/query_range, not by search",
        ));
    }
    Ok(SearchRequest {
        query: text,
        root: Arc::new(root),
        limit,
        spans_per_span_set,
        range,
    })
}

/// `range specified by start and end exceeds 168h0m0s. received start=S end=E`.
pub fn check_range_duration(range: TimeRange, max_duration_secs: u64) -> Result<()> {
    if max_duration_secs != 0
        && range.is_set()
        && u64::from(range.end_secs - range.start_secs) > max_duration_secs
    {
        let max = format_go_duration(
            i64::try_from(max_duration_secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000_000),
        );
        return Err(Error::bad_request(format!(
            "range specified by start and end exceeds {max}. received start={} end={}",
            range.start_secs, range.end_secs
        )));
    }
    Ok(())
}

/// `scope` of the tag endpoints.
pub fn parse_scope(text: &str) -> Result<TagScope> {
    Ok(match text {
        "" => TagScope::All,
        "none" => TagScope::None,
        "resource" => TagScope::Resource,
        "span" => TagScope::Span,
        "intrinsic" => TagScope::Intrinsic,
        "event" => TagScope::Event,
        "link" => TagScope::Link,
        "instrumentation" => TagScope::Instrumentation,
        other => return Err(Error::bad_request(format!("invalid scope: {other}"))),
    })
}

/// `GET /api/search/tags` and `/api/v2/search/tags`.
pub fn parse_tags(params: &QueryParams, max_duration_secs: u64) -> Result<TagsRequest> {
    let scope = parse_scope(params.get("scope").unwrap_or(""))?;
    let range = parse_time_range(params)?;
    check_range_duration(range, max_duration_secs)?;
    Ok(TagsRequest {
        scope,
        filter: params
            .get("q")
            .filter(|q| !q.trim().is_empty())
            .and_then(tolerant_filter),
        range,
        limit: parse_u32(params, "limit")?.unwrap_or(0),
        max_stale_values: parse_u32(params, "maxStaleValues")?.unwrap_or(0),
    })
}

/// `GET /api/search/tag/{tag}/values` (`scoped`: false, a plain attribute name) and
/// `/api/v2/search/tag/{scopedTag}/values` (`scoped`: true, a TraceQL identifier).
pub fn parse_tag_values(
    tag: &str,
    scoped: bool,
    params: &QueryParams,
    max_duration_secs: u64,
) -> Result<TagValuesRequest> {
    let attribute = if scoped {
        parse_tag_name(tag)?
    } else {
        if tag.is_empty() {
            return Err(Error::bad_request("please provide a non-empty tagName"));
        }
        contrail_traceql::ast::Attribute::Custom {
            scope: contrail_traceql::ast::AttributeScope::Unscoped,
            name: tag.to_owned(),
        }
    };
    let range = parse_time_range(params)?;
    check_range_duration(range, max_duration_secs)?;
    Ok(TagValuesRequest {
        tag: attribute,
        tag_name: tag.to_owned(),
        filter: params
            .get("q")
            .filter(|q| !q.trim().is_empty())
            .and_then(tolerant_filter),
        range,
        limit: parse_u32(params, "limit")?.unwrap_or(0),
        max_stale_values: parse_u32(params, "maxStaleValues")?.unwrap_or(0),
    })
}
