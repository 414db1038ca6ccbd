//! Determinism and shape of the corpus.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::common::v1::KeyValue;
use contrail_proto::otlp::common::v1::any_value::Value;
use contrail_proto::otlp::trace::v1::span::SpanKind;
use contrail_proto::otlp::trace::v1::status::StatusCode;
use contrail_proto::otlp::trace::v1::{ResourceSpans, Span};
use prost::Message;

use super::{CorpusConfig, Generator, MAX_SPANS_PER_TRACE};

fn config(seed: u64) -> CorpusConfig {
    CorpusConfig {
        seed,
        ..CorpusConfig::default()
    }
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
            Some(Value::StringValue(text)) => Some(text.as_str()),
            _ => None,
        }
    })
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
            Some(Value::IntValue(number)) => Some(*number),
            _ => None,
        }
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::StringValue(_) => "string",
        Value::BoolValue(_) => "bool",
        Value::IntValue(_) => "int",
        Value::DoubleValue(_) => "double",
        Value::ArrayValue(_) => "array",
        Value::KvlistValue(_) => "kvlist",
        Value::BytesValue(_) => "bytes",
        Value::StringValueStrindex(_) => "string_index",
    }
}

/// Spans of one trace with the service name of their resource.
fn flatten(trace: &[ResourceSpans]) -> Vec<(String, Span)> {
    let mut spans = Vec::new();
    for resource_spans in trace {
        let resource = resource_spans.resource.as_ref().expect("resource");
        let service = string_attr(&resource.attributes, "service.name").expect("service.name");
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.as_ref().expect("scope");
            assert!(!scope.name.is_empty() && !scope.version.is_empty());
            for span in &scope_spans.spans {
                spans.push((service.to_owned(), span.clone()));
            }
        }
    }
    spans
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let encode = |seed| {
        let mut generator = Generator::new(config(seed));
        generator
            .batches(200, 1000)
            .map(|request| request.encode_to_vec())
            .collect::<Vec<_>>()
    };
    let first = encode(7);
    assert_eq!(first, encode(7));
    assert_ne!(first, encode(8));
}

#[test]
fn batches_hold_whole_traces_and_all_of_them() {
    let mut generator = Generator::new(config(3));
    let requests: Vec<ExportTraceServiceRequest> = generator.batches(500, 300).collect();
    let mut expected = Generator::new(config(3));
    let expected_traces: Vec<Vec<ResourceSpans>> =
        (0..500).map(|_| expected.next_trace()).collect();
    let expected_spans: usize = expected_traces
        .iter()
        .map(|trace| flatten(trace).len())
        .sum();
    let mut seen_trace_ids = BTreeSet::new();
    let mut total_spans = 0;
    for request in &requests {
        let spans = flatten(&request.resource_spans);
        total_spans += spans.len();
        let trace_ids: BTreeSet<Vec<u8>> = spans
            .iter()
            .map(|(_, span)| span.trace_id.clone())
            .collect();
        // a trace is never split: none of this request's traces appeared in an earlier one
        for trace_id in &trace_ids {
            assert!(
                seen_trace_ids.insert(trace_id.clone()),
                "trace split across batches"
            );
        }
        assert!(
            spans.len() <= 300 || trace_ids.len() == 1,
            "oversized batch of {} spans",
            spans.len()
        );
        // one ResourceSpans per service instance
        let instances: Vec<&str> = request
            .resource_spans
            .iter()
            .map(|resource_spans| {
                string_attr(
                    &resource_spans.resource.as_ref().unwrap().attributes,
                    "service.instance.id",
                )
                .unwrap()
            })
            .collect();
        let unique: BTreeSet<&&str> = instances.iter().collect();
        assert_eq!(
            unique.len(),
            instances.len(),
            "a service instance appears twice in one request"
        );
    }
    assert_eq!(seen_trace_ids.len(), 500);
    assert_eq!(total_spans, expected_spans);
}

#[test]
fn corpus_has_the_documented_shape() {
    let traces = 2_000;
    let mut generator = Generator::new(config(1));
    let mut services = BTreeSet::new();
    let mut kinds: BTreeMap<i32, usize> = BTreeMap::new();
    let mut types = BTreeSet::new();
    let (mut spans_total, mut error_traces, mut error_spans, mut exception_spans) = (0, 0, 0, 0);
    let (mut links, mut slow_queries, mut http_5xx, mut http_4xx, mut attributes_total) =
        (0, 0, 0, 0, 0);
    let (mut min_spans, mut max_spans) = (usize::MAX, 0);
    for _ in 0..traces {
        let trace = generator.next_trace();
        for resource_spans in &trace {
            let resource = resource_spans.resource.as_ref().unwrap();
            for key in [
                "service.name",
                "service.version",
                "deployment.environment",
                "k8s.pod.name",
                "k8s.namespace.name",
                "host.name",
            ] {
                assert!(
                    string_attr(&resource.attributes, key).is_some(),
                    "resource lacks {key}"
                );
            }
        }
        let spans = flatten(&trace);
        min_spans = min_spans.min(spans.len());
        max_spans = max_spans.max(spans.len());
        spans_total += spans.len();
        let by_id: HashMap<&[u8], &Span> = spans
            .iter()
            .map(|(_, span)| (span.span_id.as_slice(), span))
            .collect();
        let service_of: HashMap<&[u8], &str> = spans
            .iter()
            .map(|(service, span)| (span.span_id.as_slice(), service.as_str()))
            .collect();
        assert_eq!(by_id.len(), spans.len(), "duplicate span ids");
        let roots = spans
            .iter()
            .filter(|(_, span)| span.parent_span_id.is_empty())
            .count();
        assert_eq!(roots, 1, "one root per trace");
        let mut trace_has_error = false;
        for (service, span) in &spans {
            services.insert(service.clone());
            *kinds.entry(span.kind).or_default() += 1;
            assert_eq!(span.trace_id, spans[0].1.trace_id);
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            let count = span.attributes.len();
            attributes_total += count;
            assert!(
                (4..=24).contains(&count),
                "{} has {count} attributes",
                span.name
            );
            for kv in &span.attributes {
                types.insert(type_name(
                    kv.value.as_ref().unwrap().value.as_ref().unwrap(),
                ));
            }
            if !span.parent_span_id.is_empty() {
                let parent = by_id
                    .get(span.parent_span_id.as_slice())
                    .expect("parent in trace");
                assert!(
                    parent.start_time_unix_nano <= span.start_time_unix_nano,
                    "child starts before parent"
                );
                // an asynchronous consumer outlives the publish call, as real Kafka traces do
                if span.kind != SpanKind::Consumer as i32 {
                    assert!(
                        span.end_time_unix_nano <= parent.end_time_unix_nano,
                        "child ends after parent: {} in {}",
                        span.name,
                        parent.name
                    );
                }
                if span.kind == SpanKind::Server as i32 {
                    assert_eq!(
                        parent.kind,
                        SpanKind::Client as i32,
                        "server span under a non-client"
                    );
                    assert_ne!(
                        service_of[span.parent_span_id.as_slice()],
                        service,
                        "client and server in one service"
                    );
                }
                if span.kind == SpanKind::Consumer as i32 {
                    assert_eq!(parent.kind, SpanKind::Producer as i32);
                }
            }
            if span.kind == SpanKind::Consumer as i32 {
                assert_eq!(span.links.len(), 1, "consumer linked to its producer");
                let linked = by_id
                    .get(span.links[0].span_id.as_slice())
                    .expect("linked span in trace");
                assert_eq!(linked.kind, SpanKind::Producer as i32);
            }
            links += span.links.len();
            if span
                .status
                .as_ref()
                .is_some_and(|status| status.code == StatusCode::Error as i32)
            {
                error_spans += 1;
                trace_has_error = true;
            }
            if span.events.iter().any(|event| event.name == "exception") {
                exception_spans += 1;
                assert!(
                    span.status
                        .as_ref()
                        .is_some_and(|status| status.code == StatusCode::Error as i32)
                );
            }
            if string_attr(&span.attributes, "db.system") == Some("postgresql") {
                assert!(string_attr(&span.attributes, "db.statement").is_some());
                if span.end_time_unix_nano - span.start_time_unix_nano > 100_000_000 {
                    slow_queries += 1;
                }
            }
            if span.kind == SpanKind::Server as i32 {
                match int_attr(&span.attributes, "http.response.status_code") {
                    Some(500..) => http_5xx += 1,
                    Some(400..=499) => http_4xx += 1,
                    Some(_) => {}
                    None => panic!("server span without status code"),
                }
            }
        }
        if trace_has_error {
            error_traces += 1;
        }
    }
    let mean_spans = spans_total as f64 / traces as f64;
    let error_trace_share = error_traces as f64 / traces as f64;
    println!(
        "spans/trace mean {mean_spans:.1} min {min_spans} max {max_spans}; error traces {error_trace_share:.3}; \
         error spans {error_spans}; exceptions {exception_spans}; links {links}; slow queries {slow_queries}; \
         5xx {http_5xx} 4xx {http_4xx}; attributes/span {:.1}; kinds {kinds:?}",
        attributes_total as f64 / spans_total as f64
    );
    assert_eq!(services.len(), 10, "services: {services:?}");
    for kind in [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Internal,
        SpanKind::Producer,
        SpanKind::Consumer,
    ] {
        assert!(
            kinds.get(&(kind as i32)).copied().unwrap_or(0) > traces / 20,
            "too few {kind:?} spans"
        );
    }
    for value_type in [
        "string", "int", "double", "bool", "bytes", "array", "kvlist",
    ] {
        assert!(types.contains(value_type), "no {value_type} attribute");
    }
    assert!(
        min_spans >= 5 && max_spans <= MAX_SPANS_PER_TRACE,
        "spans per trace {min_spans}..{max_spans}"
    );
    assert!(
        (17.0..=23.0).contains(&mean_spans),
        "mean spans per trace {mean_spans}"
    );
    assert!(
        (0.01..=0.10).contains(&error_trace_share),
        "error trace share {error_trace_share}"
    );
    assert!(exception_spans > 0 && slow_queries > 0 && http_5xx > 0 && http_4xx > 0);
    let attributes_per_span = attributes_total as f64 / spans_total as f64;
    assert!(
        (10.0..=20.0).contains(&attributes_per_span),
        "attributes per span {attributes_per_span}"
    );
}

#[test]
fn protobuf_size_per_span_is_realistic() {
    let mut generator = Generator::new(config(1));
    let (mut bytes, mut spans) = (0, 0);
    for request in generator.batches(2_000, 1000) {
        bytes += request.encoded_len();
        spans += crate::files::span_count(&request);
    }
    let bytes_per_span = bytes as f64 / spans as f64;
    println!("{bytes_per_span:.1} bytes per span over {spans} spans");
    assert!(
        (300.0..=500.0).contains(&bytes_per_span),
        "{bytes_per_span} bytes per span"
    );
}
