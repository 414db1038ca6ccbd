//! Tag names and values over the recent data of one tenant (`SearchTagsRecent`,
//! `SearchTagValuesRecent`): the live, head and flushing traces through the in-memory half of
//! the tag scan (`contrail_traceql::tags::memory`, on the CPU pool) and the local complete
//! blocks through the block half (`contrail_storage::block::v1::tags`), into one collector.
//! The `q` filter is evaluated by the engine on each unit first; only matching spans count.

use std::sync::Arc;

use contrail_proto::{ErrorCode, TenantId, tempopb};
use contrail_storage::block::BlockReader;
use contrail_storage::block::v1::search::BlockSpanSource;
use contrail_storage::block::v1::tags::{RowSelection, block_tag_names, block_tag_values};
use contrail_traceql::CpuRunner;
use contrail_traceql::fetch::{MemoryBudget, SpanSource};
use contrail_traceql::tags::memory::{collect_names, collect_values};
use contrail_traceql::tags::{
    DataScope, MatchedSpans, SpanFilter, TagNames, TagValues, ValueTarget, parse_tag_name,
};
use contrail_traceql::{MemorySource, MemoryTrace};

use crate::error::{Error, Result};
use crate::search::search_error;
use crate::service::Ingester;

/// Bytes the `q` filter of one tags request may hold per unit.
const FILTER_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// The data scopes of a `scope` parameter: empty and `none` mean all, `intrinsic` none (a
/// static list the frontend adds).
fn data_scopes(scope: &str) -> Result<Vec<DataScope>> {
    match scope {
        "" | "none" => Ok(DataScope::ALL.to_vec()),
        "intrinsic" => Ok(Vec::new()),
        other => DataScope::from_name(other)
            .map(|scope| vec![scope])
            .ok_or_else(|| Error::BadRequest {
                message: format!("invalid scope: {other}"),
            }),
    }
}

/// Unix seconds (0 = open) as the nanosecond window of the snapshot (0 = open end) and of the
/// filter (inclusive, `end` covers its whole second).
fn window(start_secs: u32, end_secs: u32) -> ((u64, u64), (u64, u64)) {
    let start = u64::from(start_secs) * 1_000_000_000;
    if end_secs == 0 {
        ((start, 0), (start, u64::MAX))
    } else {
        let end = u64::from(end_secs) * 1_000_000_000 + 999_999_999;
        ((start, end), (start, end))
    }
}

/// What one tags request reads: the decoded in-memory traces and the local blocks, with the
/// filter's matches in each.
struct Units {
    traces: Vec<MemoryTrace>,
    traces_matched: Option<MatchedSpans>,
    blocks: Vec<(Arc<BlockReader>, Option<RowSelection>)>,
}

impl Ingester {
    async fn tag_units(
        &self,
        tenant: &TenantId,
        query: &str,
        start_secs: u32,
        end_secs: u32,
    ) -> Result<Units> {
        let (snapshot_window, filter_window) = window(start_secs, end_secs);
        let filter = if query.trim().is_empty() {
            None
        } else {
            SpanFilter::new(query, filter_window.0, filter_window.1).map_err(search_error)?
        };
        let snapshot = self.recent(tenant, snapshot_window.0, snapshot_window.1);
        let block_readers = snapshot.blocks.clone();
        let traces = self.memory_traces(snapshot).await?;
        let Some(filter) = filter else {
            return Ok(Units {
                traces,
                traces_matched: None,
                blocks: block_readers
                    .into_iter()
                    .map(|reader| (reader, None))
                    .collect(),
            });
        };
        let runner: Arc<dyn CpuRunner> = Arc::new(self.inner.cpu.clone());
        let budget = MemoryBudget::new(FILTER_MEMORY_BYTES);
        let memory = MemorySource::new(traces.clone(), runner.clone());
        let memory: &dyn SpanSource = &memory;
        let traces_matched = filter
            .matching(memory, runner.as_ref(), &budget)
            .await
            .map_err(search_error)?;
        let mut blocks = Vec::with_capacity(block_readers.len());
        for reader in block_readers {
            let row_groups = reader.meta().row_groups.len();
            let source = BlockSpanSource::new(reader.clone(), 0..row_groups);
            let source: &dyn SpanSource = &source;
            match filter.matching(source, reader.pool(), &budget).await {
                Ok(matched) => {
                    blocks.push((reader, Some(RowSelection::from_row_refs(&matched.rows))))
                }
                // An expired local block may vanish mid-read; it is in the object store.
                Err(error) if error.code() == ErrorCode::NotFound => {
                    tracing::warn!(error = %error, "local block vanished during a tags request");
                }
                Err(error) => return Err(search_error(error)),
            }
        }
        Ok(Units {
            traces,
            traces_matched: Some(traces_matched),
            blocks,
        })
    }

    /// Attribute names by scope in the tenant's recent data (`scope`, `query` (a TraceQL
    /// filter), `start`/`end`, `maxTagsPerScope` and `staleValuesThreshold` of the request).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn search_tags_recent(
        &self,
        tenant: &TenantId,
        request: &tempopb::SearchTagsRequest,
    ) -> Result<tempopb::SearchTagsV2Response> {
        let scopes = data_scopes(&request.scope)?;
        let mut names = TagNames::new(
            &scopes,
            request.max_tags_per_scope,
            request.stale_values_threshold,
        );
        if scopes.is_empty() {
            return Ok(names.into_response());
        }
        let units = self
            .tag_units(tenant, &request.query, request.start, request.end)
            .await?;
        let Units {
            traces,
            traces_matched,
            blocks,
        } = units;
        names = self
            .inner
            .cpu
            .run(move || {
                collect_names(&traces, traces_matched.as_ref(), &mut names);
                names
            })
            .await?;
        for (reader, selection) in blocks {
            let row_groups = reader.meta().row_groups.len();
            let fresh = TagNames::new(
                &scopes,
                request.max_tags_per_scope,
                request.stale_values_threshold,
            );
            match block_tag_names(&reader, 0..row_groups, selection.as_ref(), fresh).await {
                Ok(block_names) => names.merge(block_names),
                Err(error) => skip_vanished(error)?,
            }
        }
        Ok(names.into_response())
    }

    /// Typed values of one attribute (`tagName`, a TraceQL attribute such as
    /// `resource.service.name`) in the tenant's recent data.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn search_tag_values_recent(
        &self,
        tenant: &TenantId,
        request: &tempopb::SearchTagValuesRequest,
    ) -> Result<tempopb::SearchTagValuesV2Response> {
        let attribute = parse_tag_name(&request.tag_name).map_err(|error| Error::BadRequest {
            message: error.message(),
        })?;
        let target = ValueTarget::of(&attribute);
        let mut values = TagValues::new(request.max_tag_values, request.stale_value_threshold);
        if target.is_empty() {
            return Ok(values.into_response());
        }
        let Units {
            traces,
            traces_matched,
            blocks,
        } = self
            .tag_units(tenant, &request.query, request.start, request.end)
            .await?;
        let memory_target = target.clone();
        values = self
            .inner
            .cpu
            .run(move || {
                collect_values(
                    &traces,
                    traces_matched.as_ref(),
                    &memory_target,
                    &mut values,
                );
                values
            })
            .await?;
        for (reader, selection) in blocks {
            let row_groups = reader.meta().row_groups.len();
            let fresh = TagValues::new(request.max_tag_values, request.stale_value_threshold);
            match block_tag_values(&reader, 0..row_groups, selection.as_ref(), &target, fresh).await
            {
                Ok(block_values) => values.merge(block_values),
                Err(error) => skip_vanished(error)?,
            }
        }
        Ok(values.into_response())
    }
}

/// A local block whose files vanished (expired mid-read: it is in the object store) is
/// skipped; any other error fails the request.
fn skip_vanished(source: contrail_storage::Error) -> Result<()> {
    if source.code() == ErrorCode::NotFound {
        tracing::warn!(error = %source, "local block vanished during a tags request");
        return Ok(());
    }
    Err(Error::Storage {
        source: Box::new(source),
    })
}
