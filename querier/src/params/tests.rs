use super::*;

fn params(raw: &str) -> QueryParams {
    QueryParams::parse(Some(raw))
}

fn limits() -> SearchLimits {
    SearchLimits::from_config(&QueryFrontendConfig::default())
}

fn search_error(raw: &str) -> String {
    parse_search(&params(raw), &limits())
        .unwrap_err()
        .to_string()
}

#[test]
fn search_defaults_and_values() {
    let request = parse_search(&params("q=%7B%7D"), &limits()).unwrap();
    assert_eq!(request.query, "{}");
    assert_eq!(request.limit, 20);
    assert_eq!(request.spans_per_span_set, 3);
    assert!(!request.range.is_set());
    let request = parse_search(
        &params("q=%7B+status+%3D+error+%7D&limit=5&spss=7&start=100&end=200"),
        &limits(),
    )
    .unwrap();
    assert_eq!(request.query, "{ status = error }");
    assert_eq!((request.limit, request.spans_per_span_set), (5, 7));
    assert_eq!(
        request.range,
        TimeRange {
            start_secs: 100,
            end_secs: 200
        }
    );
}

#[test]
fn search_errors_use_tempo_messages() {
    assert!(
        search_error("q=%7B+.foo+%3D+%7D")
            .starts_with("invalid TraceQL query: parse error at line 1, col")
    );
    assert_eq!(
        search_error("q=%7B%7D&limit=0"),
        "invalid limit: must be a positive number"
    );
    assert_eq!(
        search_error("q=%7B%7D&tags=a%3Db"),
        "invalid request: can't specify tags and q in the same query"
    );
    assert_eq!(
        search_error("start=200&end=100"),
        "http parameter start must be before end. received start=200 end=100"
    );
    assert_eq!(
        search_error("limit=300000"),
        "limit 300000 exceeds max limit 262144"
    );
    assert_eq!(
        search_error("spss=101"),
        "spans per span set exceeds 100. received 101"
    );
    assert_eq!(
        search_error("start=1&end=1000000"),
        "range specified by start and end exceeds 168h0m0s. received start=1 end=1000000"
    );
    assert_eq!(
        search_error("tags=a%3D1+a%3D2"),
        "invalid tags: tag a has been set twice"
    );
    assert!(search_error("tags=a%3D%22b").starts_with("invalid tags: "));
    assert!(search_error("minDuration=fast").starts_with("invalid minDuration: "));
    assert_eq!(
        search_error("minDuration=2s&maxDuration=1s"),
        "invalid maxDuration: must be greater than minDuration"
    );
    assert!(search_error("start=abc&end=5").starts_with("invalid start"));
    let long = format!("q={}", "%7B%7D".repeat(70_000));
    assert!(search_error(&long).contains("maximum size of 131072 bytes"));
}

#[test]
fn legacy_tags_become_a_traceql_filter() {
    let request = parse_search(
        &params(
            "tags=service.name%3Dcart+http.url%3D%22%2Fa+b%22&minDuration=100ms&maxDuration=2s",
        ),
        &limits(),
    )
    .unwrap();
    assert_eq!(
        request.query,
        "{ .http.url =~ \"(?i).*/a b.*\" && .service.name =~ \"(?i).*cart.*\" && traceDuration >= 100ms && traceDuration <= 2000ms }"
    );
    // Very old Grafana: every other parameter is a tag.
    let request = parse_search(&params("service.name=cart&limit=3"), &limits()).unwrap();
    assert_eq!(request.query, "{ .service.name =~ \"(?i).*cart.*\" }");
    assert_eq!(request.limit, 3);
}

#[test]
fn trace_ids_and_modes() {
    let request = parse_trace_by_id("5B8EFFF798038103D269B633813FC700", &params("")).unwrap();
    assert_eq!(
        request.trace_id.to_hex(),
        "5b8efff798038103d269b633813fc700"
    );
    let short = parse_trace_by_id("abc", &params("")).unwrap();
    assert_eq!(short.trace_id.to_hex(), "00000000000000000000000000000abc");
    let bad = parse_trace_by_id("xyz", &params(""))
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("trace IDs can only contain hex characters"),
        "{bad}"
    );
    let long = parse_trace_by_id(&"a".repeat(34), &params(""))
        .unwrap_err()
        .to_string();
    assert!(
        long.contains("trace IDs can't be larger than 128 bits"),
        "{long}"
    );
    let range = parse_trace_by_id("ab", &params("start=200&end=100"))
        .unwrap_err()
        .to_string();
    assert!(range.contains("start must be before end"), "{range}");
    assert_eq!(
        parse_trace_by_id("ab", &params("mode=bogus"))
            .unwrap_err()
            .to_string(),
        "invalid value for mode bogus"
    );
    assert_eq!(
        parse_trace_by_id("ab", &params("mode=blocks"))
            .unwrap()
            .mode,
        QueryMode::Blocks
    );
    assert!(parse_trace_by_id("ab", &params("blockStart=nope")).is_err());
}

#[test]
fn tag_requests() {
    assert_eq!(
        parse_tags(&params("scope=bogus"), 0)
            .unwrap_err()
            .to_string(),
        "invalid scope: bogus"
    );
    let tags = parse_tags(
        &params("scope=span&limit=5&maxStaleValues=2&start=1&end=2"),
        0,
    )
    .unwrap();
    assert_eq!(tags.scope, TagScope::Span);
    assert_eq!((tags.limit, tags.max_stale_values), (5, 2));
    let values = parse_tag_values("resource.service.name", true, &params(""), 0).unwrap();
    assert_eq!(values.tag_name, "resource.service.name");
    for good in [
        "span.http.status_code",
        ".http.method",
        "name",
        "status",
        "event.exception.type",
        "instrumentation:name",
        "span:kind",
    ] {
        parse_tag_values(good, true, &params(""), 0).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    let empty = parse_tag_values("", true, &params(""), 0)
        .unwrap_err()
        .to_string();
    assert_eq!(empty, "please provide a non-empty tagName");
    let invalid = parse_tag_values("{{", true, &params(""), 0)
        .unwrap_err()
        .to_string();
    assert!(
        invalid.starts_with("please provide a valid tagName: "),
        "{invalid}"
    );
    let injected = parse_tag_values("a != nil } | { .b", true, &params(""), 0);
    assert!(injected.is_err());
}

#[test]
fn autocomplete_filters_are_tolerant() {
    assert_eq!(
        tolerant_filter("{ name = \"x\" }").as_deref(),
        Some("{ name = \"x\" }")
    );
    assert_eq!(
        tolerant_filter("{ resource.cluster = && name = \"x\" }").as_deref(),
        Some("{ name = \"x\" }")
    );
    assert_eq!(tolerant_filter("{ resource.cluster = }"), None);
    let values = parse_tag_values(
        "span.db.system",
        true,
        &params("q=%7B+resource.cluster+%3D+%7D"),
        0,
    )
    .unwrap();
    assert_eq!(values.filter, None);
}
