//! `contrail-cli block ...` end to end on a generated corpus: write, list, inspect, trace.

mod common;

use std::path::Path;

use common::{cli, stdout, value_of, write_blocks};
use contrail_loadgen::corpus::CorpusConfig;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Every span of `trace_id` in the input files.
fn input_spans(input: &Path, trace_id: &[u8]) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(input).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "pb") {
            continue;
        }
        let request =
            ExportTraceServiceRequest::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        count += request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|span| span.trace_id == trace_id)
            .count();
    }
    count
}

#[test]
fn write_list_inspect_and_trace_on_a_generated_corpus() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("corpus");
    let data = temp.path().join("data");
    let summary = contrail_loadgen::files::write_corpus(
        &input,
        CorpusConfig {
            seed: 42,
            ..CorpusConfig::default()
        },
        400,
        1000,
    )
    .unwrap();

    let output = write_blocks(&input, &data, 3000);
    let text = stdout(&output);
    let blocks: usize = value_of(&text, "blocks").parse().unwrap();
    assert!(blocks >= 2, "{text}");
    assert_eq!(value_of(&text, "traces"), summary.traces.to_string());
    assert_eq!(value_of(&text, "spans"), summary.spans.to_string());
    assert_eq!(value_of(&text, "OTLP bytes"), summary.bytes.to_string());
    let ratio: f64 = value_of(&text, "ratio").parse().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{text}");

    let output = cli(&["block", "list", data.to_str().unwrap()]);
    assert!(output.status.success());
    let listing = stdout(&output);
    let block_lines: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(block_lines.len(), blocks, "{listing}");
    let block_id = block_lines[0].split('\t').nth(1).unwrap();

    let block_dir = data.join("single-tenant").join(block_id);
    let output = cli(&["block", "inspect", block_dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected = stdout(&output);
    assert!(inspected.contains("\"format\": \"vc1\""), "{inspected}");
    assert!(inspected.contains("bytes per span: "), "{inspected}");
    assert!(
        inspected.lines().any(|line| line.starts_with("trace_id\t")),
        "{inspected}"
    );
    assert!(inspected.contains("bloom-0"), "{inspected}");

    // A trace from the input, looked up through bloom and row-group statistics.
    let first_file = std::fs::read(input.join("batch-000000.pb")).unwrap();
    let request = ExportTraceServiceRequest::decode(first_file.as_slice()).unwrap();
    let trace_id = request.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .clone();
    let trace_hex = hex_string(&trace_id);
    let output = cli(&["block", "trace", data.to_str().unwrap(), &trace_hex]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let spans: Vec<&serde_json::Value> = json["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .flat_map(|ss| ss["spans"].as_array().unwrap())
        .collect();
    assert_eq!(spans.len(), input_spans(&input, &trace_id));
    for span in &spans {
        assert_eq!(span["traceId"].as_str().unwrap(), trace_hex);
    }

    let output = cli(&[
        "block",
        "trace",
        data.to_str().unwrap(),
        "0000000000000000000000000000abcd",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("trace not found"));

    let output = cli(&["block", "trace", data.to_str().unwrap(), "not-a-trace-id"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("invalid trace ID"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn list_names_a_corrupt_block_keeps_the_others_and_fails() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("corpus");
    let data = temp.path().join("data");
    contrail_loadgen::files::write_corpus(&input, CorpusConfig::default(), 200, 1000).unwrap();
    write_blocks(&input, &data, 1500);
    let output = cli(&["block", "list", data.to_str().unwrap()]);
    assert!(output.status.success());
    let healthy_blocks = stdout(&output).lines().skip(1).count();
    assert!(healthy_blocks >= 2, "{}", stdout(&output));
    let block_id = stdout(&output)
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .to_owned();
    let meta = data.join("single-tenant").join(&block_id).join("meta.json");
    std::fs::write(&meta, b"{\"format\": \"vc1\", \"blockID\":").unwrap();

    let output = cli(&["block", "list", data.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a corrupt block must fail the command"
    );
    let listing = stdout(&output);
    let lines: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(lines.len(), healthy_blocks, "{listing}");
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.contains("\tlive\t"))
            .count(),
        healthy_blocks - 1
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&block_id) && line.contains("\tcorrupt\t"))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&block_id) && stderr.contains("meta.json"),
        "{stderr}"
    );
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `contrail-cli block list DIR | head -1`: a reader that has gone ends the tool quietly with
/// status 0, not with a panic and a backtrace.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("corpus");
    let data = temp.path().join("data");
    contrail_loadgen::files::write_corpus(&input, CorpusConfig::default(), 50, 1000).unwrap();
    write_blocks(&input, &data, 1_000_000);
    let block = std::fs::read_dir(data.join("single-tenant"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for args in [
        vec!["block", "list", data.to_str().unwrap()],
        vec!["block", "inspect", block.to_str().unwrap()],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_contrail-cli"))
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{args:?}: {:?} {stderr}",
            output.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
