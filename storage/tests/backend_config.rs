//! `storage.trace` from real Tempo config files: every one deserializes (warnings allowed), and
//! a typo fails naming the key.
//!
//! The files are read where they are kept (`CONTRAIL_TEMPO_CONFIGS`, default
//! `../../shared/conformance/tempo-configs` from this crate); they are never copied here.

use std::path::PathBuf;

use contrail_storage::config::{Backend, TraceStorageConfig};
use serde::Deserialize;
use serde_yaml::Value;

fn tempo_configs_dir() -> PathBuf {
    match std::env::var_os("CONTRAIL_TEMPO_CONFIGS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tempo-configs")
        }
    }
}

/// `(file name, storage.trace)` for every config file that has the section.
fn storage_trace_sections() -> Vec<(String, Value)> {
    let dir = tempo_configs_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("tempo configs at {}: {err}", dir.display()));
    let mut sections = Vec::new();
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read config");
        let document: Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not yaml: {err}", path.display()));
        if let Some(trace) = document
            .get("storage")
            .and_then(|storage| storage.get("trace"))
        {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            sections.push((name, trace.clone()));
        }
    }
    sections.sort_by(|a, b| a.0.cmp(&b.0));
    sections
}

#[test]
fn every_tempo_storage_section_deserializes_and_validates() {
    let sections = storage_trace_sections();
    assert!(
        sections.len() >= 10,
        "found only {} storage sections",
        sections.len()
    );
    let mut backends = Vec::new();
    for (name, section) in sections {
        let config = TraceStorageConfig::deserialize(section)
            .unwrap_or_else(|err| panic!("{name}: storage.trace does not deserialize: {err}"));
        let warnings = config
            .validate()
            .unwrap_or_else(|err| panic!("{name}: storage.trace is invalid: {err}"));
        for warning in &warnings {
            assert!(
                warning.key.starts_with("storage.trace."),
                "{name}: {warning}"
            );
        }
        eprintln!(
            "{name}: backend {}, {} warning(s)",
            config.backend,
            warnings.len()
        );
        backends.push(config.backend);
    }
    for backend in [Backend::Local, Backend::S3, Backend::Gcs, Backend::Azure] {
        assert!(
            backends.contains(&backend),
            "no tempo config exercises {backend}"
        );
    }
}

#[test]
fn tempo_s3_section_keeps_its_values() {
    let (_, section) = storage_trace_sections()
        .into_iter()
        .find(|(name, _)| name == "v3-util_config-backend-s3.yaml")
        .expect("the s3 backend example");
    let config = TraceStorageConfig::deserialize(section).expect("deserialize");
    assert_eq!(config.backend, Backend::S3);
    assert_eq!(config.s3.bucket, "tempo");
    assert!(config.s3.insecure);
    assert_eq!(
        config.s3.endpoint_url().as_deref(),
        Some("http://minio-9000:9000"),
        "a scheme-less endpoint with insecure: true is plain http"
    );
    assert!(!config.s3.secret_key.is_empty());
}

#[test]
fn a_typo_in_a_tempo_section_fails_naming_the_key() {
    let (_, mut section) = storage_trace_sections()
        .into_iter()
        .find(|(name, _)| name == "v3-util_config-backend-s3.yaml")
        .expect("the s3 backend example");
    let s3 = section
        .get_mut("s3")
        .and_then(Value::as_mapping_mut)
        .expect("s3 mapping");
    let bucket = s3.remove("bucket").expect("bucket key");
    s3.insert(Value::from("bukcet"), bucket);
    let error = TraceStorageConfig::deserialize(section).expect_err("typo must fail");
    assert!(error.to_string().contains("bukcet"), "{error}");

    let (_, mut section) = storage_trace_sections()
        .into_iter()
        .find(|(name, _)| name == "v2-local_tempo.yaml")
        .expect("the local example");
    section
        .as_mapping_mut()
        .expect("trace mapping")
        .insert(Value::from("backed"), Value::from("local"));
    let error = TraceStorageConfig::deserialize(section).expect_err("typo must fail");
    assert!(error.to_string().contains("backed"), "{error}");
}

#[test]
fn the_repository_tempo_yaml_storage_section_is_valid_without_warnings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tempo.yaml");
    let text = std::fs::read_to_string(&path).expect("read the root tempo.yaml");
    let document: Value = serde_yaml::from_str(&text).expect("tempo.yaml is yaml");
    let section = document
        .get("storage")
        .and_then(|storage| storage.get("trace"))
        .cloned()
        .expect("tempo.yaml has storage.trace");
    let config = TraceStorageConfig::deserialize(section).expect("storage.trace deserializes");
    assert_eq!(config.backend, Backend::Local);
    assert_eq!(config.local.path, PathBuf::from("./data/blocks"));
    assert_eq!(config.wal.path, PathBuf::from("./data/wal"));
    let warnings = config.validate().expect("storage.trace validates");
    assert!(
        warnings.is_empty(),
        "the default config warns: {warnings:?}"
    );
}
