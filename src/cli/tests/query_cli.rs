//! `contrail-cli query blocks DIR QUERY` end to end: a generated corpus written as several
//! blocks, searched through the binary, must give exactly the answer of the engine over the same
//! traces held in memory (the in-memory source), for filters, structural operators and
//! aggregates, with the limit, spss and time range applied; bad input exits non-zero with a
//! clear message. `query blocks --metrics` likewise answers as the metrics engine over the same
//! traces in memory.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use contrail_loadgen::corpus::CorpusConfig;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::tempopb::SearchResponse;
use contrail_querier::params::MetricsLimits;
use contrail_querier::service::MetricsQueryRequest;
use contrail_storage::convert::split_by_trace;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::metrics::{
    MetricsPlan, MetricsQuery, MetricsRequest, SpanStarts, run_metrics,
};
use contrail_traceql::{
    InlineRunner, MemorySource, MemoryTrace, SearchOptions, parse, plan_search, search,
};
use prost::Message;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contrail-cli"))
        .args(args)
        .output()
        .expect("run contrail-cli")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Corpus {
    _temp: tempfile::TempDir,
    data: std::path::PathBuf,
    traces: Vec<MemoryTrace>,
}

fn corpus() -> Corpus {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("corpus");
    let data = temp.path().join("data");
    contrail_loadgen::files::write_corpus(
        &input,
        CorpusConfig {
            seed: 9,
            ..CorpusConfig::default()
        },
        250,
        800,
    )
    .unwrap();
    let output = cli(&[
        "block",
        "write",
        "--from",
        input.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--max-block-spans",
        "1500",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    Corpus {
        traces: memory_traces(&input),
        data,
        _temp: temp,
    }
}

fn memory_traces(input: &Path) -> Vec<MemoryTrace> {
    let mut resource_spans = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(input)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pb"))
        .collect();
    files.sort();
    for path in files {
        let request =
            ExportTraceServiceRequest::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        resource_spans.extend(request.resource_spans);
    }
    split_by_trace(resource_spans)
        .unwrap()
        .into_iter()
        .map(|(trace_id, resource_spans)| MemoryTrace {
            trace_id,
            resource_spans,
        })
        .collect()
}

fn in_memory(traces: &[MemoryTrace], query: &str, options: SearchOptions) -> SearchResponse {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let source: Arc<dyn SpanSource> =
        Arc::new(MemorySource::new(traces.to_vec(), Arc::new(InlineRunner)));
    let plan = Arc::new(plan_search(&parse(query).unwrap(), options).unwrap());
    let outcome = runtime
        .block_on(search(
            &plan,
            &[source],
            &InlineRunner,
            &MemoryBudget::unlimited(),
        ))
        .unwrap();
    outcome.response
}

/// The response without the search metrics (they count what each source read) and with span
/// attributes in a fixed order.
fn comparable(mut response: SearchResponse) -> SearchResponse {
    response.metrics = None;
    for trace in &mut response.traces {
        for set in trace.span_sets.iter_mut().chain(trace.span_set.iter_mut()) {
            for span in &mut set.spans {
                span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
    }
    response
}

fn query_blocks(data: &Path, query: &str, extra: &[&str]) -> SearchResponse {
    let mut args = vec!["query", "blocks", data.to_str().unwrap(), query];
    args.extend_from_slice(extra);
    let output = cli(&args);
    assert!(output.status.success(), "{query}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("search response JSON")
}

#[test]
fn blocks_answer_exactly_as_the_engine_over_the_same_traces_in_memory() {
    let corpus = corpus();
    let queries = [
        "{ span.http.status_code = 418 }",
        "{ span.http.response.status_code >= 500 }",
        "{ resource.service.name = \"payment-service\" }",
        "{ duration > 500ms && kind = server }",
        "{ status = error }",
        "{ span.http.route =~ \"/api/v1/users/.*\" }",
        "{ resource.service.name = \"api-gateway\" } >> { span.db.system = \"postgresql\" && duration > 1ms }",
        "{ resource.service.name = \"cart-service\" } | count() > 1",
        "{ kind = client } | by(resource.service.name) | select(span.http.request.method)",
        "{ } !< { }",
    ];
    let mut nonempty = 0;
    for query in queries {
        for (limit, spss) in [(20usize, 3usize), (3, 1)] {
            let options = SearchOptions {
                limit,
                spans_per_spanset: spss,
                ..SearchOptions::default()
            };
            let want = comparable(in_memory(&corpus.traces, query, options));
            let limit_text = limit.to_string();
            let spss_text = spss.to_string();
            let got = query_blocks(
                &corpus.data,
                query,
                &["--limit", &limit_text, "--spss", &spss_text],
            );
            assert!(got.traces.len() <= limit);
            assert_eq!(comparable(got), want, "{query} limit {limit} spss {spss}");
            nonempty += usize::from(!want.traces.is_empty());
        }
    }
    assert!(nonempty >= 14, "{nonempty} answers with traces");
}

#[test]
fn the_time_range_limits_the_traces() {
    let corpus = corpus();
    let all = query_blocks(&corpus.data, "{ }", &["--limit", "1000"]);
    assert_eq!(all.traces.len(), corpus.traces.len());
    let newest: u64 = all.traces[0].start_time_unix_nano;
    let oldest: u64 = all.traces.last().unwrap().start_time_unix_nano;
    assert!(
        newest > oldest + 2_000_000_000,
        "corpus spans more than 2 s"
    );
    // seconds; a window in the middle selects a part
    let start = (oldest / 1_000_000_000 + 1).to_string();
    let end = (newest / 1_000_000_000).to_string();
    let part = query_blocks(
        &corpus.data,
        "{ }",
        &["--limit", "1000", "--start", &start, "--end", &end],
    );
    assert!(!part.traces.is_empty() && part.traces.len() < all.traces.len());
    let options = SearchOptions {
        start_unix_nano: start.parse::<u64>().unwrap() * 1_000_000_000,
        end_unix_nano: end.parse::<u64>().unwrap() * 1_000_000_000,
        limit: 1000,
        ..SearchOptions::default()
    };
    assert_eq!(
        comparable(part),
        comparable(in_memory(&corpus.traces, "{ }", options))
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap();
    let output = cli(&["query", "blocks", dir, "{ status = "]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("invalid query"),
        "{}",
        stderr(&output)
    );
    let output = cli(&["query", "blocks", "/no/such/folder", "{ }"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
    let output = cli(&["query", "blocks", dir, "{ }", "--start", "10", "--end", "5"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--start"), "{}", stderr(&output));
    let output = cli(&["query", "blocks", dir, "{ }", "--limit", "many"]);
    assert!(!output.status.success());
    // an empty folder is an empty answer
    let output = cli(&["query", "blocks", dir, "{ }"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let response: SearchResponse = serde_json::from_slice(&output.stdout).unwrap();
    assert!(response.traces.is_empty());
}

/// The same metrics query over the same traces held in memory, with the window the CLI (and
/// the API) resolves for `start`..`end` and `step`.
fn metrics_in_memory(
    traces: &[MemoryTrace],
    query: &str,
    range: (u64, u64),
    step_nano: Option<u64>,
    instant: bool,
) -> contrail_traceql::metrics::MetricsResult {
    let root = contrail_traceql::parse_and_validate(query).unwrap();
    let plan = MetricsPlan::new(&root).unwrap();
    let defaults = contrail_querier::QueryFrontendConfig::default().metrics;
    let limits = MetricsLimits {
        max_duration: std::time::Duration::ZERO,
        max_exemplars: defaults.max_exemplars,
        max_series: defaults.max_response_series,
    };
    let request = MetricsQueryRequest {
        query: query.to_owned(),
        root: Arc::new(root),
        start_unix_nano: Some(range.0),
        end_unix_nano: Some(range.1),
        since: None,
        step_nano,
        instant,
        exemplars: None,
        max_series: None,
    };
    let metrics_request = MetricsRequest {
        window: request.window(range.1, &limits).unwrap(),
        max_series: request.series_cap(&limits),
        max_exemplars: request.exemplar_limit(&plan.hints, &limits),
        span_starts: SpanStarts::ALL,
    };
    let compiled = Arc::new(MetricsQuery::new(plan.clone(), metrics_request).unwrap());
    let source: Arc<dyn SpanSource> =
        Arc::new(MemorySource::new(traces.to_vec(), Arc::new(InlineRunner)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = runtime
        .block_on(run_metrics(
            &compiled,
            &[source],
            &InlineRunner,
            &MemoryBudget::unlimited(),
        ))
        .unwrap();
    plan.evaluate(&metrics_request, &outcome.partial).unwrap()
}

fn metrics_blocks(data: &Path, query: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "query",
        "blocks",
        "--metrics",
        data.to_str().unwrap(),
        query,
    ];
    args.extend_from_slice(extra);
    let output = cli(&args);
    assert!(output.status.success(), "{query}: {}", stderr(&output));
    let mut json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metrics response JSON");
    // what each source read differs between the two
    json.as_object_mut().unwrap().remove("metrics");
    json
}

fn without_read_metrics<T: serde::Serialize>(response: &T) -> serde_json::Value {
    let mut json = serde_json::to_value(response).unwrap();
    json.as_object_mut().unwrap().remove("metrics");
    json
}

#[test]
fn metrics_over_blocks_answer_as_the_engine_over_the_same_traces_in_memory() {
    let corpus = corpus();
    let all = query_blocks(&corpus.data, "{ }", &["--limit", "1000"]);
    let newest = all.traces[0].start_time_unix_nano;
    let oldest = all.traces.last().unwrap().start_time_unix_nano;
    // whole seconds around the corpus, as the command line takes them
    let start = oldest / 1_000_000_000;
    let end = newest / 1_000_000_000 + 60;
    let (start_text, end_text) = (start.to_string(), end.to_string());
    let range = (start * 1_000_000_000, end * 1_000_000_000);
    let queries = [
        "{ } | rate() by (resource.service.name)",
        "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
        "{ status = error } | count_over_time() by (name)",
        "{ } | histogram_over_time(duration)",
        "{ resource.service.name = \"api-gateway\" } | max_over_time(duration)",
        // read from the trace's root: the blocks must decode it for these
        "{ kind = server } | count_over_time() by (trace:rootService)",
        "{ trace:rootName != \"\" } | rate() by (resource.service.name)",
    ];
    let mut nonempty = 0;
    for query in queries {
        let want = metrics_in_memory(&corpus.traces, query, range, Some(5_000_000_000), false);
        nonempty += usize::from(!want.series.series.is_empty());
        let got = metrics_blocks(
            &corpus.data,
            query,
            &["--start", &start_text, "--end", &end_text, "--step", "5s"],
        );
        assert_eq!(
            got,
            without_read_metrics(&want.to_range_response()),
            "{query}"
        );
        let want = metrics_in_memory(&corpus.traces, query, range, None, true);
        let got = metrics_blocks(
            &corpus.data,
            query,
            &["--start", &start_text, "--end", &end_text, "--instant"],
        );
        assert_eq!(
            got,
            without_read_metrics(&want.to_instant_response()),
            "{query} instant"
        );
    }
    assert_eq!(nonempty, queries.len(), "every query counts something");
    // without a range: the blocks' own, so every span is counted once
    let counted = metrics_blocks(&corpus.data, "{ } | count_over_time()", &["--instant"]);
    let spans: usize = corpus
        .traces
        .iter()
        .flat_map(|trace| &trace.resource_spans)
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len())
        .sum();
    let value = counted["series"][0]["value"].as_f64().unwrap();
    assert_eq!(value, spans as f64, "{counted}");
}

#[test]
fn bad_metrics_input_exits_non_zero_with_a_clear_error() {
    let corpus = corpus();
    let data = corpus.data.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["--metrics", data, "{ status = error }"],
            "not a metrics query",
        ),
        (vec!["--metrics", data, "{ } | rate("], "invalid query"),
        (
            vec!["--metrics", data, "{ } | rate()", "--step", "0s"],
            "--step",
        ),
        (
            vec!["--metrics", data, "{ } | rate()", "--step", "soon"],
            "--step",
        ),
        (vec![data, "{ }", "--step", "5s"], "--metrics"),
        (
            vec![
                "--metrics",
                data,
                "{ } | rate()",
                "--start",
                "100",
                "--end",
                "200",
                "--step",
                "1ms",
            ],
            "step",
        ),
        (
            vec!["--metrics", "/no/such/folder", "{ } | rate()"],
            "does not exist",
        ),
    ] {
        let mut command = vec!["query", "blocks"];
        command.extend_from_slice(&args);
        let output = cli(&command);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn metrics_over_a_folder_without_blocks_of_the_tenant_is_empty_and_says_so() {
    let corpus = corpus();
    let data = corpus.data.to_str().unwrap();
    let output = cli(&[
        "query",
        "blocks",
        "--metrics",
        "--tenant",
        "nobody",
        data,
        "{ } | rate()",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no blocks of tenant nobody"),
        "{}",
        stderr(&output)
    );
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // No series: the field is left out, as in the API's answer.
    assert!(
        response["series"].as_array().is_none_or(Vec::is_empty),
        "{response}"
    );
}
