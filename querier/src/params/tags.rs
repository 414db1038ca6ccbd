//! TraceQL built from or checked for the tag endpoints: the `{scopedTag}` path variable, the
//! tolerant `q` filter of autocomplete requests, and the legacy `tags` search turned into a
//! TraceQL filter.

use std::collections::BTreeMap;

use contrail_traceql::ast::Attribute;

use crate::error::{Error, Result};

/// Checks the `{scopedTag}` of `/api/v2/search/tag/{scopedTag}/values` is one TraceQL attribute
/// (`resource.service.name`, `.http.method`, `status`, `event.exception.type`, ...); the rule
/// is the engine's (`contrail_traceql::tags::parse_tag_name`, which the ingesters use too).
pub fn parse_tag_name(tag: &str) -> Result<Attribute> {
    contrail_traceql::tags::parse_tag_name(tag).map_err(|error| Error::bad_request(error.message()))
}

/// The usable part of an autocomplete filter. A `q` that parses is kept whole; one that does not
/// (Grafana sends what the user is typing, e.g. `{ resource.cluster = }`) keeps only its
/// `&&`-separated conditions that parse on their own; `None` when nothing is left (no filter).
pub fn tolerant_filter(query: &str) -> Option<String> {
    if contrail_traceql::parse_and_validate(query).is_ok() {
        return Some(query.to_owned());
    }
    let inner = query.trim();
    let inner = inner.strip_prefix('{').unwrap_or(inner);
    let inner = inner.rsplit_once('}').map_or(inner, |(before, _)| before);
    let kept: Vec<&str> = inner
        .split("&&")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .filter(|part| contrail_traceql::parse_and_validate(&format!("{{ {part} }}")).is_ok())
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(format!("{{ {} }}", kept.join(" && ")))
    }
}

/// The legacy tag search as TraceQL: each `key=value` matches the attribute in any scope as a
/// case-insensitive substring (a bare `key` asks for the attribute to exist), and the duration
/// bounds apply to the trace's duration.
pub(crate) fn tags_to_traceql(
    tags: &BTreeMap<String, String>,
    min_duration_ms_opt: Option<u32>,
    max_duration_ms_opt: Option<u32>,
) -> String {
    let mut conditions: Vec<String> = Vec::new();
    for (key, value) in tags {
        let attribute = if key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        {
            format!(".{key}")
        } else {
            format!(".\"{}\"", go_string_escape(key))
        };
        if value.is_empty() {
            conditions.push(format!("{attribute} != nil"));
        } else {
            let pattern = format!("(?i).*{}.*", regex_escape(value));
            conditions.push(format!("{attribute} =~ \"{}\"", go_string_escape(&pattern)));
        }
    }
    if let Some(min) = min_duration_ms_opt.filter(|min| *min > 0) {
        conditions.push(format!("traceDuration >= {min}ms"));
    }
    if let Some(max) = max_duration_ms_opt.filter(|max| *max > 0) {
        conditions.push(format!("traceDuration <= {max}ms"));
    }
    if conditions.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", conditions.join(" && "))
    }
}

fn go_string_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(character) {
            out.push('\\');
        }
        out.push(character);
    }
    out
}
