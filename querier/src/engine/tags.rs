//! Tag jobs: the request's `q` filter (when it is one) is planned and evaluated by the engine
//! over the job's `BlockSpanSource`, giving the matching rows; the block tag scan then reads
//! names or values of only those rows (every row without a filter).

use contrail_proto::tempopb::{SearchTagValuesV2Response, SearchTagsV2Response};
use std::sync::Arc;

use contrail_storage::DecodePool;
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::v1::tags::{RowSelection, block_tag_names, block_tag_values};
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::tags::{DataScope, SpanFilter, TagNames, TagValues, ValueTarget};

use super::error::engine_error;
use crate::error::{Error, Result};
use crate::frontend::BlockJob;
use crate::service::{TagScope, TagValuesRequest, TagsRequest, TimeRange};

/// Bytes the `q` filter of one tag job may hold (decoded condition columns of a row group and
/// the matched rows).
const FILTER_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// The data scopes a `scope` parameter asks for (`intrinsic` is a static list: none).
pub(crate) fn data_scopes(scope: TagScope) -> Vec<DataScope> {
    match scope {
        TagScope::All | TagScope::None => DataScope::ALL.to_vec(),
        TagScope::Intrinsic => Vec::new(),
        TagScope::Resource => vec![DataScope::Resource],
        TagScope::Span => vec![DataScope::Span],
        TagScope::Event => vec![DataScope::Event],
        TagScope::Link => vec![DataScope::Link],
        TagScope::Instrumentation => vec![DataScope::Instrumentation],
    }
}

/// The rows of `job` matching `filter`; `None` when there is no filter (every row).
async fn selection(
    reader: &Arc<BlockReader>,
    pool: &DecodePool,
    job: &BlockJob,
    filter: Option<&str>,
    range: TimeRange,
) -> Result<Option<RowSelection>> {
    let Some(query) = filter.filter(|query| !query.trim().is_empty()) else {
        return Ok(None);
    };
    let (start, end) = range.nanos().unwrap_or((0, u64::MAX));
    let Some(filter) = SpanFilter::new(query, start, end).map_err(engine_error)? else {
        return Ok(None);
    };
    let source = BlockSpanSource::new(reader.clone(), job.row_groups.clone());
    let source: &dyn SpanSource = &source;
    let budget = MemoryBudget::new(FILTER_MEMORY_BYTES);
    let matched = filter
        .matching(source, pool, &budget)
        .await
        .map_err(engine_error)?;
    Ok(Some(RowSelection::from_row_refs(&matched.rows)))
}

/// Attribute names of `job` by scope.
pub(super) async fn tag_names(
    reader: Arc<BlockReader>,
    pool: &DecodePool,
    job: &BlockJob,
    request: &TagsRequest,
) -> Result<SearchTagsV2Response> {
    let scopes = data_scopes(request.scope);
    let names = TagNames::new(&scopes, request.limit, request.max_stale_values);
    if scopes.is_empty() {
        return Ok(names.into_response());
    }
    let rows = selection(&reader, pool, job, request.filter.as_deref(), request.range).await?;
    let names = block_tag_names(&reader, job.row_groups.clone(), rows.as_ref(), names)
        .await
        .map_err(Error::from)?;
    Ok(names.into_response())
}

/// Typed values of the request's tag in `job`.
pub(super) async fn tag_values(
    reader: Arc<BlockReader>,
    pool: &DecodePool,
    job: &BlockJob,
    request: &TagValuesRequest,
) -> Result<SearchTagValuesV2Response> {
    let target = ValueTarget::of(&request.tag);
    let values = TagValues::new(request.limit, request.max_stale_values);
    if target.is_empty() {
        return Ok(values.into_response());
    }
    let rows = selection(&reader, pool, job, request.filter.as_deref(), request.range).await?;
    let values = block_tag_values(
        &reader,
        job.row_groups.clone(),
        rows.as_ref(),
        &target,
        values,
    )
    .await
    .map_err(Error::from)?;
    Ok(values.into_response())
}
