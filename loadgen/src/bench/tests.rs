//! The runner's bookkeeping, and its not-run paths against binaries that cannot serve.

use std::time::Duration;

use super::*;

#[test]
fn medians_and_targets() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(
        Figure::at_least("x", 10.0, vec![9.0, 11.0, 12.0])
            .passes()
            .unwrap()
    );
    assert!(
        !Figure::at_most("x", 10.0, vec![9.0, 11.0, 12.0])
            .passes()
            .unwrap()
    );
    assert_eq!(Figure::informative("x", vec![1.0]).passes(), None);
}

#[test]
fn only_the_marked_section_changes() {
    let original = "# Title\n\nlead's text\n\n<!-- bench-runner:begin -->\nold\n<!-- bench-runner:end -->\n\ntail\n";
    let updated = replace_between_markers(original, "| new |\n");
    assert_eq!(
        updated,
        "# Title\n\nlead's text\n\n<!-- bench-runner:begin -->\n| new |\n<!-- bench-runner:end -->\n\ntail\n"
    );
    assert_eq!(
        replace_between_markers(&updated, "| new |\n"),
        updated,
        "idempotent"
    );
    let appended = replace_between_markers("# Title\n", "| t |\n");
    assert_eq!(
        appended,
        "# Title\n\n<!-- bench-runner:begin -->\n| t |\n<!-- bench-runner:end -->\n"
    );
}

/// A loopback port nothing listens on (bound, noted, closed).
fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn unavailable_components_are_listed_as_not_run() {
    let work_dir = std::env::temp_dir().join(format!("contrail-bench-test-{}", std::process::id()));
    let markdown = work_dir.join("BENCHMARKS.md");
    std::fs::create_dir_all(&work_dir).unwrap();
    std::fs::write(
        &markdown,
        "# Bench\n\n<!-- bench-runner:begin -->\n<!-- bench-runner:end -->\n",
    )
    .unwrap();
    let config = BenchConfig {
        // a "server" that exits at once, like today's contrail, and a CLI that always fails
        contrail_bin: "true".into(),
        cli_bin: "false".into(),
        repo_dir: work_dir.clone(),
        server_config: work_dir.join("tempo.yaml"),
        work_dir: work_dir.clone(),
        markdown_opt: Some(markdown.clone()),
        runs: 2,
        w1_duration: Duration::from_secs(1),
        w1_pool_batches_opt: Some(4),
        w1_honor_retry_delay: true,
        w2_traces: 20,
        server_start_timeout: Duration::from_secs(5),
        otlp_grpc_address: closed_port(),
        api_address: closed_port(),
        w6_probes: 3,
        w6_background_spans_per_s: 1000.0,
        workloads: Vec::new(),
    };
    let results = run_bench(&config).unwrap();
    assert_eq!(results.len(), 6);
    for result in &results {
        let Outcome::NotRun(reason) = &result.outcome else {
            panic!("{} reported as measured", result.workload);
        };
        assert!(!reason.is_empty());
    }
    let Outcome::NotRun(w1_reason) = &results[0].outcome else {
        unreachable!()
    };
    assert!(
        w1_reason.contains("server not available yet"),
        "{w1_reason}"
    );
    let Outcome::NotRun(w2_reason) = &results[1].outcome else {
        unreachable!()
    };
    assert!(w2_reason.contains("block write"), "{w2_reason}");
    let written = std::fs::read_to_string(&markdown).unwrap();
    assert!(written.contains("| W1 ingest | | | | | not run: server not available yet"));
    assert!(!written.contains("meets target"));
    std::fs::remove_dir_all(&work_dir).unwrap();
}

#[test]
fn workloads_not_selected_are_reported_so_and_not_run() {
    let work_dir =
        std::env::temp_dir().join(format!("contrail-bench-select-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).unwrap();
    let config = BenchConfig {
        contrail_bin: "true".into(),
        cli_bin: "false".into(),
        repo_dir: work_dir.clone(),
        server_config: work_dir.join("tempo.yaml"),
        work_dir: work_dir.clone(),
        markdown_opt: None,
        runs: 1,
        w1_duration: Duration::from_secs(1),
        w1_pool_batches_opt: Some(4),
        w1_honor_retry_delay: true,
        w2_traces: 20,
        server_start_timeout: Duration::from_secs(5),
        otlp_grpc_address: closed_port(),
        api_address: closed_port(),
        w6_probes: 3,
        w6_background_spans_per_s: 1000.0,
        workloads: vec!["w2".to_owned()],
    };
    let results = run_bench(&config).unwrap();
    let reasons: Vec<(&str, String)> = results
        .iter()
        .map(|result| match &result.outcome {
            Outcome::NotRun(reason) => (result.workload, reason.clone()),
            Outcome::Measured(_) => (result.workload, "measured".to_owned()),
        })
        .collect();
    assert_eq!(reasons[0], ("W1 ingest", NOT_SELECTED.to_owned()));
    // W2 ran (and failed on the CLI that always fails)
    assert!(reasons[1].1.contains("block write"), "{:?}", reasons[1]);
    assert_eq!(reasons[5], ("W6 freshness", NOT_SELECTED.to_owned()));
    std::fs::remove_dir_all(&work_dir).unwrap();
}
