//! Tests of the overrides section, the per-tenant file and runtime reloads.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use contrail_proto::TenantId;
use prometheus::Registry;

use crate::{Limits, Overrides, OverridesConfig, RateStrategy, TenantLimits};

fn parse(yaml: &str) -> Result<OverridesConfig, String> {
    serde_yaml::from_str::<OverridesConfig>(yaml).map_err(|error| error.to_string())
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).expect("valid tenant")
}

#[test]
fn nested_form_sets_the_limits_it_names_and_keeps_tempo_defaults_for_the_rest() {
    let config = parse(
        "defaults:\n  ingestion:\n    rate_limit_bytes: 1000\n    burst_size_bytes: 2MB\n    max_attribute_bytes: 100\n  global:\n    max_bytes_per_trace: 300\n  compaction:\n    block_retention: 48h\nper_tenant_override_period: 30s\n",
    )
    .expect("parses");
    assert_eq!(
        config.defaults.ingestion.rate_limit_bytes,
        ByteSize::b(1000)
    );
    assert_eq!(config.defaults.ingestion.burst_size_bytes, ByteSize::mb(2));
    assert_eq!(config.defaults.ingestion.max_attribute_bytes, 100);
    assert_eq!(config.defaults.ingestion.max_traces_per_user, 10_000);
    assert_eq!(config.defaults.global.max_bytes_per_trace, ByteSize::b(300));
    assert_eq!(
        config.defaults.compaction.block_retention,
        Duration::from_secs(48 * 3600)
    );
    assert_eq!(config.per_tenant_override_period, Duration::from_secs(30));
    assert!(config.validate().expect("valid").is_empty());
}

#[test]
fn legacy_flat_form_means_the_same_as_the_nested_form() {
    let legacy = parse(
        "ingestion_rate_limit_bytes: 1000\ningestion_burst_size_bytes: 2000\nmax_traces_per_user: 7\nmax_bytes_per_trace: 300\nblock_retention: 24h\nmax_search_duration: 1h\nmetrics_generator_processors: [service-graphs]\n",
    )
    .expect("legacy parses");
    let nested = parse(
        "defaults:\n  ingestion: { rate_limit_bytes: 1000, burst_size_bytes: 2000, max_traces_per_user: 7 }\n  global: { max_bytes_per_trace: 300 }\n  compaction: { block_retention: 24h }\n  read: { max_search_duration: 1h }\n  metrics_generator: {}\n",
    )
    .expect("nested parses");
    assert_eq!(legacy.defaults, nested.defaults);
    let warnings = legacy.validate().expect("valid");
    let keys: Vec<&str> = warnings
        .iter()
        .map(|warning| warning.key.as_str())
        .collect();
    assert_eq!(keys, ["overrides.metrics_generator_processors"]);
}

#[test]
fn mixing_the_two_forms_or_an_unknown_key_fails_naming_the_key() {
    let mixed = parse("defaults: {}\ningestion_rate_limit_bytes: 5\n").unwrap_err();
    assert!(
        mixed.contains("overrides.ingestion_rate_limit_bytes"),
        "{mixed}"
    );
    let unknown = parse("defaults:\n  ingestion:\n    rate_limit_byte: 5\n").unwrap_err();
    assert!(
        unknown.contains("overrides.defaults.ingestion.rate_limit_byte"),
        "{unknown}"
    );
    assert!(unknown.contains("unknown field"), "{unknown}");
    let top = parse("bogus: 1\n").unwrap_err();
    assert!(top.contains("overrides.bogus"), "{top}");
    let bad_value = parse("ingestion_rate_limit_bytes: lots\n").unwrap_err();
    assert!(
        bad_value.contains("overrides.ingestion_rate_limit_bytes"),
        "{bad_value}"
    );
}

#[test]
fn ignored_tempo_keys_are_warnings_naming_them() {
    let config = parse(
        "defaults:\n  ingestion:\n    rate_strategy: global\n    tenant_shard_size: 3\n  metrics_generator:\n    processors: [span-metrics]\n  cost_attribution:\n    dimensions: {a: b}\nuser_configurable_overrides:\n  enabled: false\n",
    )
    .expect("parses");
    assert_eq!(
        config.defaults.ingestion.rate_strategy,
        RateStrategy::Global
    );
    let keys: Vec<String> = config
        .validate()
        .expect("valid")
        .into_iter()
        .map(|warning| warning.key)
        .collect();
    for expected in [
        "overrides.defaults.metrics_generator",
        "overrides.defaults.cost_attribution",
        "overrides.defaults.ingestion.tenant_shard_size",
        "overrides.defaults.ingestion.rate_strategy",
        "overrides.user_configurable_overrides",
    ] {
        assert!(
            keys.iter().any(|key| key == expected),
            "{expected} in {keys:?}"
        );
    }
}

fn shared_configs() -> Option<Vec<PathBuf>> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tempo-configs");
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    Some(files)
}

#[test]
fn every_conformance_config_overrides_section_parses() {
    let Some(files) = shared_configs() else {
        println!("skipped: ../shared/conformance/tempo-configs is absent");
        return;
    };
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let document: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        let section = document.get("overrides").cloned().unwrap_or_default();
        let config = OverridesConfig::from_value(section)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        config
            .validate()
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    }
}

const TENANT_FILE: &str = "overrides:\n  team-a:\n    ingestion:\n      rate_limit_bytes: 100\n  team-b:\n    ingestion_burst_size_bytes: 50\n    max_bytes_per_trace: 10\n  \"*\":\n    global:\n      max_bytes_per_trace: 7\n";

#[test]
fn per_tenant_file_merges_each_tenant_onto_the_defaults() {
    let mut defaults = Limits::default();
    defaults.ingestion.burst_size_bytes = ByteSize::b(999);
    let (tenants, _) = TenantLimits::parse(TENANT_FILE, &defaults, "o.yaml").expect("parses");
    assert_eq!(tenants.len(), 3);
    let team_a = tenants.get(&tenant("team-a")).expect("team-a");
    assert_eq!(team_a.ingestion.rate_limit_bytes, ByteSize::b(100));
    assert_eq!(
        team_a.ingestion.burst_size_bytes,
        ByteSize::b(999),
        "inherited"
    );
    let team_b = tenants
        .get(&tenant("team-b"))
        .expect("team-b (legacy form)");
    assert_eq!(team_b.ingestion.burst_size_bytes, ByteSize::b(50));
    assert_eq!(team_b.global.max_bytes_per_trace, ByteSize::b(10));
    assert_eq!(team_b.ingestion.rate_limit_bytes, ByteSize::b(15_000_000));
    let other = tenants.get(&tenant("other")).expect("wildcard");
    assert_eq!(other.global.max_bytes_per_trace, ByteSize::b(7));
}

#[test]
fn per_tenant_file_errors_name_the_tenant_and_key() {
    let defaults = Limits::default();
    let unknown = TenantLimits::parse(
        "overrides:\n  team-a:\n    ingestion:\n      bogus: 1\n",
        &defaults,
        "o.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        unknown.contains("o.yaml: overrides.team-a.ingestion.bogus"),
        "{unknown}"
    );
    let bad_tenant = TenantLimits::parse("overrides:\n  \"a|b\": {}\n", &defaults, "o.yaml")
        .unwrap_err()
        .to_string();
    assert!(bad_tenant.contains("unsupported character"), "{bad_tenant}");
    assert!(TenantLimits::parse("overrides: [1]\n", &defaults, "o.yaml").is_err());
    assert!(TenantLimits::parse("limits: {}\n", &defaults, "o.yaml").is_err());
    let (empty, _) = TenantLimits::parse("", &defaults, "o.yaml").expect("empty file");
    assert!(empty.is_empty());
}

fn config_with_file(path: &std::path::Path) -> OverridesConfig {
    parse(&format!(
        "defaults:\n  ingestion:\n    rate_limit_bytes: 1\nper_tenant_override_config: {}\nper_tenant_override_period: 20ms\n",
        path.display()
    ))
    .expect("parses")
}

fn metric_value(registry: &Registry, name: &str, label_opt: Option<&str>) -> f64 {
    for family in registry.gather() {
        if family.name() != name {
            continue;
        }
        for metric in family.get_metric() {
            let matches = match label_opt {
                None => true,
                Some(label) => metric.get_label().iter().any(|pair| pair.value() == label),
            };
            if matches {
                return match family.get_field_type() {
                    prometheus::proto::MetricType::COUNTER => metric.get_counter().get_value(),
                    _ => metric.get_gauge().get_value(),
                };
            }
        }
    }
    0.0
}

#[tokio::test]
async fn reload_picks_up_changes_and_a_bad_reload_keeps_the_last_good_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("overrides.yaml");
    std::fs::write(
        &file,
        "overrides:\n  team-a:\n    ingestion:\n      rate_limit_bytes: 100\n",
    )
    .expect("write");
    let registry = Registry::new();
    let overrides = Overrides::new(&config_with_file(&file), &registry).expect("builds");
    let team_a = tenant("team-a");
    assert_eq!(
        overrides.limits_for(&team_a).ingestion.rate_limit_bytes,
        ByteSize::b(100)
    );
    assert_eq!(
        overrides
            .limits_for(&tenant("team-z"))
            .ingestion
            .rate_limit_bytes,
        ByteSize::b(1)
    );

    std::fs::write(
        &file,
        "overrides:\n  team-a:\n    ingestion:\n      rate_limit_bytes: 200\n",
    )
    .expect("write");
    overrides.reload().await.expect("good reload");
    assert_eq!(
        overrides.limits_for(&team_a).ingestion.rate_limit_bytes,
        ByteSize::b(200)
    );

    std::fs::write(
        &file,
        "overrides:\n  team-a:\n    ingestion:\n      rate_limit_bytes: [\n",
    )
    .expect("write");
    assert!(overrides.reload().await.is_err());
    assert_eq!(
        overrides.limits_for(&team_a).ingestion.rate_limit_bytes,
        ByteSize::b(200),
        "the last good limits stay"
    );
    assert_eq!(
        metric_value(
            &registry,
            "contrail_overrides_reloads_total",
            Some("failure")
        ),
        1.0
    );
    assert_eq!(
        metric_value(&registry, "contrail_overrides_last_reload_successful", None),
        0.0
    );

    std::fs::remove_file(&file).expect("remove");
    assert!(
        overrides.reload().await.is_err(),
        "a missing file is a failed reload"
    );
    assert_eq!(
        overrides.limits_for(&team_a).ingestion.rate_limit_bytes,
        ByteSize::b(200)
    );
}

#[tokio::test]
async fn the_reload_loop_applies_a_changed_file_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, "overrides: {}\n").expect("write");
    let overrides = Overrides::new(&config_with_file(&file), &Registry::new()).expect("builds");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(std::sync::Arc::clone(&overrides).run(shutdown.clone()));
    std::fs::write(
        &file,
        "overrides:\n  team-a:\n    ingestion:\n      rate_limit_bytes: 42\n",
    )
    .expect("write");
    let team_a = tenant("team-a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while overrides.limits_for(&team_a).ingestion.rate_limit_bytes != ByteSize::b(42) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reload never applied"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await.expect("joins").expect("loop ends cleanly");
}

#[test]
fn a_missing_or_bad_file_at_start_up_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.yaml");
    assert!(Overrides::new(&config_with_file(&missing), &Registry::new()).is_err());
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "overrides:\n  team-a:\n    nope: 1\n").expect("write");
    let error = Overrides::new(&config_with_file(&bad), &Registry::new()).unwrap_err();
    assert!(error.to_string().contains("team-a.nope"), "{error}");
}

#[test]
fn fixed_overrides_and_registering_twice_in_separate_registries_work() {
    let overrides = Overrides::fixed(Limits::default());
    assert_eq!(
        overrides
            .limits_for(&tenant("x"))
            .global
            .max_bytes_per_trace,
        ByteSize::b(5_000_000)
    );
    let config = OverridesConfig::default();
    assert!(Overrides::new(&config, &Registry::new()).is_ok());
    assert!(Overrides::new(&config, &Registry::new()).is_ok());
}
