use std::time::Duration;

use super::*;

fn querier(yaml: &str) -> std::result::Result<QuerierConfig, serde_yaml::Error> {
    serde_yaml::from_str(yaml)
}

fn frontend(yaml: &str) -> std::result::Result<QueryFrontendConfig, serde_yaml::Error> {
    serde_yaml::from_str(yaml)
}

#[test]
fn defaults_validate_without_warnings() {
    assert!(QuerierConfig::default().validate().unwrap().is_empty());
    assert!(
        QueryFrontendConfig::default()
            .validate()
            .unwrap()
            .is_empty()
    );
    let empty: QuerierConfig = querier("{}").unwrap();
    assert_eq!(empty, QuerierConfig::default());
    let empty: QueryFrontendConfig = frontend("{}").unwrap();
    assert_eq!(empty.search.default_result_limit, 20);
    assert_eq!(empty.search.max_result_limit, 262_144);
    assert_eq!(empty.search.max_duration, Duration::from_secs(168 * 3600));
}

#[test]
fn tempo_keys_are_honoured() {
    let config = frontend(
        "search:\n  default_result_limit: 50\n  max_result_limit: 1000\n  max_duration: 24h\n  \
         query_backend_after: 5m\n  query_ingesters_until: 10m\n  target_bytes_per_job: 10MiB\n  \
         concurrent_jobs: 8\n  max_spans_per_span_set: 10\n  default_spans_per_span_set: 2\n\
         api_timeout: 30s\nmulti_tenant_queries_enabled: false\nmax_query_expression_size_bytes: 100\n",
    )
    .unwrap();
    assert!(config.validate().unwrap().is_empty());
    assert_eq!(config.search.default_result_limit, 50);
    assert_eq!(config.search.max_duration, Duration::from_secs(24 * 3600));
    assert_eq!(
        config.search.target_bytes_per_job.as_u64(),
        10 * 1024 * 1024
    );
    assert_eq!(config.api_timeout, Duration::from_secs(30));
    assert!(!config.multi_tenant_queries_enabled);
    let config = querier(
        "search:\n  query_timeout: 5s\ntrace_by_id:\n  query_timeout: 2s\nmax_concurrent_queries: 4\n",
    )
    .unwrap();
    assert!(config.validate().unwrap().is_empty());
    assert_eq!(config.search.query_timeout, Duration::from_secs(5));
    assert_eq!(config.max_concurrent_queries, 4);
}

#[test]
fn ignored_tempo_keys_are_named_in_warnings() {
    let config = querier(
        "frontend_worker:\n  frontend_address: query-frontend:9095\nsearch:\n  prefer_self: 10\n",
    )
    .unwrap();
    let keys: Vec<String> = config
        .validate()
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    assert_eq!(
        keys,
        ["querier.frontend_worker", "querier.search.prefer_self"]
    );
    let config = frontend(
        "search:\n  duration_slo: 5s\n  metadata_slo:\n    duration_slo: 5s\ntrace_by_id:\n  duration_slo: 100ms\nmcp_server:\n  enabled: true\n",
    )
    .unwrap();
    let keys: Vec<String> = config
        .validate()
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    assert_eq!(
        keys,
        [
            "query_frontend.mcp_server",
            "query_frontend.search.duration_slo",
            "query_frontend.search.metadata_slo",
            "query_frontend.trace_by_id.duration_slo",
        ]
    );
}

#[test]
fn metrics_keys_are_honoured_or_named() {
    let config = frontend(
        "metrics:\n  max_duration: 200h\n  query_backend_after: 5m\n  concurrent_jobs: 8\n  \
         target_bytes_per_job: 10MiB\n  max_exemplars: 20\n  max_response_series: 50\n  \
         duration_slo: 5s\n  interval: 30m\n",
    )
    .unwrap();
    let keys: Vec<String> = config
        .validate()
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    assert_eq!(
        keys,
        [
            "query_frontend.metrics.interval",
            "query_frontend.metrics.duration_slo"
        ]
    );
    assert_eq!(config.metrics.max_duration, Duration::from_secs(200 * 3600));
    assert_eq!(config.metrics.query_backend_after, Duration::from_secs(300));
    assert_eq!(config.metrics.max_exemplars, 20);
    assert_eq!(config.metrics.max_response_series, 50);
    assert_eq!(
        QueryFrontendConfig::default().metrics.max_duration,
        Duration::from_secs(86_400)
    );
}

#[test]
fn unknown_keys_and_bad_values_fail_naming_the_key() {
    let error = querier("serch: {}").unwrap_err().to_string();
    assert!(error.contains("serch"), "{error}");
    let error = frontend("search:\n  limitt: 3\n").unwrap_err().to_string();
    assert!(error.contains("limitt"), "{error}");
    let error = frontend("api_timeout: soon\n").unwrap_err().to_string();
    assert!(
        error.contains("api_timeout") || error.contains("soon"),
        "{error}"
    );

    let gap =
        frontend("search:\n  query_backend_after: 1h\n  query_ingesters_until: 30m\n").unwrap();
    let error = gap.validate().unwrap_err().to_string();
    assert!(
        error.contains("query_frontend.search.query_backend_after"),
        "{error}"
    );
    let error = frontend("metrics:\n  max_durationn: 1h\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_durationn"), "{error}");
    let error = frontend("metrics:\n  concurrent_jobs: 0\n")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("query_frontend.metrics.concurrent_jobs"),
        "{error}"
    );
    let packet = frontend("max_grpc_streaming_packet_size: 8MiB\n").unwrap();
    let error = packet.validate().unwrap_err().to_string();
    assert!(error.contains("max_grpc_streaming_packet_size"), "{error}");
    let limits = frontend("search:\n  default_result_limit: 30\n  max_result_limit: 10\n").unwrap();
    assert!(limits.validate().is_err());
    let zero = querier("max_concurrent_queries: 0\n").unwrap();
    let error = zero.validate().unwrap_err().to_string();
    assert!(error.contains("querier.max_concurrent_queries"), "{error}");
}

/// Every `querier:` and `query_frontend:` section of the Tempo configs users bring parses and
/// validates (warnings allowed).
#[test]
fn tempo_user_configs_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/tempo-configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("shared tempo-configs") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let document: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        if let Some(section) = document.get("querier") {
            let config: QuerierConfig = serde_yaml::from_value(section.clone())
                .unwrap_or_else(|error| panic!("{}: querier: {error}", path.display()));
            config.validate().unwrap();
            checked += 1;
        }
        if let Some(section) = document.get("query_frontend") {
            let config: QueryFrontendConfig = serde_yaml::from_value(section.clone())
                .unwrap_or_else(|error| panic!("{}: query_frontend: {error}", path.display()));
            config.validate().unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} sections found");
}
