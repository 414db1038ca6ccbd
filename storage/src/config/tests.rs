use std::time::Duration;

use super::*;

fn parse(yaml: &str) -> std::result::Result<TraceStorageConfig, serde_yaml::Error> {
    serde_yaml::from_str(yaml)
}

#[test]
fn defaults_are_valid_and_local() {
    let config = TraceStorageConfig::default();
    assert_eq!(config.backend, Backend::Local);
    assert_eq!(config.validate().unwrap(), Vec::new());
    assert_eq!(config.prefix(), "");
}

#[test]
fn s3_section_with_tempo_keys_parses() {
    let config = parse(
        "backend: s3\n\
         s3:\n  bucket: tempo\n  prefix: /traces/\n  endpoint: minio:9000\n  access_key: tempo\n  \
         secret_key: supersecret\n  insecure: true\n  part_size: 8388608\n  \
         retry_max_attempts: 3\n  retry_backoff_initial: 200ms\n  hedge_requests_at: 500ms\n  \
         hedge_requests_up_to: 2\n  sse:\n    type: SSE-S3\n  tags:\n    team: a\n",
    )
    .unwrap();
    assert_eq!(config.backend, Backend::S3);
    assert_eq!(
        config.s3.endpoint_url().as_deref(),
        Some("http://minio:9000")
    );
    assert_eq!(
        config.s3.retry_backoff_initial,
        Some(Duration::from_millis(200))
    );
    assert_eq!(config.multipart_part_size(), 8 * 1024 * 1024);
    assert_eq!(config.prefix(), "/traces/");
    let keys: Vec<String> = config
        .validate()
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    assert_eq!(
        keys,
        [
            "storage.trace.s3.hedge_requests_at",
            "storage.trace.s3.hedge_requests_up_to",
            "storage.trace.s3.tags",
            "storage.trace.s3.sse",
        ]
    );
}

#[test]
fn secrets_are_not_printed() {
    let config =
        parse("backend: s3\ns3:\n  bucket: b\n  access_key: k\n  secret_key: hunter2\n").unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert_eq!(config.s3.secret_key.expose(), "hunter2");
}

#[test]
fn unknown_keys_fail_naming_the_key() {
    let error = parse("backend: s3\ns3:\n  bukcet: tempo\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("bukcet"), "{error}");
    let error = parse("backnd: s3\n").unwrap_err().to_string();
    assert!(error.contains("backnd"), "{error}");
    let error = parse("requests:\n  max_attempt: 3\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_attempt"), "{error}");
}

#[test]
fn bad_values_fail_naming_the_key() {
    let error = parse("backend: cos\n").unwrap_err().to_string();
    assert!(error.contains("cos"), "{error}");
    let error = parse("requests:\n  timeout: soon\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("timeout"), "{error}");

    let missing_bucket = parse("backend: s3\n").unwrap().validate().unwrap_err();
    assert_eq!(
        missing_bucket.to_string(),
        "invalid config storage.trace.s3.bucket: must not be empty with backend s3"
    );
    let half_keys = parse("backend: s3\ns3:\n  bucket: b\n  access_key: k\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        half_keys
            .to_string()
            .contains("storage.trace.s3.secret_key"),
        "{half_keys}"
    );
    let small_part = parse("backend: s3\ns3:\n  bucket: b\n  part_size: 1MiB\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        small_part
            .to_string()
            .contains("storage.trace.s3.part_size"),
        "{small_part}"
    );
    let zero = parse("requests:\n  max_concurrency: 0\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        zero.to_string()
            .contains("storage.trace.requests.max_concurrency"),
        "{zero}"
    );
    let timeouts = parse("requests:\n  timeout: 10s\n  total_timeout: 5s\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(timeouts.to_string().contains("total_timeout"), "{timeouts}");
}

#[test]
fn ignored_top_level_tempo_keys_warn() {
    let config = parse(
        "backend: local\nlocal:\n  path: /tmp/x\npool:\n  max_workers: 400\nblocklist_poll: 5m\n\
         wal:\n  path: /var/tempo/wal\nblock:\n  version: vParquet4\n",
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
            "storage.trace.pool",
            "storage.trace.blocklist_poll",
            "storage.trace.block.version"
        ]
    );
    assert_eq!(config.wal.path, std::path::PathBuf::from("/var/tempo/wal"));
}

#[test]
fn azure_endpoints() {
    let mut azure = AzureConfig {
        storage_account_name: "acct".into(),
        ..AzureConfig::default()
    };
    assert_eq!(azure.endpoint_url(), None);
    azure.endpoint_suffix = "azurite:10000".into();
    assert_eq!(
        azure.endpoint_url().as_deref(),
        Some("http://azurite:10000/acct")
    );
    azure.endpoint_suffix = "blob.core.chinacloudapi.cn".into();
    assert_eq!(
        azure.endpoint_url().as_deref(),
        Some("https://acct.blob.core.chinacloudapi.cn")
    );
}

#[test]
fn invalid_prefixes_are_rejected() {
    let error = parse("backend: s3\ns3:\n  bucket: b\n  prefix: a//b\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        error.to_string().contains("storage.trace.s3.prefix"),
        "{error}"
    );
}

#[test]
fn s3_part_size_reaches_the_block_writer() {
    use crate::block::v1::{BlockWriterConfig, DEFAULT_UPLOAD_PART_SIZE};
    let writer_with = |config: &TraceStorageConfig| {
        let mut writer = BlockWriterConfig::new(contrail_proto::TenantId::single_tenant());
        config.block_settings().apply_to(&mut writer);
        writer.upload_part_size
    };
    let s3 = parse("backend: s3\ns3:\n  bucket: b\n  part_size: 16MiB\n").unwrap();
    assert_eq!(writer_with(&s3), 16 * 1024 * 1024);
    let s3_default = parse("backend: s3\ns3:\n  bucket: b\n").unwrap();
    assert_eq!(writer_with(&s3_default), DEFAULT_UPLOAD_PART_SIZE);
    // An S3 section beside another backend does not apply.
    let local = parse("backend: local\ns3:\n  part_size: 16MiB\n").unwrap();
    assert_eq!(writer_with(&local), DEFAULT_UPLOAD_PART_SIZE);
    // The filled-in field is not a key users can write.
    let error = parse("block:\n  upload_part_size: 1\n").unwrap_err();
    assert!(error.to_string().contains("upload_part_size"), "{error}");
}
