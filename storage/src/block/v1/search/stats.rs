//! The second pass's per-service span and error counts of the answer's traces in one unit:
//! per row group one read of `trace_id`, `resource_ref` and `status_code` over the pages that
//! may hold any of the traces, counted in one go.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, FixedSizeBinaryArray, Int32Array, UInt32Array};
use contrail_proto::TraceId;
use contrail_traceql::fetch::ServiceStats;
use contrail_traceql::memory::otlp::lookup as attribute_value;
use contrail_traceql::value::Value;

use super::leaves::Leaves;
use super::plan::sorted_unique;
use crate::block::v1::footer::Footer;
use crate::block::v1::reader::{BlockReader, read_error};
use crate::block::v1::schema;
use crate::error::{Error, corrupt};
use crate::parquet_query::predicate::{ColumnPredicate, CompareOp, Literal};
use crate::parquet_query::prune::union_ranges;
use crate::parquet_query::{LeafRead, SparseFile, decode, pages_may_match};

/// Span and error counts per resource reference, per wanted trace (index into the IDs).
type Counts = BTreeMap<usize, BTreeMap<u32, (u32, u32)>>;

/// Per-service counts of each of `trace_ids` (sorted) found in `row_groups` of the block, in
/// the order of `trace_ids`; traces the unit does not hold are left out.
pub(crate) async fn service_stats(
    reader: &BlockReader,
    footer: &Arc<Footer>,
    leaves: &Leaves,
    row_groups: Range<usize>,
    trace_ids: &[TraceId],
) -> Result<Vec<(TraceId, Vec<ServiceStats>)>, Error> {
    let path = reader.data_path().clone();
    let leaf = |name: &str| leaves.get(name).map_err(|e| corrupt(&path, e));
    let trace_leaf = leaf(schema::TRACE_ID)?;
    let read_leaves = sorted_unique(vec![
        trace_leaf,
        leaf(schema::RESOURCE_REF)?,
        leaf(schema::STATUS_CODE)?,
    ]);
    let mut counts: Counts = BTreeMap::new();
    for row_group in row_groups {
        let Some(group_meta) = reader.meta().row_groups.get(row_group) else {
            continue;
        };
        let wanted: Vec<usize> = (0..trace_ids.len())
            .filter(|index| {
                let id = &trace_ids[*index];
                group_meta.min_id <= *id && *id <= group_meta.max_id
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut rows: Option<Vec<Range<usize>>> = Some(Vec::new());
        for index in &wanted {
            let predicate = ColumnPredicate::Compare {
                op: CompareOp::Eq,
                literal: Literal::Bytes(Arc::from(trace_ids[*index].as_bytes().as_slice())),
            };
            rows = match (
                rows,
                pages_may_match(&footer.metadata, row_group, trace_leaf, &predicate),
            ) {
                (Some(acc), Some(pages)) => Some(union_ranges(&acc, &pages)),
                _ => None,
            };
        }
        if rows.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        let read = LeafRead {
            row_group,
            leaves: read_leaves.clone(),
            rows,
        };
        let mut file = SparseFile::new(reader.meta().size);
        reader
            .fetch_more(&read.byte_ranges(&footer.arrow), &mut file)
            .await?;
        let arrow_meta = footer.arrow.clone();
        let task_path = path.clone();
        let ids: Vec<(TraceId, usize)> = wanted
            .iter()
            .map(|index| (trace_ids[*index], *index))
            .collect();
        let found: Counts = reader
            .pool()
            .run(path.as_ref(), move || {
                let Some(batch) =
                    decode(file, &arrow_meta, &read).map_err(|e| read_error(&task_path, e))?
                else {
                    return Ok(Counts::new());
                };
                count(&batch, &ids).map_err(|e| corrupt(&task_path, e))
            })
            .await?;
        for (index, per_ref) in found {
            let entry = counts.entry(index).or_default();
            for (resource_ref, (spans, errors)) in per_ref {
                let total = entry.entry(resource_ref).or_default();
                total.0 += spans;
                total.1 += errors;
            }
        }
    }
    let mut services: HashMap<u32, String> = HashMap::new();
    let mut out = Vec::with_capacity(counts.len());
    for (index, per_ref) in counts {
        let mut per_service: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (resource_ref, (spans, errors)) in per_ref {
            let service = services
                .entry(resource_ref)
                .or_insert_with(|| service_name(footer, resource_ref))
                .clone();
            let entry = per_service.entry(service).or_default();
            entry.0 += spans;
            entry.1 += errors;
        }
        out.push((
            trace_ids[index],
            per_service
                .into_iter()
                .map(|(service, (span_count, error_count))| ServiceStats {
                    service_name: Arc::from(service.as_str()),
                    span_count,
                    error_count,
                })
                .collect(),
        ));
    }
    Ok(out)
}

/// `service.name` of resource `resource_ref` ("" when it has none).
fn service_name(footer: &Footer, resource_ref: u32) -> String {
    footer
        .tables
        .resource(resource_ref)
        .and_then(|entry| entry.resource.as_ref())
        .map(|resource| attribute_value(&resource.attributes, "service.name"))
        .and_then(|value| match value {
            Value::String(text) => Some(text.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Counts the rows of `batch` whose trace is one of `ids` (sorted by ID, with their index).
fn count(batch: &arrow::array::RecordBatch, ids: &[(TraceId, usize)]) -> Result<Counts, String> {
    let typed_error = || "service stats columns mistyped".to_owned();
    let trace_ids = batch
        .column_by_name(schema::TRACE_ID)
        .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>())
        .ok_or_else(typed_error)?;
    let refs = batch
        .column_by_name(schema::RESOURCE_REF)
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
        .ok_or_else(typed_error)?;
    let codes = batch
        .column_by_name(schema::STATUS_CODE)
        .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
        .ok_or_else(typed_error)?;
    let mut counts = Counts::new();
    let mut last: Option<(&[u8], Option<usize>)> = None;
    for row in 0..batch.num_rows() {
        let id = trace_ids.value(row);
        let index = match last {
            Some((previous, index)) if previous == id => index,
            _ => ids
                .binary_search_by(|(known, _)| known.as_bytes().as_slice().cmp(id))
                .ok()
                .map(|position| ids[position].1),
        };
        last = Some((id, index));
        let Some(index) = index else {
            continue;
        };
        let error = codes.is_valid(row) && codes.value(row) == 2;
        let entry = counts
            .entry(index)
            .or_default()
            .entry(refs.value(row))
            .or_default();
        entry.0 += 1;
        entry.1 += u32::from(error);
    }
    Ok(counts)
}
