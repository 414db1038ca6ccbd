use std::collections::BTreeSet;

use bytes::Bytes;
use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use contrail_proto::otlp::trace::v1::span::{Event, Link};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::scan::{PatchKind, scan_request};
use super::{EncodedPool, PASS_STAMP_BYTES};
use crate::corpus::CorpusConfig;
use crate::error::Error;

fn small_pool() -> EncodedPool {
    EncodedPool::generate(
        CorpusConfig {
            seed: 7,
            ..CorpusConfig::default()
        },
        6,
        300,
    )
    .unwrap()
}

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("a stamped request is valid protobuf")
}

fn spans_mut(request: &mut ExportTraceServiceRequest) -> impl Iterator<Item = &mut Span> {
    request
        .resource_spans
        .iter_mut()
        .flat_map(|resource_spans| &mut resource_spans.scope_spans)
        .flat_map(|scope_spans| &mut scope_spans.spans)
}

fn spans(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .flat_map(|scope_spans| &scope_spans.spans)
}

/// What a pass does to a trace ID, done by hand (IDs that are not 16 bytes stay as they are).
fn stamp_trace_id(trace_id: &mut [u8], pass: u32) {
    if trace_id.len() != 16 {
        return;
    }
    for (byte, stamp) in trace_id[PASS_STAMP_BYTES]
        .iter_mut()
        .zip(pass.to_be_bytes())
    {
        *byte ^= stamp;
    }
}

/// The original request with pass `pass` applied by hand, on the decoded message.
fn expected_after_stamp(
    mut request: ExportTraceServiceRequest,
    pass: u32,
    shift_nanos: u64,
) -> ExportTraceServiceRequest {
    let shift = u64::from(pass) * shift_nanos;
    for span in spans_mut(&mut request) {
        stamp_trace_id(&mut span.trace_id, pass);
        span.start_time_unix_nano += shift;
        span.end_time_unix_nano += shift;
        for event in &mut span.events {
            event.time_unix_nano += shift;
        }
        for link in &mut span.links {
            stamp_trace_id(&mut link.trace_id, pass);
        }
    }
    request
}

#[test]
fn stamped_requests_are_the_original_but_for_trace_ids_and_times() {
    let pool = small_pool();
    assert_eq!(pool.len(), 6);
    assert!(pool.pass_shift_nanos() > 0);
    let mut links_seen = 0;
    for index in 0..pool.len() {
        let original = decode(&pool.stamped(index, 0));
        links_seen += spans(&original).map(|span| span.links.len()).sum::<usize>();
        assert_eq!(spans(&original).count(), pool.spans_of(index));
        for pass in [1, 2, 0xdead_beef] {
            let stamped_bytes = pool.stamped(index, pass);
            assert_eq!(stamped_bytes.len(), pool.stamped(index, 0).len());
            let stamped = decode(&stamped_bytes);
            assert_eq!(spans(&stamped).count(), pool.spans_of(index));
            let expected = expected_after_stamp(original.clone(), pass, pool.pass_shift_nanos());
            assert_eq!(stamped, expected, "request {index} pass {pass}");
            // and the stamp really changed something: not the original bytes
            assert_ne!(stamped, original);
        }
    }
    assert!(
        links_seen > 0,
        "the corpus has links, so link ids were checked"
    );
}

#[test]
fn trace_ids_are_distinct_across_passes_and_links_follow_their_trace() {
    let pool = small_pool();
    let passes = 5;
    let mut per_pass: Vec<BTreeSet<Vec<u8>>> = Vec::new();
    for pass in 0..passes {
        let mut trace_ids = BTreeSet::new();
        let mut linked = BTreeSet::new();
        for index in 0..pool.len() {
            let request = decode(&pool.stamped(index, pass));
            for span in spans(&request) {
                assert_eq!(span.trace_id.len(), 16);
                trace_ids.insert(span.trace_id.clone());
                linked.extend(span.links.iter().map(|link| link.trace_id.clone()));
            }
        }
        // a link points at a trace of the same pass
        assert!(linked.is_subset(&trace_ids), "pass {pass}");
        per_pass.push(trace_ids);
    }
    let distinct_in_one_pass = per_pass[0].len();
    assert!(distinct_in_one_pass > 10);
    let all: BTreeSet<&Vec<u8>> = per_pass.iter().flatten().collect();
    assert_eq!(all.len(), distinct_in_one_pass * passes as usize);
}

fn text_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// A hand-made request: links, events, attributes, a short trace ID and fields around them.
fn hand_made_request() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: vec![0x11; 16],
        span_id: vec![0x22; 8],
        parent_span_id: vec![0x33; 8],
        name: "GET /cart".to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![text_attribute("http.route", "/cart")],
        events: vec![Event {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "exception".to_owned(),
            attributes: vec![text_attribute("exception.type", "Timeout")],
            dropped_attributes_count: 0,
        }],
        links: vec![
            Link {
                trace_id: vec![0x44; 16],
                span_id: vec![0x55; 8],
                ..Link::default()
            },
            // invalid (not 16 bytes): left alone
            Link {
                trace_id: vec![0x66; 4],
                span_id: vec![0x77; 8],
                ..Link::default()
            },
        ],
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![
                    span.clone(),
                    Span {
                        trace_id: vec![0x88; 16],
                        links: Vec::new(),
                        events: Vec::new(),
                        ..span
                    },
                ],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn offsets_point_at_trace_ids_of_spans_and_links_and_at_every_time() {
    let request = hand_made_request();
    let bytes = request.encode_to_vec();
    let scanned = scan_request(&bytes).unwrap();
    assert_eq!(scanned.spans, 2);
    let at = |kind: PatchKind| -> Vec<Vec<u8>> {
        scanned
            .patches
            .iter()
            .filter(|patch| patch.kind == kind)
            .map(|patch| bytes[patch.offset as usize..][..kind.len()].to_vec())
            .collect()
    };
    assert_eq!(
        at(PatchKind::TraceId),
        vec![vec![0x11; 16], vec![0x44; 16], vec![0x88; 16]]
    );
    let times: Vec<u64> = at(PatchKind::Timestamp)
        .iter()
        .map(|value| u64::from_le_bytes(value.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(
        times,
        vec![
            1_700_000_000_000_000_000,
            1_700_000_000_500_000_000,
            1_700_000_000_100_000_000,
            1_700_000_000_000_000_000,
            1_700_000_000_500_000_000,
        ]
    );
    let offsets: Vec<u32> = scanned.patches.iter().map(|patch| patch.offset).collect();
    assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(
        scanned.time_range_opt,
        Some((1_700_000_000_000_000_000, 1_700_000_000_500_000_000))
    );

    let pool = EncodedPool::from_encoded(vec![Bytes::from(bytes)]).unwrap();
    assert_eq!(pool.pass_shift_nanos(), 500_000_001);
    let stamped = decode(&pool.stamped(0, 3));
    let expected = expected_after_stamp(request, 3, 500_000_001);
    assert_eq!(stamped, expected);
    let short_link = &spans(&stamped).next().unwrap().links[1];
    assert_eq!(short_link.trace_id, vec![0x66; 4], "invalid id left alone");
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let bytes = hand_made_request().encode_to_vec();
    for cut in [1, 5, bytes.len() / 2, bytes.len() - 1] {
        let truncated = Bytes::copy_from_slice(&bytes[..cut]);
        let error = EncodedPool::from_encoded(vec![truncated]).unwrap_err();
        assert!(matches!(error, Error::Wire { .. }), "cut at {cut}: {error}");
    }
    // a group (wire type 3) and a field number 0
    for garbage in [&[0x0b_u8, 0x00][..], &[0x02, 0x00]] {
        let error = EncodedPool::from_encoded(vec![Bytes::copy_from_slice(garbage)]).unwrap_err();
        assert!(matches!(error, Error::Wire { .. }), "{garbage:?}: {error}");
    }
    assert!(matches!(
        EncodedPool::from_encoded(Vec::new()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        EncodedPool::generate(CorpusConfig::default(), 0, 1000),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_pool_read_from_files_replays_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("contrail-preencoded-{}", std::process::id()));
    let summary = crate::files::write_corpus(&dir, CorpusConfig::default(), 40, 250).unwrap();
    let pool = EncodedPool::from_files(&dir).unwrap();
    assert_eq!(pool.len() as u64, summary.batches);
    assert_eq!(pool.summary().spans, summary.spans);
    assert_eq!(pool.summary().bytes, summary.bytes);
    let first_file = std::fs::read(dir.join("batch-000000.pb")).unwrap();
    assert_eq!(pool.stamped(0, 0).as_ref(), first_file.as_slice());
    std::fs::remove_dir_all(dir).unwrap();
}
