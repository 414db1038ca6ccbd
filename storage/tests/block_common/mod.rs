//! Helpers shared by the block tests: corpus traces, writing a block into a store, and the
//! order normalisation used to compare OTLP before and after a round trip.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;

use contrail_loadgen::corpus::{CorpusConfig, Generator};
use contrail_proto::otlp::common::v1::KeyValue;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use contrail_proto::{TenantId, TraceId};
use contrail_storage::block::{BlockWriter, BlockWriterConfig, WrittenBlock};
use contrail_storage::convert::{Trace, split_by_trace};
use object_store::ObjectStore;
use prost::Message;

/// `count` traces of the realistic corpus, sorted by trace ID.
pub fn corpus_traces(seed: u64, count: usize) -> Vec<Trace> {
    let mut generator = Generator::new(CorpusConfig {
        seed,
        ..CorpusConfig::default()
    });
    let mut all = Vec::new();
    for _ in 0..count {
        all.extend(generator.next_trace());
    }
    split_by_trace(all)
        .expect("corpus trace IDs are 16 bytes")
        .into_iter()
        .map(|(trace_id, resource_spans)| Trace {
            trace_id,
            resource_spans,
        })
        .collect()
}

pub fn tenant() -> TenantId {
    TenantId::new("single-tenant").expect("valid tenant")
}

/// Writes `traces` (sorted) as one block.
pub async fn write_block(
    store: Arc<dyn ObjectStore>,
    config: BlockWriterConfig,
    traces: Vec<Trace>,
) -> WrittenBlock {
    let mut writer = BlockWriter::new(store, config).expect("writer");
    for trace in traces {
        writer.push_trace(trace).await.expect("push");
    }
    writer.finish().await.expect("finish")
}

/// A small-row-group config so tests see several row groups and several pages.
pub fn small_config() -> BlockWriterConfig {
    let mut config = BlockWriterConfig::new(tenant());
    config.row_group_target_bytes = 64 * 1024;
    config.batch_spans = 500;
    config.parquet.data_page_size_bytes = 8 * 1024;
    config.bloom_shard_max_bytes = 256;
    config
}

fn sort_attrs(attrs: &mut [KeyValue]) {
    attrs.sort_by_cached_key(|attr| attr.encode_to_vec());
}

fn normal_span(span: &Span) -> Vec<u8> {
    let mut span = span.clone();
    sort_attrs(&mut span.attributes);
    for event in &mut span.events {
        sort_attrs(&mut event.attributes);
    }
    for link in &mut span.links {
        sort_attrs(&mut link.attributes);
    }
    span.encode_to_vec()
}

fn normal_resource(resource_spans: &ResourceSpans) -> Vec<u8> {
    let mut entry = ResourceSpans {
        resource: resource_spans.resource.clone(),
        scope_spans: Vec::new(),
        schema_url: resource_spans.schema_url.clone(),
    };
    if let Some(resource) = &mut entry.resource {
        sort_attrs(&mut resource.attributes);
    }
    entry.encode_to_vec()
}

fn normal_scope(scope_spans: &ScopeSpans) -> Vec<u8> {
    let mut entry = ScopeSpans {
        scope: scope_spans.scope.clone(),
        spans: Vec::new(),
        schema_url: scope_spans.schema_url.clone(),
    };
    if let Some(scope) = &mut entry.scope {
        sort_attrs(&mut scope.attributes);
    }
    entry.encode_to_vec()
}

/// The order-free content of some `ResourceSpans`: a sorted multiset of (resource, scope, span)
/// encodings with attribute lists sorted.
pub fn normalise(resource_spans: &[ResourceSpans]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for resource_span in resource_spans {
        let resource = normal_resource(resource_span);
        for scope_span in &resource_span.scope_spans {
            let scope = normal_scope(scope_span);
            for span in &scope_span.spans {
                out.push((resource.clone(), scope.clone(), normal_span(span)));
            }
        }
    }
    out.sort();
    out
}

/// One span normalised for comparison: encoded resource, scope and span.
pub type NormalisedSpan = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Normalised content per trace ID.
pub fn normalise_traces(traces: &[Trace]) -> BTreeMap<TraceId, Vec<NormalisedSpan>> {
    let mut out: BTreeMap<TraceId, Vec<_>> = BTreeMap::new();
    for trace in traces {
        out.entry(trace.trace_id)
            .or_default()
            .extend(normalise(&trace.resource_spans));
    }
    for spans in out.values_mut() {
        spans.sort();
    }
    out
}
