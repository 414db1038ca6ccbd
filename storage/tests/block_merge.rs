//! The k-way merge of vc1 blocks (`block::v1::merge`): spans in = spans out minus exact
//! duplicates, split traces stored exactly as if written in one piece, resource and scope tables
//! remapped losslessly, the output readable by `find_trace` and `batch_to_traces`, and bad
//! inputs refused with an error naming them; the compactor's encoding of compacted blocks
//! changes bytes only, never what the reader or search returns.

mod block_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use block_common::{corpus_traces, normalise_traces, small_config, tenant, write_block};
use contrail_proto::TraceId;
use contrail_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};
use contrail_storage::block::v1::merge::{MergeOptions, MergedBlock, merge_blocks};
use contrail_storage::block::v1::search::block_units;
use contrail_storage::block::{
    BlockMeta, BlockReader, BlockWriterConfig, ParquetOptions, Projection,
};
use contrail_storage::convert::{Trace, batch_to_traces};
use contrail_storage::{Error, block};
use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic, Static};
use contrail_traceql::fetch::{
    Combine, Condition, ConditionOp, FetchRequest, MemoryBudget, SpanSource,
};
use contrail_traceql::value::CompareOp;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::basic::Encoding;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

/// Small batches and slices, so traces cross batch and slice boundaries.
fn tight_options() -> MergeOptions {
    MergeOptions {
        slice_rows: 300,
        batch_rows: 37,
        output_batch_rows: 200,
        column_batch_rows: 53,
    }
}

async fn merge(
    store: &Arc<dyn ObjectStore>,
    inputs: Vec<BlockMeta>,
    options: MergeOptions,
) -> MergedBlock {
    let mut config = small_config();
    config.compaction_level = 1;
    config.compacted_from = inputs.iter().map(|meta| meta.block_id).collect();
    merge_blocks(store.clone(), inputs, config, options)
        .await
        .expect("merge")
        .finish()
        .await
        .expect("finish")
}

/// Every trace of a block: each row group's rows through `batch_to_traces`.
async fn read_all(store: &Arc<dyn ObjectStore>, meta: &BlockMeta) -> Vec<Trace> {
    let reader = BlockReader::open(store.clone(), meta.clone()).expect("open");
    let tables = reader.tables().await.expect("tables");
    let mut traces = Vec::new();
    for batch in all_rows(store, meta).await {
        traces.extend(batch_to_traces(&batch, &tables).expect("rows decode"));
    }
    traces
}

/// Every row of a block, one batch per row group.
async fn all_rows(store: &Arc<dyn ObjectStore>, meta: &BlockMeta) -> Vec<RecordBatch> {
    let reader = BlockReader::open(store.clone(), meta.clone()).expect("open");
    let mut batches = Vec::new();
    for row_group in 0..meta.total_records as usize {
        let parts = reader
            .read_row_group(row_group, &Projection::All)
            .await
            .expect("row group");
        let schema = parts[0].schema();
        batches.push(arrow::compute::concat_batches(&schema, &parts).expect("concat"));
    }
    batches
}

/// Splits the spans of `trace` over `parts` traces at random, keeping each span's resource and
/// scope; with `duplicate_fraction`, a span also goes into a second part.
fn split(trace: &Trace, parts: usize, duplicate_fraction: f64, rng: &mut StdRng) -> Vec<Trace> {
    let mut out: Vec<Vec<ResourceSpans>> = vec![Vec::new(); parts];
    for resource_spans in &trace.resource_spans {
        for scope_spans in &resource_spans.scope_spans {
            let mut per_part: Vec<Vec<_>> = vec![Vec::new(); parts];
            for span in &scope_spans.spans {
                let first = rng.random_range(0..parts);
                per_part[first].push(span.clone());
                if rng.random_bool(duplicate_fraction) {
                    per_part[(first + 1) % parts].push(span.clone());
                }
            }
            for (part, spans) in per_part.into_iter().enumerate() {
                if spans.is_empty() {
                    continue;
                }
                out[part].push(ResourceSpans {
                    resource: resource_spans.resource.clone(),
                    schema_url: resource_spans.schema_url.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: scope_spans.scope.clone(),
                        spans,
                        schema_url: scope_spans.schema_url.clone(),
                    }],
                });
            }
        }
    }
    out.into_iter()
        .filter(|resource_spans| !resource_spans.is_empty())
        .map(|resource_spans| Trace {
            trace_id: trace.trace_id,
            resource_spans,
        })
        .collect()
}

fn spans_of(traces: &[Trace]) -> u64 {
    traces.iter().map(|trace| trace.span_count() as u64).sum()
}

#[tokio::test]
async fn disjoint_blocks_merge_into_one_sorted_block_with_every_span() {
    let store = memory();
    let traces = corpus_traces(11, 300);
    let mut inputs = Vec::new();
    for part in 0..3 {
        let chunk: Vec<Trace> = traces
            .iter()
            .enumerate()
            .filter(|(index, _)| index % 3 == part)
            .map(|(_, trace)| trace.clone())
            .collect();
        inputs.push(write_block(store.clone(), small_config(), chunk).await.meta);
    }
    let merged = merge(&store, inputs.clone(), tight_options()).await;
    let meta = &merged.written.meta;
    assert_eq!(merged.stats.input_spans, spans_of(&traces));
    assert_eq!(merged.stats.output_spans, spans_of(&traces));
    assert_eq!(merged.stats.duplicate_spans, 0);
    assert_eq!(merged.stats.rebuilt_traces, 0);
    assert_eq!(meta.total_spans, spans_of(&traces));
    assert_eq!(meta.total_objects, traces.len() as u64);
    assert_eq!(meta.compaction_level, 1);
    assert_eq!(
        meta.compacted_from,
        inputs.iter().map(|m| m.block_id).collect::<Vec<_>>()
    );
    assert!(meta.total_records > 1, "small row groups give several");
    for pair in meta.row_groups.windows(2) {
        assert!(pair[0].max_id < pair[1].min_id, "row groups overlap");
    }
    let read = read_all(&store, meta).await;
    let ids: Vec<TraceId> = read.iter().map(|trace| trace.trace_id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        ids, sorted,
        "one row group run per trace, in trace-ID order"
    );
    assert_eq!(normalise_traces(&read), normalise_traces(&traces));
    // The same through trace by ID (bloom, row-group stats, pages).
    let reader = BlockReader::open(store.clone(), meta.clone()).expect("open");
    for trace in traces.iter().step_by(17) {
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .expect("find")
            .expect("present");
        assert_eq!(
            normalise_traces(std::slice::from_ref(&found)),
            normalise_traces(std::slice::from_ref(trace))
        );
    }
}

#[tokio::test]
async fn rf3_copies_are_stored_once() {
    let store = memory();
    let traces = corpus_traces(12, 200);
    let mut inputs = Vec::new();
    for _replica in 0..3 {
        inputs.push(
            write_block(store.clone(), small_config(), traces.clone())
                .await
                .meta,
        );
    }
    let merged = merge(&store, inputs, tight_options()).await;
    let spans = spans_of(&traces);
    assert_eq!(merged.stats.input_spans, 3 * spans);
    assert_eq!(merged.stats.duplicate_spans, 2 * spans);
    assert_eq!(merged.stats.output_spans, spans);
    assert_eq!(
        merged.stats.rebuilt_traces, 0,
        "identical copies keep their rows"
    );
    let read = read_all(&store, &merged.written.meta).await;
    assert_eq!(normalise_traces(&read), normalise_traces(&traces));
}

/// The trace-level and structural columns of each trace, in row order.
fn structure(batches: &[RecordBatch]) -> BTreeMap<Vec<u8>, Vec<String>> {
    let mut out: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    let columns = [
        "trace_start_unix_nano",
        "trace_duration_nano",
        "root_service_name",
        "root_span_name",
        "span_id",
        "parent_index",
        "parent_span_id",
        "nested_set_left",
        "nested_set_right",
        "start_offset_nano",
        "duration_nano",
    ];
    for batch in batches {
        let trace_ids = batch
            .column_by_name("trace_id")
            .expect("trace_id")
            .as_any()
            .downcast_ref::<arrow::array::FixedSizeBinaryArray>()
            .expect("fixed binary")
            .clone();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = columns
                .iter()
                .map(|name| {
                    let column = batch.column_by_name(name).expect("column");
                    arrow::util::display::array_value_to_string(column, row).expect("display")
                })
                .collect();
            out.entry(trace_ids.value(row).to_vec())
                .or_default()
                .push(values.join("|"));
        }
    }
    out
}

#[tokio::test]
async fn split_traces_get_the_fields_and_nested_sets_of_the_whole_trace() {
    let store = memory();
    let traces = corpus_traces(13, 150);
    let mut rng = StdRng::seed_from_u64(7);
    let mut parts: Vec<Vec<Trace>> = vec![Vec::new(); 3];
    for trace in &traces {
        for (part, piece) in split(trace, 3, 0.2, &mut rng).into_iter().enumerate() {
            parts[part].push(piece);
        }
    }
    let duplicates_written: u64 =
        parts.iter().map(|part| spans_of(part)).sum::<u64>() - spans_of(&traces);
    assert!(duplicates_written > 0, "the split duplicates some spans");
    let mut inputs = Vec::new();
    for part in parts {
        inputs.push(write_block(store.clone(), small_config(), part).await.meta);
    }
    let merged = merge(&store, inputs, tight_options()).await;
    assert_eq!(merged.stats.output_spans, spans_of(&traces));
    assert_eq!(merged.stats.duplicate_spans, duplicates_written);
    assert!(merged.stats.rebuilt_traces > 100, "{:?}", merged.stats);

    let whole = write_block(store.clone(), small_config(), traces.clone()).await;
    let expected = structure(&all_rows(&store, &whole.meta).await);
    let actual = structure(&all_rows(&store, &merged.written.meta).await);
    assert_eq!(actual.len(), expected.len());
    for (trace_id, rows) in &expected {
        assert_eq!(
            actual.get(trace_id),
            Some(rows),
            "trace {}",
            hex::encode(trace_id)
        );
    }
    let read = read_all(&store, &merged.written.meta).await;
    assert_eq!(normalise_traces(&read), normalise_traces(&traces));
    // Row-group time ranges and the block's cover the recomputed traces.
    let meta = &merged.written.meta;
    assert_eq!(meta.start_time, whole.meta.start_time);
    assert_eq!(meta.end_time, whole.meta.end_time);
}

#[tokio::test]
async fn a_long_trace_split_across_blocks_gets_its_true_duration_and_root() {
    let store = memory();
    let traces = corpus_traces(14, 20);
    let mut early = traces.clone();
    let mut late = Vec::new();
    // Move the root span of every trace into a block of its own: the other block's copy has no
    // root and a shorter duration.
    for trace in &mut early {
        let mut root_part = trace.clone();
        for resource_spans in &mut trace.resource_spans {
            for scope_spans in &mut resource_spans.scope_spans {
                scope_spans
                    .spans
                    .retain(|span| !span.parent_span_id.is_empty());
            }
        }
        for resource_spans in &mut root_part.resource_spans {
            for scope_spans in &mut resource_spans.scope_spans {
                scope_spans
                    .spans
                    .retain(|span| span.parent_span_id.is_empty());
            }
        }
        late.push(root_part);
    }
    let a = write_block(store.clone(), small_config(), early).await.meta;
    let b = write_block(store.clone(), small_config(), late).await.meta;
    let merged = merge(&store, vec![a, b], MergeOptions::default()).await;
    let whole = write_block(store.clone(), small_config(), traces).await;
    assert_eq!(
        structure(&all_rows(&store, &merged.written.meta).await),
        structure(&all_rows(&store, &whole.meta).await)
    );
}

#[tokio::test]
async fn resource_and_scope_tables_are_merged_without_losing_an_entry() {
    let store = memory();
    let first = corpus_traces(15, 80);
    let second = corpus_traces(16, 80);
    let a = write_block(store.clone(), small_config(), first.clone())
        .await
        .meta;
    let b = write_block(store.clone(), small_config(), second.clone())
        .await
        .meta;
    let tables_a = BlockReader::open(store.clone(), a.clone())
        .expect("open")
        .tables()
        .await
        .expect("tables");
    let tables_b = BlockReader::open(store.clone(), b.clone())
        .expect("open")
        .tables()
        .await
        .expect("tables");
    let merged = merge(&store, vec![a, b], MergeOptions::default()).await;
    let out = BlockReader::open(store.clone(), merged.written.meta.clone())
        .expect("open")
        .tables()
        .await
        .expect("tables");
    // Identical entries are shared, none is lost.
    assert!(out.resource_count() >= tables_a.resource_count().max(tables_b.resource_count()));
    assert!(out.resource_count() <= tables_a.resource_count() + tables_b.resource_count());
    let mut all = first;
    all.extend(second);
    all.sort_by_key(|trace| trace.trace_id);
    let read = read_all(&store, &merged.written.meta).await;
    assert_eq!(normalise_traces(&read), normalise_traces(&all));
}

#[tokio::test]
async fn a_span_stored_twice_in_one_block_is_kept_once() {
    let store = memory();
    let mut traces = corpus_traces(17, 30);
    let mut extra = 0u64;
    for trace in traces.iter_mut().step_by(3) {
        let scope_spans = &mut trace.resource_spans[0].scope_spans[0];
        let copy = scope_spans.spans[0].clone();
        scope_spans.spans.push(copy);
        extra += 1;
    }
    let a = write_block(store.clone(), small_config(), traces.clone())
        .await
        .meta;
    let merged = merge(&store, vec![a], tight_options()).await;
    assert_eq!(merged.stats.duplicate_spans, extra);
    assert_eq!(merged.stats.output_spans, spans_of(&traces) - extra);
}

#[tokio::test]
async fn bad_inputs_are_refused_naming_what_is_wrong() {
    let store = memory();
    let good = write_block(store.clone(), small_config(), corpus_traces(18, 40))
        .await
        .meta;
    let empty = merge_blocks(
        store.clone(),
        Vec::new(),
        small_config(),
        MergeOptions::default(),
    )
    .await
    .expect_err("no inputs");
    assert!(empty.to_string().contains("at least one input"), "{empty}");

    let other_tenant =
        BlockWriterConfig::new(contrail_proto::TenantId::new("other").expect("tenant"));
    let error = merge_blocks(
        store.clone(),
        vec![good.clone()],
        other_tenant,
        MergeOptions::default(),
    )
    .await
    .expect_err("tenant mismatch");
    assert!(error.to_string().contains("tenant"), "{error}");

    // Corrupt pages: flip bytes in the middle of data.parquet (the footer stays valid).
    let path = block::object_path(&tenant(), &good.block_id, block::DATA_OBJECT);
    let mut bytes = store
        .get(&path)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes")
        .to_vec();
    let footer_start = bytes.len() - good.footer_size as usize;
    for byte in &mut bytes[footer_start / 4..footer_start / 2] {
        *byte ^= 0x5a;
    }
    store
        .put(&path, PutPayload::from(bytes))
        .await
        .expect("put");
    let error = merge_blocks(
        store.clone(),
        vec![good.clone()],
        small_config(),
        tight_options(),
    )
    .await
    .expect_err("corrupt input");
    assert!(matches!(error, Error::CorruptBlock { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&good.block_id.to_string()),
        "{error}"
    );

    // A meta that claims more spans than the data holds.
    let store = memory();
    let mut lying = write_block(store.clone(), small_config(), corpus_traces(19, 10))
        .await
        .meta;
    lying.total_spans += 5;
    let error = merge_blocks(
        store.clone(),
        vec![lying],
        small_config(),
        MergeOptions::default(),
    )
    .await
    .expect_err("span count mismatch");
    assert!(error.to_string().contains("metas say"), "{error}");
}

#[tokio::test]
async fn nothing_is_visible_before_finish() {
    let store = memory();
    let a = write_block(store.clone(), small_config(), corpus_traces(20, 40))
        .await
        .meta;
    let b = write_block(store.clone(), small_config(), corpus_traces(21, 40))
        .await
        .meta;
    let config = small_config();
    let output = config.block_id;
    let pending = merge_blocks(store.clone(), vec![a, b], config, MergeOptions::default())
        .await
        .expect("merge");
    assert_eq!(pending.stats().output_spans, pending.stats().input_spans);
    let listed = block::list_blocks(store.clone(), &tenant())
        .await
        .expect("list");
    assert!(listed.live.iter().all(|meta| meta.block_id != output));
    drop(pending);
    let listed = block::list_blocks(store.clone(), &tenant())
        .await
        .expect("list");
    assert_eq!(listed.live.len(), 2, "an abandoned merge leaves no block");
}

/// The compactor's encoding of compacted blocks (`compactor.compaction` defaults, with pages
/// small enough that chunks have several): BYTE_STREAM_SPLIT integers, a separate zstd level
/// for attribute strings, page row limits.
fn compacted_encoding() -> ParquetOptions {
    ParquetOptions {
        zstd_level: 6,
        attribute_string_zstd_level: Some(9),
        byte_stream_split_integers: true,
        data_page_row_limit: 700,
        data_page_size_bytes: 1024 * 1024,
        ..ParquetOptions::default()
    }
}

/// Span IDs a search of the whole block returns.
async fn search(
    store: &Arc<dyn ObjectStore>,
    meta: &BlockMeta,
    conditions: &[Condition],
) -> BTreeSet<Vec<u8>> {
    let reader = Arc::new(BlockReader::open(store.clone(), meta.clone()).expect("open"));
    let request = FetchRequest {
        conditions: conditions.to_vec(),
        combine: Combine::All,
        ..FetchRequest::all_spans(0, u64::MAX)
    };
    let mut found = BTreeSet::new();
    for unit in block_units(&reader, 2) {
        let output = unit
            .fetch(&request, &MemoryBudget::unlimited())
            .await
            .expect("search");
        for batch in output.batches {
            found.extend(batch.spans.span_id.iter().map(|id| id.as_bytes().to_vec()));
        }
    }
    found
}

#[tokio::test]
async fn compacted_encoding_changes_bytes_not_what_readers_and_search_see() {
    let store = memory();
    let traces = corpus_traces(14, 250);
    let mut inputs = Vec::new();
    for _replica in 0..3 {
        inputs.push(
            write_block(store.clone(), small_config(), traces.clone())
                .await
                .meta,
        );
    }
    let merge_with = |parquet: ParquetOptions| {
        let store = store.clone();
        let inputs = inputs.clone();
        async move {
            let mut config = small_config();
            config.parquet = parquet;
            config.compaction_level = 1;
            merge_blocks(store, inputs, config, tight_options())
                .await
                .expect("merge")
                .finish()
                .await
                .expect("finish")
        }
    };
    let plain = merge_with(small_config().parquet).await.written.meta;
    let compacted = merge_with(compacted_encoding()).await.written.meta;

    // The options are in effect: the encodings differ where they should.
    let reader = BlockReader::open(store.clone(), compacted.clone()).expect("open");
    let metadata = reader.parquet_metadata().await.expect("metadata");
    let encodings_of = |leaf: &str| -> Vec<Encoding> {
        let chunk = metadata
            .row_group(0)
            .columns()
            .iter()
            .find(|chunk| chunk.column_path().string() == leaf)
            .expect("leaf");
        chunk.encodings().collect()
    };
    for leaf in ["duration_nano", "start_offset_nano", "attrs.list.item.int"] {
        assert!(
            encodings_of(leaf).contains(&Encoding::BYTE_STREAM_SPLIT),
            "{leaf}: {:?}",
            encodings_of(leaf)
        );
    }
    assert!(!encodings_of("attrs.list.item.int").contains(&Encoding::RLE_DICTIONARY));
    assert_eq!(plain.total_spans, compacted.total_spans);
    assert_eq!(plain.total_objects, compacted.total_objects);

    // Every row reads back the same, column by column (row groups are cut by encoded size, so
    // the two blocks may cut them at different traces: compare all rows at once).
    let every_row = |batches: Vec<RecordBatch>| {
        arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
    };
    assert_eq!(
        every_row(all_rows(&store, &plain).await),
        every_row(all_rows(&store, &compacted).await)
    );
    assert_eq!(
        normalise_traces(&read_all(&store, &compacted).await),
        normalise_traces(&traces)
    );
    for trace in traces.iter().step_by(13) {
        let found = reader
            .find_trace(&trace.trace_id)
            .await
            .expect("find")
            .expect("present");
        assert_eq!(
            normalise_traces(std::slice::from_ref(&found)),
            normalise_traces(std::slice::from_ref(trace))
        );
    }

    // Search answers the same, over the re-encoded columns (durations, int and string attributes).
    let span_attr = |name: &str| Attribute::Custom {
        scope: AttributeScope::Span,
        name: name.to_owned(),
    };
    let compare = |attribute: Attribute, op: CompareOp, value: Static| Condition {
        attribute,
        op: Some(ConditionOp::Compare { op, value }),
    };
    let queries = vec![
        vec![compare(
            Attribute::Intrinsic(Intrinsic::Duration),
            CompareOp::Gt,
            Static::Duration(2_000_000),
        )],
        vec![compare(
            span_attr("thread.id"),
            CompareOp::Ge,
            Static::Int(3),
        )],
        vec![compare(
            span_attr("db.statement"),
            CompareOp::Ne,
            Static::String(String::new()),
        )],
        vec![Condition {
            attribute: Attribute::Intrinsic(Intrinsic::Duration),
            op: None,
        }],
    ];
    for conditions in &queries {
        let want = search(&store, &plain, conditions).await;
        assert!(!want.is_empty(), "{conditions:?} selects nothing");
        assert_eq!(
            search(&store, &compacted, conditions).await,
            want,
            "{conditions:?}"
        );
    }
}
