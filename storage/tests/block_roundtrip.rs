//! OTLP → block → OTLP is the identity up to order, for arbitrary OTLP (property test) and for
//! the realistic corpus. Every block is really written to and read back from an in-memory store.
//! The wire path (`BlockWriter::push_encoded`, rows built from the encoded segments) writes the
//! same `data.parquet`, byte for byte, as the `prost` path (`push_trace`) for the same traces.

mod block_common;

use std::sync::Arc;

use block_common::{normalise_traces, small_config, write_block};
use contrail_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use contrail_proto::otlp::resource::v1::Resource;
use contrail_proto::otlp::trace::v1::span::{Event, Link};
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use contrail_proto::tempopb;
use contrail_storage::block::{
    BlockReader, BlockWriter, BlockWriterConfig, DATA_OBJECT, Uuid, WrittenBlock, object_path,
};
use contrail_storage::convert::{EncodedTrace, Scanned, Trace, split_by_trace};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use proptest::prelude::*;
use prost::Message;

async fn round_trip(traces: Vec<Trace>) -> Vec<Trace> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let written = write_block(store.clone(), small_config(), traces).await;
    let reader = BlockReader::open(store, written.meta.clone()).unwrap();
    let mut out = Vec::new();
    for row_group in 0..written.meta.row_groups.len() {
        out.extend(reader.read_row_group_traces(row_group).await.unwrap());
    }
    out
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(AnyValue { value: None }),
        ".{0,12}".prop_map(|text| AnyValue {
            value: Some(Value::StringValue(text))
        }),
        any::<bool>().prop_map(|flag| AnyValue {
            value: Some(Value::BoolValue(flag))
        }),
        any::<i64>().prop_map(|number| AnyValue {
            value: Some(Value::IntValue(number))
        }),
        any::<f64>().prop_map(|number| AnyValue {
            value: Some(Value::DoubleValue(number))
        }),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|raw| AnyValue {
            value: Some(Value::BytesValue(raw))
        }),
        any::<i32>().prop_map(|index| AnyValue {
            value: Some(Value::StringValueStrindex(index))
        }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values }))
            }),
            prop::collection::vec((key(), prop::option::of(inner)), 0..4).prop_map(|pairs| {
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: pairs
                            .into_iter()
                            .map(|(key, value)| KeyValue {
                                key,
                                value,
                                key_strindex: 0,
                            })
                            .collect(),
                    })),
                }
            }),
        ]
    })
}

/// Keys include the dedicated-column keys, so collisions with other types and duplicates occur.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("service.name".to_owned()),
        Just("http.status_code".to_owned()),
        Just("http.method".to_owned()),
        Just("http.response.status_code".to_owned()),
        Just("db.system".to_owned()),
        Just(String::new()),
        "[a-z.]{1,8}",
    ]
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        (
            key(),
            prop::option::of(any_value()),
            prop_oneof![9 => Just(0i32), 1 => 1..5i32],
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            })
            .collect()
    })
}

prop_compose! {
    fn event()(time_unix_nano in any::<u64>(), name in ".{0,6}", attributes in attributes(), dropped in any::<u32>()) -> Event {
        Event { time_unix_nano, name, attributes, dropped_attributes_count: dropped }
    }
}

prop_compose! {
    fn link()(trace_id in prop::collection::vec(any::<u8>(), 0..17), span_id in prop::collection::vec(any::<u8>(), 0..9),
              trace_state in ".{0,6}", attributes in attributes(), dropped in any::<u32>(), flags in any::<u32>()) -> Link {
        Link { trace_id, span_id, trace_state, attributes, dropped_attributes_count: dropped, flags }
    }
}

prop_compose! {
    fn span()(span_id in any::<[u8; 8]>(), parent_choice in 0..4u8, raw_parent in prop::collection::vec(any::<u8>(), 1..9),
              name in ".{0,8}", kind in 0..6i32, start in any::<u64>(), end in any::<u64>(),
              attributes in attributes(), events in prop::collection::vec(event(), 0..3),
              links in prop::collection::vec(link(), 0..2), status in prop::option::of((0..3i32, ".{0,6}")),
              trace_state in ".{0,6}", flags in any::<u32>(), dropped in any::<(u32, u32, u32)>()) -> (Span, u8, Vec<u8>) {
        let span = Span {
            trace_id: Vec::new(),
            span_id: span_id.to_vec(),
            trace_state,
            parent_span_id: Vec::new(),
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: dropped.0,
            events,
            dropped_events_count: dropped.1,
            links,
            dropped_links_count: dropped.2,
            status: status.map(|(code, message)| Status { message, code }),
        };
        (span, parent_choice, raw_parent)
    }
}

prop_compose! {
    fn resource_spans()(resource in prop::option::of((attributes(), any::<u32>())), schema_url in ".{0,4}",
                        scopes in prop::collection::vec((prop::option::of((".{0,4}", ".{0,4}", attributes(), any::<u32>())), ".{0,4}",
                                                         prop::collection::vec(span(), 1..6)), 1..3)) -> ResourceSpans {
        ResourceSpans {
            resource: resource.map(|(attributes, dropped)| Resource { attributes, dropped_attributes_count: dropped, entity_refs: Vec::new() }),
            schema_url,
            scope_spans: scopes.into_iter().map(|(scope, schema_url, spans)| ScopeSpans {
                scope: scope.map(|(name, version, attributes, dropped)| InstrumentationScope { name, version, attributes, dropped_attributes_count: dropped }),
                schema_url,
                spans: spans.into_iter().map(|(span, _, _)| span).collect(),
            }).collect(),
        }
    }
}

prop_compose! {
    /// Up to 6 traces: spans get a trace ID and a parent that is in the trace, missing, itself,
    /// or absent.
    fn traces()(groups in prop::collection::vec(resource_spans(), 1..5), trace_count in 1..6usize,
                choices in prop::collection::vec((any::<usize>(), 0..4u8, prop::collection::vec(any::<u8>(), 1..9)), 64)) -> Vec<ResourceSpans> {
        let mut groups = groups;
        let mut ids: Vec<Vec<u8>> = Vec::new();
        let mut counter = 0usize;
        for group in &mut groups {
            for scope in &mut group.scope_spans {
                for span in &mut scope.spans {
                    let (pick, parent_kind, raw) = &choices[counter % choices.len()];
                    counter += 1;
                    let trace = pick % trace_count;
                    span.trace_id = vec![trace as u8 + 1; 16];
                    span.parent_span_id = match parent_kind {
                        0 => Vec::new(),
                        1 if !ids.is_empty() => ids[pick % ids.len()].clone(),
                        2 => span.span_id.clone(),
                        _ => raw.clone(),
                    };
                    ids.push(span.span_id.clone());
                }
            }
        }
        groups
    }
}

fn to_traces(groups: Vec<ResourceSpans>) -> Vec<Trace> {
    split_by_trace(groups)
        .unwrap()
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect()
}

/// Each resource group of `trace` as its own encoded `tempopb.Trace` segment, scanned.
fn encoded(trace: &Trace) -> EncodedTrace {
    let chunks = trace
        .resource_spans
        .iter()
        .map(|group| {
            tempopb::Trace {
                resource_spans: vec![group.clone()],
            }
            .encode_to_vec()
            .into()
        })
        .collect();
    match EncodedTrace::scan(trace.trace_id, chunks) {
        Scanned::Ready {
            trace: Some(encoded),
            invalid_spans: 0,
        } => encoded,
        other => panic!("the wire path refused trace {}: {other:?}", trace.trace_id),
    }
}

async fn read_all(store: Arc<dyn ObjectStore>, written: &WrittenBlock) -> Vec<Trace> {
    let reader = BlockReader::open(store, written.meta.clone()).unwrap();
    let mut out = Vec::new();
    for row_group in 0..written.meta.row_groups.len() {
        out.extend(reader.read_row_group_traces(row_group).await.unwrap());
    }
    out
}

async fn data_bytes(store: &dyn ObjectStore, written: &WrittenBlock) -> bytes::Bytes {
    let path = object_path(&written.meta.tenant_id, &written.meta.block_id, DATA_OBJECT);
    store.get(&path).await.unwrap().bytes().await.unwrap()
}

/// Writes `traces` both ways with the same config; returns (prost path, wire path) traces read
/// back, after checking that both `data.parquet` objects are the same bytes.
async fn both_ways(traces: Vec<Trace>) -> (Vec<Trace>, Vec<Trace>) {
    let config = BlockWriterConfig {
        block_id: Uuid::from_u128(7),
        ..small_config()
    };
    let old_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let old = write_block(old_store.clone(), config.clone(), traces.clone()).await;
    let new_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut writer = BlockWriter::new(new_store.clone(), config).unwrap();
    for trace in &traces {
        writer.push_encoded(encoded(trace)).await.unwrap();
    }
    let new = writer.finish().await.unwrap();
    assert_eq!(old.meta, new.meta);
    let (old_bytes, new_bytes) = (
        data_bytes(old_store.as_ref(), &old).await,
        data_bytes(new_store.as_ref(), &new).await,
    );
    assert!(
        old_bytes == new_bytes,
        "data.parquet differs between the two paths"
    );
    (
        read_all(old_store, &old).await,
        read_all(new_store, &new).await,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_wire_path_writes_the_block_the_prost_path_writes(groups in traces()) {
        let traces = to_traces(groups);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (old, new) = runtime.block_on(both_ways(traces.clone()));
        prop_assert_eq!(&old, &new);
        prop_assert_eq!(normalise_traces(&new), normalise_traces(&traces));
    }

    #[test]
    fn otlp_to_block_to_otlp_is_the_identity_up_to_order(groups in traces()) {
        let traces = to_traces(groups);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let back = runtime.block_on(round_trip(traces.clone()));
        prop_assert_eq!(normalise_traces(&back), normalise_traces(&traces));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_realistic_corpus_round_trips() {
    let traces = block_common::corpus_traces(3, 400);
    let back = round_trip(traces.clone()).await;
    assert_eq!(back.len(), traces.len());
    assert_eq!(normalise_traces(&back), normalise_traces(&traces));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_path_writes_the_corpus_block_the_prost_path_writes() {
    let traces = block_common::corpus_traces(5, 400);
    let (old, new) = both_ways(traces.clone()).await;
    assert_eq!(old.len(), traces.len());
    for (old, new) in old.iter().zip(&new) {
        assert_eq!(old, new, "trace {}", old.trace_id);
    }
    assert_eq!(normalise_traces(&new), normalise_traces(&traces));
}
