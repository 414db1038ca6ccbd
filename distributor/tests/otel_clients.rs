//! Real OpenTelemetry exporters (the Rust `opentelemetry-otlp` crate, gRPC and HTTP protobuf/JSON,
//! with and without gzip) against a distributor on 127.0.0.1:0: every exported span reaches the
//! ingester, under the exporter's tenant.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry_otlp::{
    Compression, Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::trace::SdkTracerProvider;

use common::{Options, start};

fn emit(provider: &SdkTracerProvider, prefix: &str, traces: usize) {
    let tracer = provider.tracer("contrail-tests");
    for trace in 0..traces {
        tracer.in_span(format!("{prefix}-root-{trace}"), |_| {
            tracer.in_span(format!("{prefix}-child-{trace}"), |_| {});
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_exporter_with_gzip_delivers_every_span() {
    let harness = start(Options {
        multitenancy_enabled: true,
        ..Options::default()
    })
    .await;
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert("x-scope-orgid", "team-a".parse().expect("metadata"));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", harness.grpc))
        .with_compression(Compression::Gzip)
        .with_metadata(metadata)
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("exporter");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    emit(&provider, "grpc", 50);
    let flushed = tokio::task::spawn_blocking(move || {
        let flushed = provider.force_flush();
        provider.shutdown().expect("shutdown");
        flushed
    })
    .await
    .expect("joins");
    flushed.expect("export acknowledged");
    assert_eq!(harness.ingesters[0].spans(Some("team-a")), 100);
    let names = harness.ingesters[0].span_names();
    assert!(names.contains(&"grpc-root-7".to_owned()));
    assert_eq!(
        harness.counter(
            "contrail_distributor_spans_received_total",
            &[("tenant", "team-a")]
        ),
        100.0
    );
    harness.stop().await;
}

/// The blocking HTTP exporter is built and run outside the async runtime.
fn export_over_http(
    url: String,
    protocol: Protocol,
    compression_opt: Option<Compression>,
    prefix: &'static str,
) {
    std::thread::spawn(move || {
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .with_protocol(protocol)
            .with_headers(HashMap::from([(
                "X-Scope-OrgID".to_owned(),
                "team-b".to_owned(),
            )]))
            .with_timeout(Duration::from_secs(10));
        if let Some(compression) = compression_opt {
            builder = builder.with_compression(compression);
        }
        let exporter = builder.build().expect("exporter");
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        emit(&provider, prefix, 20);
        provider.force_flush().expect("export acknowledged");
        provider.shutdown().expect("shutdown");
    })
    .join()
    .expect("exporter thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_exporter_delivers_protobuf_json_and_gzip() {
    let harness = start(Options {
        multitenancy_enabled: true,
        ..Options::default()
    })
    .await;
    let url = harness.http_url();
    let runs = [
        (Protocol::HttpBinary, None, "proto"),
        (Protocol::HttpBinary, Some(Compression::Gzip), "proto-gzip"),
        (Protocol::HttpJson, None, "json"),
        (Protocol::HttpJson, Some(Compression::Gzip), "json-gzip"),
    ];
    for (protocol, compression_opt, prefix) in runs {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            export_over_http(url, protocol, compression_opt, prefix)
        })
        .await
        .expect("joins");
    }
    assert_eq!(harness.ingesters[0].spans(Some("team-b")), 4 * 40);
    let names = harness.ingesters[0].span_names();
    for prefix in ["proto", "proto-gzip", "json", "json-gzip"] {
        assert!(
            names.contains(&format!("{prefix}-child-19")),
            "{prefix} spans arrived"
        );
    }
    harness.stop().await;
}
