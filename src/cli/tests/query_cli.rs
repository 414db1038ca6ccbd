//! `contrail-cli query blocks DIR QUERY` end to end: a generated corpus written as several
//! blocks, searched through the binary, must give exactly the answer of the engine over the same
//! traces held in memory (the in-memory source), for filters, structural operators and
//! aggregates, with the limit, spss and time range applied; bad input exits non-zero with a
//! clear message.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use contrail_loadgen::corpus::CorpusConfig;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::tempopb::SearchResponse;
use contrail_storage::convert::split_by_trace;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
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
