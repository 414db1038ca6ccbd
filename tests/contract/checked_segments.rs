//! The contract between the distributor and the ingester's flush (docs/adr/007-block-writer-speed.md):
//! a request the distributor regroups with `checked` set yields segments that the flush's full
//! scan takes (no fallback to `prost`) and that the light index (`EncodedTrace::scan_checked`)
//! reads exactly as the full scan does. Whatever the full scan would leave to `prost` clears
//! `checked`.

use contrail_distributor::{RegroupLimits, Regrouped, regroup_export_request};
use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::otlp::trace::v1::Span;
use contrail_storage::convert::{EncodedTrace, Scanned};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

fn regroup(body: &[u8]) -> Option<Regrouped> {
    regroup_export_request(body, RegroupLimits::default()).ok()
}

/// Every segment: the full scan takes it and the light index equals it.
fn assert_light_index_matches(regrouped: &Regrouped) {
    for segment in &regrouped.segments {
        let trace_id = segment.trace_id().expect("trace id");
        let full = EncodedTrace::scan(trace_id, vec![segment.trace.clone()]);
        assert!(
            matches!(full, Scanned::Ready { .. }),
            "a checked segment went to prost: {full:?}"
        );
        let light = EncodedTrace::scan_checked(trace_id, vec![segment.trace.clone()]);
        assert_eq!(format!("{light:?}"), format!("{full:?}"));
    }
}

#[test]
fn corpus_requests_are_checked_and_indexed_alike() {
    for seed in [1, 7, 42] {
        let mut generator = Generator::new(CorpusConfig {
            seed,
            ..CorpusConfig::default()
        });
        let body = generator.next_request(40).encode_to_vec();
        let regrouped = regroup(&body).expect("corpus request regroups");
        assert!(regrouped.checked, "seed {seed}: corpus request not checked");
        assert!(!regrouped.segments.is_empty());
        assert_light_index_matches(&regrouped);
    }
}

/// Random corruption of a real request (seeded): whatever the distributor accepts as checked
/// is indexed by the light walk as by the full scan.
#[test]
fn corrupted_requests_accepted_as_checked_are_indexed_alike() {
    let body = Generator::new(CorpusConfig::default())
        .next_request(3)
        .encode_to_vec();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut checked, mut unchecked) = (0, 0);
    for _ in 0..3000 {
        let mut corrupted = body.clone();
        for _ in 0..=(next() % 3) {
            let position = (next() % corrupted.len() as u64) as usize;
            corrupted[position] = (next() & 0xff) as u8;
        }
        match regroup(&corrupted) {
            Some(regrouped) if regrouped.checked => {
                checked += 1;
                assert_light_index_matches(&regrouped);
            }
            Some(_) => unchecked += 1,
            None => {}
        }
    }
    assert!(checked > 100, "{checked} checked, {unchecked} not");
}

fn field(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn span_bytes(extra: &[u8]) -> Vec<u8> {
    let mut bytes = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "op".into(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Span::default()
    }
    .encode_to_vec();
    bytes.extend_from_slice(extra);
    bytes
}

/// A request of one resource (its fields `resource_fields` before the scope spans) with one
/// scope (`scope_fields`) holding `span`.
fn request(resource_fields: &[u8], scope_fields: &[u8], span: &[u8]) -> Vec<u8> {
    let mut scope_spans = scope_fields.to_vec();
    field(&mut scope_spans, 2, span);
    let mut resource_spans = resource_fields.to_vec();
    field(&mut resource_spans, 2, &scope_spans);
    let mut body = Vec::new();
    field(&mut body, 1, &resource_spans);
    body
}

fn key_value(key: &str, value_fields: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    field(&mut bytes, 1, key.as_bytes());
    for value in value_fields {
        field(&mut bytes, 2, value);
    }
    bytes
}

fn string_value(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    field(&mut bytes, 1, text.as_bytes());
    bytes
}

#[test]
fn what_the_flush_leaves_to_prost_is_not_checked() {
    let mut resource = Vec::new();
    field(
        &mut resource,
        1,
        &key_value("service.name", &[&string_value("a")]),
    );
    let mut twice_resource = Vec::new();
    field(&mut twice_resource, 1, &resource);
    field(&mut twice_resource, 1, &resource);
    let mut twice_scope = Vec::new();
    field(&mut twice_scope, 1, &string_value("scope"));
    field(&mut twice_scope, 1, &string_value("scope"));

    let mut two_values = Vec::new();
    field(
        &mut two_values,
        9,
        &key_value("k", &[&string_value("a"), &string_value("b")]),
    );
    let mut string_and_int = string_value("a");
    encode_key(3, WireType::Varint, &mut string_and_int);
    encode_varint(5, &mut string_and_int);
    let mut two_kinds = Vec::new();
    field(&mut two_kinds, 9, &key_value("k", &[&string_and_int]));
    let mut status = Vec::new();
    encode_key(3, WireType::Varint, &mut status);
    encode_varint(2, &mut status);
    let mut two_statuses = Vec::new();
    field(&mut two_statuses, 15, &status);
    field(&mut two_statuses, 15, &status);
    // An attribute value nested 40 arrays deep.
    let mut deep = string_value("leaf");
    for _ in 0..40 {
        let mut array = Vec::new();
        field(&mut array, 1, &deep);
        deep = Vec::new();
        field(&mut deep, 5, &array);
    }
    let mut deep_attribute = Vec::new();
    field(&mut deep_attribute, 9, &key_value("k", &[&deep]));
    let mut group = Vec::new();
    encode_key(99, WireType::StartGroup, &mut group);
    encode_key(99, WireType::EndGroup, &mut group);

    let plain = span_bytes(&[]);
    let cases: [(&str, Vec<u8>); 7] = [
        ("resource twice", request(&twice_resource, &[], &plain)),
        ("scope twice", request(&[], &twice_scope, &plain)),
        (
            "a key-value with two values",
            request(&[], &[], &span_bytes(&two_values)),
        ),
        (
            "a value with two kinds",
            request(&[], &[], &span_bytes(&two_kinds)),
        ),
        (
            "two statuses",
            request(&[], &[], &span_bytes(&two_statuses)),
        ),
        (
            "deep nesting",
            request(&[], &[], &span_bytes(&deep_attribute)),
        ),
        (
            "a group-typed field",
            request(&[], &[], &span_bytes(&group)),
        ),
    ];
    for (name, body) in cases {
        let regrouped = regroup(&body).unwrap_or_else(|| panic!("{name}: regroups"));
        assert_eq!(regrouped.spans, 1, "{name}");
        assert!(!regrouped.checked, "{name}: marked checked");
    }
    // The same request without the oddity is checked.
    let regrouped = regroup(&request(&[], &[], &plain)).expect("regroups");
    assert!(regrouped.checked);
    assert_light_index_matches(&regrouped);
}
