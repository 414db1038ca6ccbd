//! Contrail distributed, as the Helm chart's distributed mode runs it, on loopback: one
//! distributor, three ingesters with replication factor 3, one querier, one compactor, blocks in
//! a real S3 protocol server. Real OpenTelemetry SDK exporters and a load-generator stream send
//! traces; one ingester is killed with SIGKILL mid-run and restarted; then every acknowledged
//! span is found exactly once by trace ID, and TraceQL search and tag search answer over HTTP.
//! TraceQL metrics count each acknowledged span once: from the three ingesters' recent data
//! (each holding a copy) and, after the flush, from the three replicas' blocks in S3.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::s3::TestS3;
use support::*;

/// One process's ports and folder.
struct Node {
    api: u16,
    grpc: u16,
    dir: PathBuf,
}

impl Node {
    fn new(root: &Path, name: &str) -> Node {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("node dir");
        Node {
            api: free_port(),
            grpc: free_port(),
            dir,
        }
    }

    fn server_yaml(&self) -> String {
        format!(
            "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {}\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {}\n  graceful_shutdown_timeout: 5s\n",
            self.api, self.grpc
        )
    }

    fn write_config(&self, yaml: &str) -> PathBuf {
        let path = self.dir.join("tempo.yaml");
        std::fs::write(&path, yaml).expect("write config");
        path
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api)
    }
}

fn ring_yaml(ingesters: &[Node]) -> String {
    let addresses: Vec<String> = ingesters
        .iter()
        .map(|node| format!("\"127.0.0.1:{}\"", node.grpc))
        .collect();
    format!(
        "  ring:\n    addresses: [{}]\n    replication_factor: 3\n    health_check_interval: 200ms\n    refresh_interval: 1s\n",
        addresses.join(", ")
    )
}

/// The querier's `query_frontend.metrics.query_backend_after`: spans that started earlier are
/// counted from blocks only, the later ones from the ingesters only.
const BACKEND_AFTER_S: u64 = 8;

fn now_s() -> u64 {
    now_unix_nanos() / 1_000_000_000
}

const COUNT_BY_SERVICE: &str = "{ } | count_over_time() by (resource.service.name)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rf3_cluster_over_s3_loses_nothing_when_an_ingester_is_killed() {
    let s3 = TestS3::start().await;
    let root = tempfile::tempdir().expect("root");
    let storage = s3.storage_yaml();
    let http = reqwest::Client::new();

    let ingesters: Vec<Node> = (0..3)
        .map(|index| Node::new(root.path(), &format!("ingester-{index}")))
        .collect();
    let ingester_config = |node: &Node| {
        node.write_config(&format!(
            "{}storage:\n  trace:\n{storage}    wal:\n      path: {}/wal\n",
            node.server_yaml(),
            node.dir.display()
        ))
    };
    let mut running_ingesters = Vec::new();
    for node in &ingesters {
        running_ingesters.push(
            Running::start(
                env!("CARGO_BIN_EXE_contrail-ingester"),
                &ingester_config(node),
                node.api,
            )
            .await,
        );
    }

    let distributor = Node::new(root.path(), "distributor");
    let (otlp_grpc, otlp_http) = (free_port(), free_port());
    let distributor_config = distributor.write_config(&format!(
        "{}distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{otlp_grpc}\n        http:\n          endpoint: 127.0.0.1:{otlp_http}\n{}",
        distributor.server_yaml(),
        ring_yaml(&ingesters)
    ));
    let _distributor = Running::start(
        env!("CARGO_BIN_EXE_contrail-distributor"),
        &distributor_config,
        distributor.api,
    )
    .await;

    let querier = Node::new(root.path(), "querier");
    let querier_config = querier.write_config(&format!(
        "{}distributor:\n{}querier:\n  blocklist_poll: 1s\nquery_frontend:\n  metrics:\n    query_backend_after: {BACKEND_AFTER_S}s\nstorage:\n  trace:\n{storage}",
        querier.server_yaml(),
        ring_yaml(&ingesters)
    ));
    let _querier = Running::start(
        env!("CARGO_BIN_EXE_contrail-querier"),
        &querier_config,
        querier.api,
    )
    .await;

    let compactor = Node::new(root.path(), "compactor");
    let compactor_config = compactor.write_config(&format!(
        "{}compactor:\n  compaction:\n    compaction_cycle: 2s\nstorage:\n  trace:\n{storage}",
        compactor.server_yaml()
    ));
    let _compactor = Running::start(
        env!("CARGO_BIN_EXE_contrail-compactor"),
        &compactor_config,
        compactor.api,
    )
    .await;

    // A request traced by the OTel SDK (gRPC and HTTP exporters) through the distributor.
    let trace_id = emit_slow_checkout(
        format!("http://127.0.0.1:{otlp_grpc}"),
        format!("http://127.0.0.1:{otlp_http}/v1/traces"),
    );

    // Recent data with all three ingesters healthy: each holds a copy of the checkout trace,
    // and the metrics count each span once (frontend 1, payments 2). The write was acknowledged
    // by two replicas; the third may apply it a moment later, so counts may be short for a
    // moment but must never pass the truth (three copies would count three times).
    let test_start_s = now_s();
    let checkout = as_totals(&BTreeMap::from([
        ("frontend".to_owned(), 1),
        ("payments".to_owned(), 2),
    ]));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let recent = range_totals(
            &http,
            &querier.url(""),
            COUNT_BY_SERVICE,
            (test_start_s - 120, test_start_s + 60, 15),
            1.0,
        )
        .await;
        for (service, count) in &recent {
            assert!(
                *count <= checkout.get(service).copied().unwrap_or(0.0),
                "recent data, RF=3: {recent:?} counts a span more than once"
            );
        }
        if recent == checkout {
            break;
        }
        assert!(Instant::now() < deadline, "recent data, RF=3: {recent:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A stream of load-generator batches; ingester 1 dies with SIGKILL in the middle of it
    // (the write quorum of 2 keeps acknowledging), then comes back.
    let batches = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let exporter = export_until_failure(
        format!("http://127.0.0.1:{otlp_grpc}"),
        7,
        Arc::clone(&batches),
        Arc::clone(&stop),
    );
    wait_count(&batches, 10, "batches before the kill").await;
    let mut victim = running_ingesters.remove(1);
    victim.signal("-KILL");
    let _ = victim.wait_exit().await;
    wait_count(&batches, 20, "batches while an ingester is down").await;
    running_ingesters.insert(
        1,
        Running::start(
            env!("CARGO_BIN_EXE_contrail-ingester"),
            &ingester_config(&ingesters[1]),
            ingesters[1].api,
        )
        .await,
    );
    wait_count(&batches, 30, "batches after the restart").await;
    stop.store(true, Ordering::SeqCst);
    let sent = exporter.await.expect("exporter");
    let sent_at_s = now_s();
    let acked = sent.acked;
    assert!(
        acked.len() >= 150,
        "only {} traces acknowledged",
        acked.len()
    );

    // Every acknowledged span once, from the ingesters' recent data.
    let (spans, missing) = check_acked(&http, &querier.url(""), &acked).await;
    assert_eq!(
        missing, 0,
        "{missing} of {spans} acknowledged spans missing"
    );

    // Blocks to S3, then every span once again (now also read from the blocks, three copies of
    // each trace deduplicated).
    for node in &ingesters {
        let flushed = http.post(node.url("/flush")).send().await.expect("flush");
        assert_eq!(flushed.status(), 204);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while s3.count_objects("meta.json") + s3.count_objects("meta.compacted.json") < 3 {
        assert!(Instant::now() < deadline, "blocks never reached S3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // a blocklist poll
    let (spans, missing) = check_acked(&http, &querier.url(""), &acked).await;
    assert_eq!(
        missing, 0,
        "{missing} of {spans} acknowledged spans missing after the flush"
    );

    // Metrics from the blocks (three replicas' copies, compacted or not): once every span
    // started before the cut, per-service counts reach the ledger as the last blocks land, and
    // never pass it (three copies would count three times), then stay there.
    let cut_passed_s = sent_at_s + BACKEND_AFTER_S + 1;
    while now_s() < cut_passed_s {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut expected = sent.by_service.clone();
    for (service, count) in [("frontend", 1), ("payments", 2)] {
        *expected.entry(service.to_owned()).or_default() += count;
    }
    let expected = as_totals(&expected);
    let window = (test_start_s - 120, now_s() + 60, 15);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = range_totals(&http, &querier.url(""), COUNT_BY_SERVICE, window, 1.0).await;
        for (service, count) in &counts {
            assert!(
                *count <= expected.get(service).copied().unwrap_or(0.0),
                "blocks, RF=3: {service} counted {count}, {} acknowledged",
                expected.get(service).copied().unwrap_or(0.0)
            );
        }
        if counts == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "blocks, RF=3: {counts:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for round in ["a blocklist poll later", "a compaction cycle later"] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts = range_totals(&http, &querier.url(""), COUNT_BY_SERVICE, window, 1.0).await;
        assert_eq!(counts, expected, "blocks, RF=3, {round}");
    }
    let instant = instant_totals(
        &http,
        &querier.url(""),
        COUNT_BY_SERVICE,
        (window.0, window.1),
    )
    .await;
    assert_eq!(instant, expected, "instant, blocks, RF=3");

    // TraceQL search and tags through the querier.
    let url = reqwest::Url::parse_with_params(
        &querier.url("/api/search"),
        [(
            "q",
            r#"{ resource.service.name = "frontend" } >> { name = "SELECT payments" && duration > 500ms }"#,
        )],
    )
    .expect("url");
    let answer = get_json(&http, url.to_string()).await;
    let traces = answer["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "{answer}");
    assert_eq!(traces[0]["traceID"], trace_id.trim_start_matches('0'));
    assert_eq!(traces[0]["spanSet"]["spans"][0]["name"], "SELECT payments");
    let tags = get_json(&http, querier.url("/api/v2/search/tags?scope=resource")).await;
    assert!(tags.to_string().contains("service.name"), "{tags}");
    let values = get_json(
        &http,
        querier.url("/api/v2/search/tag/resource.service.name/values"),
    )
    .await;
    assert!(values.to_string().contains("payments"), "{values}");
    let trace = get_json(&http, querier.url(&format!("/api/traces/{trace_id}"))).await;
    assert_eq!(span_id_list(&trace).len(), 3, "{trace}");

    for running in &running_ingesters {
        running.signal("-TERM");
    }
    for mut running in running_ingesters {
        let status = running.wait_exit().await;
        assert!(status.success(), "ingester exit status {status:?}");
    }
}
