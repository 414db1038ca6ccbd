//! The config composition: the repository's tempo.yaml, every Tempo config of the conformance
//! set, and the errors for unknown keys and bad values.

use std::path::PathBuf;

use super::{Config, expand_env_vars};
use crate::target::Target;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn error_of(yaml: &str) -> String {
    format!("{:#}", Config::parse(yaml).unwrap_err())
}

#[test]
fn the_repository_tempo_yaml_parses_and_validates() {
    let config = Config::load(&repo_root().join("tempo.yaml"), false).expect("tempo.yaml parses");
    assert_eq!(config.target, Target::All);
    assert_eq!(config.server.http_listen_port, 3200);
    assert_eq!(config.server.grpc_listen_port, 9095);
    let protocols = &config
        .distributor
        .receivers
        .otlp
        .as_ref()
        .expect("otlp")
        .protocols;
    assert_eq!(
        protocols.grpc.as_ref().expect("grpc").endpoint,
        "0.0.0.0:4317"
    );
    assert_eq!(
        protocols.http.as_ref().expect("http").endpoint,
        "0.0.0.0:4318"
    );
    let warnings = config.validate().expect("valid");
    for warning in &warnings {
        assert_eq!(
            warning.key, "ingester",
            "only the not-yet-built ingester section warns: {warning}"
        );
    }
}

#[test]
fn every_conformance_tempo_config_parses_and_validates() {
    let dir = repo_root().join("../shared/conformance/tempo-configs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: ../shared/conformance/tempo-configs is absent");
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let config = Config::load(file, false)
            .unwrap_or_else(|error| panic!("{}: {error:#}", file.display()));
        let warnings = config
            .validate()
            .unwrap_or_else(|error| panic!("{}: {error:#}", file.display()));
        println!("{}: {} warnings", file.display(), warnings.len());
    }
    let distributed =
        Config::load(&dir.join("v2-distributed_tempo-distributed.yaml"), false).expect("parses");
    let keys: Vec<String> = distributed
        .validate()
        .expect("valid")
        .into_iter()
        .map(|warning| warning.key)
        .collect();
    for expected in [
        "memberlist",
        "metrics_generator",
        "overrides.defaults.metrics_generator",
    ] {
        assert!(
            keys.iter().any(|key| key == expected),
            "{expected} in {keys:?}"
        );
    }
    assert_eq!(
        distributed.replication_factor().expect("rf"),
        3,
        "Tempo's ingester.lifecycler.ring.replication_factor"
    );
    let receivers_only =
        Config::load(&dir.join("v3-operations_config-receivers.yaml"), false).expect("parses");
    let protocols = &receivers_only
        .distributor
        .receivers
        .otlp
        .as_ref()
        .expect("otlp")
        .protocols;
    assert!(
        protocols.grpc.is_none(),
        "only the listed protocols are enabled"
    );
    assert_eq!(
        protocols.http.as_ref().expect("http").endpoint,
        "0.0.0.0:4318"
    );
    let null_protocols = Config::load(
        &dir.join("v2-scalable-single-binary_tempo-scalable-single-binary.yaml"),
        false,
    )
    .expect("parses");
    let protocols = &null_protocols
        .distributor
        .receivers
        .otlp
        .as_ref()
        .expect("otlp")
        .protocols;
    assert_eq!(
        protocols
            .grpc
            .as_ref()
            .expect("`grpc:` with no value enables it")
            .endpoint,
        "0.0.0.0:4317"
    );
}

#[test]
fn unknown_keys_and_bad_values_name_the_full_path() {
    let nested = error_of(
        "distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpointt: x\n",
    );
    assert!(
        nested.contains("distributor.receivers.otlp.protocols.grpc"),
        "{nested}"
    );
    assert!(nested.contains("unknown field `endpointt`"), "{nested}");
    let top = error_of("servr:\n  http_listen_port: 1\n");
    assert!(top.contains("unknown field `servr`"), "{top}");
    let bad_port = error_of("server:\n  http_listen_port: lots\n");
    assert!(bad_port.contains("server.http_listen_port"), "{bad_port}");
    let bad_target = error_of("target: everything\n");
    assert!(
        bad_target.contains("unknown target \"everything\""),
        "{bad_target}"
    );
    let overrides = error_of("overrides:\n  defaults:\n    ingestion:\n      burst: 1\n");
    assert!(
        overrides.contains("overrides.defaults.ingestion.burst"),
        "{overrides}"
    );
    assert_eq!(
        overrides.matches("overrides.defaults").count(),
        1,
        "the path is not repeated: {overrides}"
    );
    let storage = error_of("storage:\n  trace:\n    backend: floppy\n");
    assert!(storage.contains("storage.trace.backend"), "{storage}");
}

#[test]
fn invalid_values_fail_validation_naming_the_key() {
    let config = Config::parse("distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: nowhere\n").expect("parses");
    let error = format!("{:#}", config.validate().unwrap_err());
    assert!(
        error.contains("distributor.receivers.otlp.protocols.grpc.endpoint"),
        "{error}"
    );
    let config = Config::parse("distributor:\n  ring:\n    replication_factor: 3\ningester:\n  lifecycler:\n    ring:\n      replication_factor: 5\n").expect("parses");
    assert!(format!("{:#}", config.validate().unwrap_err()).contains("disagree"));
}

#[test]
fn tempo_keys_contrail_ignores_are_warnings() {
    let config = Config::parse("server:\n  http_server_read_timeout: 30s\ndistributor:\n  ring:\n    kvstore:\n      store: memberlist\n    addresses: [\"dnssrv+_grpc._tcp.ingester\"]\n    replication_factor: 3\n").expect("parses");
    assert_eq!(config.replication_factor().expect("rf"), 3);
    let keys: Vec<String> = config
        .validate()
        .expect("valid")
        .into_iter()
        .map(|warning| warning.key)
        .collect();
    assert!(
        keys.iter().any(|key| key == "distributor.ring.kvstore"),
        "{keys:?}"
    );
    let config = Config::parse("server:\n  http_server_read_timeout: 30s\nmemberlist:\n  join_members: [a]\ndistributor:\n  receivers:\n    jaeger:\n      protocols:\n        grpc:\n  log_received_spans:\n    enabled: true\n").expect("parses");
    let keys: Vec<String> = config
        .validate()
        .expect("valid")
        .into_iter()
        .map(|warning| warning.key)
        .collect();
    for expected in [
        "server.http_server_read_timeout",
        "memberlist",
        "distributor.receivers.jaeger",
        "distributor.log_received_spans",
    ] {
        assert!(
            keys.iter().any(|key| key == expected),
            "{expected} in {keys:?}"
        );
    }
}

#[test]
fn environment_variables_expand_with_defaults() {
    let name = "CONTRAIL_CONFIG_TEST_PORT_3217";
    let text = format!("a: ${{{name}:-3200}}\nb: ${{{name}}}\n");
    assert_eq!(expand_env_vars(&text), "a: 3200\nb: \n");
    let unchanged = "plain: $HOME and ${not valid}";
    assert_eq!(expand_env_vars(unchanged), unchanged);
}
