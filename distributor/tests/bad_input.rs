//! Raw requests the way a broken client sends them: each gets a 4xx (or 5xx for missing
//! quorum) with a reason and a metric, and the distributor keeps serving.

mod common;

use std::io::Write;
use std::time::Duration;

use bytesize::ByteSize;
use contrail_overrides::Limits;
use contrail_proto::internal::v1::PushErrorReason;
use contrail_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use contrail_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tonic_types::StatusExt;

use common::{Harness, Mode, Options, start};

fn request(trace_byte: u8, spans: usize, trace_id_len: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: (0..spans)
                    .map(|index| Span {
                        trace_id: vec![trace_byte; trace_id_len],
                        span_id: vec![u8::try_from(index + 1).expect("small"); 8],
                        name: format!("span-{index}"),
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 2,
                        ..Span::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

async fn post(
    harness: &Harness,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut builder = reqwest::Client::new()
        .post(harness.http_url())
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.send().await.expect("http request")
}

async fn post_protobuf(
    harness: &Harness,
    headers: &[(&str, &str)],
    message: &ExportTraceServiceRequest,
) -> reqwest::Response {
    post(
        harness,
        "application/x-protobuf",
        headers,
        message.encode_to_vec(),
    )
    .await
}

/// Decodes a protobuf error body (`google.rpc.Status`).
async fn status_body(response: reqwest::Response) -> tonic_types::Status {
    tonic_types::Status::decode(response.bytes().await.expect("body")).expect("google.rpc.Status")
}

async fn assert_still_serving(harness: &Harness) {
    let response = post_protobuf(harness, &[("x-scope-orgid", "ok")], &request(9, 1, 16)).await;
    assert_eq!(response.status(), 200, "the distributor keeps serving");
}

#[tokio::test]
async fn malformed_payloads_wrong_types_and_bad_ids_are_4xx_with_reasons_and_metrics() {
    let harness = start(Options {
        multitenancy_enabled: true,
        max_body: ByteSize::kib(8),
        ..Options::default()
    })
    .await;
    let tenant = [("x-scope-orgid", "team-a")];

    let garbage = post(
        &harness,
        "application/x-protobuf",
        &tenant,
        vec![0x0a, 0xff, 0xff, 0x01],
    )
    .await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.headers()["content-type"], "application/x-protobuf");
    let status = status_body(garbage).await;
    assert!(
        status.message.contains("invalid OTLP protobuf payload"),
        "{}",
        status.message
    );
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);

    let bad_json = post(
        &harness,
        "application/json",
        &tenant,
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    assert_eq!(bad_json.status(), 400);
    assert_eq!(bad_json.headers()["content-type"], "application/json");
    let json: serde_json::Value = bad_json.json().await.expect("json error body");
    assert!(
        json["message"]
            .as_str()
            .expect("message")
            .contains("OTLP/JSON"),
        "{json}"
    );

    let wrong_type = post(&harness, "text/plain", &tenant, b"hello".to_vec()).await;
    assert_eq!(wrong_type.status(), 415);
    assert!(
        wrong_type
            .text()
            .await
            .expect("text")
            .contains("application/x-protobuf")
    );

    let wrong_encoding = post(
        &harness,
        "application/x-protobuf",
        &[("x-scope-orgid", "a"), ("content-encoding", "br")],
        Vec::new(),
    )
    .await;
    assert_eq!(wrong_encoding.status(), 415);

    let oversize = post_protobuf(&harness, &tenant, &request(1, 200, 16)).await;
    assert_eq!(oversize.status(), 413);
    assert!(
        status_body(oversize)
            .await
            .message
            .contains("8192 byte limit")
    );

    // A small gzip body that inflates past the limit is caught after decompression.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let bomb = bomb.finish().expect("gzip");
    assert!(bomb.len() < 8192);
    let inflated = post(
        &harness,
        "application/x-protobuf",
        &[("x-scope-orgid", "a"), ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(inflated.status(), 413);

    let not_gzip = post(
        &harness,
        "application/x-protobuf",
        &[("x-scope-orgid", "a"), ("content-encoding", "gzip")],
        b"plain".to_vec(),
    )
    .await;
    assert_eq!(not_gzip.status(), 400);

    let short_trace_id = post_protobuf(&harness, &tenant, &request(1, 2, 8)).await;
    assert_eq!(short_trace_id.status(), 400);
    assert_eq!(
        status_body(short_trace_id).await.message,
        "trace ids must be 128 bit, received 64 bits"
    );

    let missing_tenant = post_protobuf(&harness, &[], &request(1, 1, 16)).await;
    assert_eq!(missing_tenant.status(), 401);
    assert_eq!(status_body(missing_tenant).await.message, "no org id");

    let invalid_tenant =
        post_protobuf(&harness, &[("x-scope-orgid", "a|b")], &request(1, 1, 16)).await;
    assert_eq!(invalid_tenant.status(), 400);
    assert!(
        status_body(invalid_tenant)
            .await
            .message
            .contains("unsupported character")
    );

    let get = reqwest::Client::new()
        .get(harness.http_url())
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);

    for (reason, expected) in [
        ("malformed", 3.0),
        ("unsupported_media_type", 2.0),
        ("too_large", 2.0),
        ("invalid_trace_id", 1.0),
        ("missing_tenant", 1.0),
        ("invalid_tenant", 1.0),
    ] {
        assert_eq!(
            harness.counter(
                "contrail_distributor_requests_refused_total",
                &[("reason", reason)]
            ),
            expected,
            "{reason}"
        );
    }
    assert_still_serving(&harness).await;
    harness.stop().await;
}

#[tokio::test]
async fn grpc_refusals_carry_their_codes() {
    let harness = start(Options {
        multitenancy_enabled: true,
        ..Options::default()
    })
    .await;
    let mut client = TraceServiceClient::connect(format!("http://{}", harness.grpc))
        .await
        .expect("connect");
    let missing = client.export(request(1, 1, 16)).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    assert_eq!(missing.message(), "no org id");
    let mut bad_id = tonic::Request::new(request(1, 1, 5));
    bad_id
        .metadata_mut()
        .insert("x-scope-orgid", "team-a".parse().expect("value"));
    let bad_id = client.export(bad_id).await.unwrap_err();
    assert_eq!(bad_id.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        bad_id.message(),
        "trace ids must be 128 bit, received 40 bits"
    );
    let mut ok = tonic::Request::new(request(1, 3, 16));
    ok.metadata_mut()
        .insert("x-scope-orgid", "team-a".parse().expect("value"));
    let response = client.export(ok).await.expect("accepted").into_inner();
    assert_eq!(response, ExportTraceServiceResponse::default());
    assert_eq!(harness.ingesters[0].spans(Some("team-a")), 3);
    harness.stop().await;
}

/// Room for one `burst_bytes` request, refilled at 1 byte per second.
fn tight_limits(burst_bytes: u64) -> Limits {
    let mut limits = Limits::default();
    limits.ingestion.rate_limit_bytes = ByteSize::b(1);
    limits.ingestion.burst_size_bytes = ByteSize::b(burst_bytes);
    limits
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_resource_exhausted_with_retry_info() {
    let small = request(1, 3, 16);
    let harness = start(Options {
        limits: tight_limits(small.encoded_len() as u64 + 10),
        ..Options::default()
    })
    .await;
    assert_eq!(post_protobuf(&harness, &[], &small).await.status(), 200);
    let limited = post_protobuf(&harness, &[], &small).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    assert!(
        status_body(limited)
            .await
            .message
            .starts_with("RATE_LIMITED: ingestion rate limit")
    );

    let mut client = TraceServiceClient::connect(format!("http://{}", harness.grpc))
        .await
        .expect("connect");
    let status = client.export(small.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let retry_info = status.get_details_retry_info().expect("RetryInfo details");
    assert!(retry_info.retry_delay.expect("delay") >= Duration::from_secs(1));

    let too_big = request(1, 40, 16);
    let refused = post_protobuf(&harness, &[], &too_big).await;
    assert_eq!(refused.status(), 429);
    assert!(
        status_body(refused)
            .await
            .message
            .starts_with("RATE_LIMITED: batch size")
    );
    assert_eq!(
        harness.counter(
            "contrail_discarded_spans_total",
            &[("tenant", "single-tenant"), ("reason", "rate_limited")]
        ),
        3.0 + 3.0 + 40.0
    );
    harness.stop().await;
}

#[tokio::test]
async fn no_write_quorum_is_503_and_unavailable() {
    let harness = start(Options {
        ingesters: vec![Mode::Accept, Mode::Unreachable, Mode::Unreachable],
        replication_factor: 3,
        ..Options::default()
    })
    .await;
    let response = post_protobuf(&harness, &[], &request(1, 2, 16)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        status_body(response)
            .await
            .message
            .starts_with("write quorum not reached")
    );
    let mut client = TraceServiceClient::connect(format!("http://{}", harness.grpc))
        .await
        .expect("connect");
    let status = client.export(request(2, 2, 16)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        harness.counter("contrail_discarded_spans_total", &[("reason", "no_quorum")]),
        4.0
    );
    // Once two of the three ingesters answer again, writes succeed.
    *harness.ingesters[1].mode.lock().expect("lock") = Mode::Accept;
    assert_eq!(
        post_protobuf(&harness, &[], &request(3, 2, 16))
            .await
            .status(),
        200
    );
    harness.stop().await;
}

#[tokio::test]
async fn ingesters_at_their_memory_limit_refuse_protobuf_exports_before_the_decode() {
    use std::sync::atomic::Ordering;
    let harness = start(Options {
        ingesters: vec![Mode::Full],
        ..Options::default()
    })
    .await;
    let mut client = TraceServiceClient::connect(format!("http://{}", harness.grpc))
        .await
        .expect("connect");
    let status = client.export(request(1, 2, 16)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().starts_with("write quorum not reached")
            && status.message().contains("ingester memory limit reached"),
        "{}",
        status.message()
    );
    let retry_info = status.get_details_retry_info().expect("RetryInfo details");
    assert!(retry_info.retry_delay.expect("delay") >= Duration::from_secs(1));
    // Refused before the decode: even a body that is not OTLP gets the overload answer, and
    // nothing was pushed.
    let garbage = post(&harness, "application/x-protobuf", &[], vec![0xff; 64]).await;
    assert_eq!(garbage.status(), 429);
    assert!(garbage.headers().contains_key("retry-after"));
    assert_eq!(harness.ingesters[0].pushes.load(Ordering::SeqCst), 0);
    assert_eq!(
        harness.counter(
            "contrail_distributor_requests_refused_total",
            &[("tenant", "single-tenant"), ("reason", "no_quorum")]
        ),
        2.0
    );
    // JSON bodies are not judged by size: they are decoded, and the push is refused.
    let json = post(
        &harness,
        "application/json",
        &[],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"a","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#.to_vec(),
    )
    .await;
    assert_eq!(json.status(), 429);
    assert_eq!(harness.ingesters[0].pushes.load(Ordering::SeqCst), 1);
    // Once the ingester has room again, the same export is taken.
    *harness.ingesters[0].mode.lock().expect("lock") = Mode::Accept;
    client.export(request(1, 2, 16)).await.expect("accepted");
    assert_eq!(harness.ingesters[0].spans(None), 2);
    harness.stop().await;
}

#[tokio::test]
async fn one_full_ingester_of_three_does_not_refuse_before_the_decode() {
    let harness = start(Options {
        ingesters: vec![Mode::Full, Mode::Accept, Mode::Accept],
        replication_factor: 3,
        ..Options::default()
    })
    .await;
    let response = post_protobuf(&harness, &[], &request(1, 2, 16)).await;
    assert_eq!(response.status(), 200);
    let pushes: usize = harness
        .ingesters
        .iter()
        .map(|ingester| ingester.pushes.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    assert_eq!(pushes, 3, "every replica was asked");
    harness.stop().await;
}

#[tokio::test]
async fn rf3_with_one_of_three_ingesters_down_keeps_accepting() {
    let harness = start(Options {
        ingesters: vec![Mode::Accept, Mode::Unreachable, Mode::Accept],
        replication_factor: 3,
        ..Options::default()
    })
    .await;
    for trace in 0..10 {
        assert_eq!(
            post_protobuf(&harness, &[], &request(trace, 2, 16))
                .await
                .status(),
            200
        );
    }
    assert_eq!(harness.ingesters[0].spans(None), 20);
    assert_eq!(harness.ingesters[2].spans(None), 20);
    assert_eq!(
        harness.counter(
            "contrail_distributor_ingester_append_failures_total",
            &[("ingester", "ingester-1")]
        ),
        10.0
    );
    harness.stop().await;
}

#[tokio::test]
async fn ingester_refusals_and_oversize_traces_become_partial_success() {
    let mut limits = Limits::default();
    limits.global.max_bytes_per_trace = ByteSize::b(300);
    let harness = start(Options {
        limits,
        ingesters: vec![Mode::Refuse(PushErrorReason::MaxLiveTraces)],
        ..Options::default()
    })
    .await;
    let mut message = request(1, 2, 16);
    message.resource_spans[0].scope_spans[0].spans.extend(
        request(2, 10, 16).resource_spans[0].scope_spans[0]
            .spans
            .clone(),
    );
    let response = post(
        &harness,
        "application/json",
        &[],
        contrail_proto::otlp_json::encode_export_request_json(&message).expect("json"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.expect("json");
    let partial = &json["partialSuccess"];
    // int64 as a JSON string (proto3 JSON) or a number (what opentelemetry-proto's serde writes).
    let rejected = &partial["rejectedSpans"];
    assert!(rejected == "12" || rejected == 12, "{json}");
    let text = partial["errorMessage"].as_str().expect("message");
    assert!(
        text.contains("TRACE_TOO_LARGE") && text.contains("LIVE_TRACES_EXCEEDED"),
        "{text}"
    );
    assert_eq!(
        harness.counter(
            "contrail_discarded_spans_total",
            &[("reason", "trace_too_large")]
        ),
        10.0
    );
    assert_eq!(
        harness.counter(
            "contrail_discarded_spans_total",
            &[("reason", "live_traces_exceeded")]
        ),
        2.0
    );
    harness.stop().await;
}

#[tokio::test]
async fn long_attributes_are_truncated_and_counted() {
    let harness = start(Options::default()).await;
    let mut message = request(1, 1, 16);
    message.resource_spans[0].scope_spans[0].spans[0].attributes =
        vec![contrail_proto::otlp::common::v1::KeyValue {
            key: "http.url".to_owned(),
            value: Some(contrail_proto::otlp::common::v1::AnyValue {
                value: Some(
                    contrail_proto::otlp::common::v1::any_value::Value::StringValue(
                        "x".repeat(500),
                    ),
                ),
            }),
            ..Default::default()
        }];
    assert_eq!(post_protobuf(&harness, &[], &message).await.status(), 200);
    let (_, batch) = harness.ingesters[0].received.lock().expect("lock")[0].clone();
    let trace = batch.segments[0].decode_trace().expect("decodes");
    let attribute = &trace.resource_spans[0].scope_spans[0].spans[0].attributes[0];
    match &attribute.value.as_ref().expect("value").value {
        Some(contrail_proto::otlp::common::v1::any_value::Value::StringValue(text)) => {
            assert_eq!(text.len(), 64)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        harness.counter(
            "contrail_distributor_attributes_truncated_total",
            &[("tenant", "single-tenant")]
        ),
        1.0
    );
    harness.stop().await;
}
