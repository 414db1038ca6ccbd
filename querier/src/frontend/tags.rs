//! Tags and tag values: recent data, plus the blocks overlapping the range when one is given
//! (without `start`/`end` only recent data is consulted, as Tempo does), merged, deduplicated,
//! sorted and cut at the limit; the static intrinsic answers need no data at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use contrail_proto::TenantId;
use contrail_proto::tempopb::{
    MetadataMetrics, SearchTagValuesRequest, SearchTagValuesV2Response, SearchTagsRequest,
    SearchTagsV2Response, SearchTagsV2Scope, TagValue,
};
use futures::{StreamExt, TryStreamExt};

use super::{BlockJob, JobRunner, block_jobs};
use crate::blocklist::Blocklist;
use crate::error::{Error, Result};
use crate::recent::RecentData;
use crate::service::{TagValuesRequest, TagsRequest, intrinsic_scope, static_tag_values};

/// Runs tags and tag-values requests.
pub(crate) struct TagsFrontend {
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) runner: Arc<dyn JobRunner>,
    pub(crate) recent: Arc<dyn RecentData>,
    pub(crate) target_bytes_per_job: u64,
    pub(crate) concurrent_jobs: usize,
    pub(crate) query_timeout: Duration,
}

async fn within(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout))
}

impl TagsFrontend {
    async fn jobs(
        &self,
        tenants: &[TenantId],
        range: crate::service::TimeRange,
    ) -> Result<Vec<BlockJob>> {
        let Some(window) = range.nanos() else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        for tenant in tenants {
            let blocks = self.blocklist.blocks(tenant).await?;
            jobs.extend(block_jobs(
                tenant,
                &blocks.live,
                window,
                self.target_bytes_per_job,
            ));
        }
        Ok(jobs)
    }

    fn metadata_metrics(jobs: &[BlockJob], completed: usize) -> MetadataMetrics {
        let blocks: BTreeSet<_> = jobs.iter().map(|job| job.meta.block_id).collect();
        MetadataMetrics {
            total_jobs: u32::try_from(jobs.len()).unwrap_or(u32::MAX),
            completed_jobs: u32::try_from(completed).unwrap_or(u32::MAX),
            total_blocks: u32::try_from(blocks.len()).unwrap_or(u32::MAX),
            total_block_bytes: jobs.iter().map(|job| job.bytes).sum(),
            ..MetadataMetrics::default()
        }
    }

    /// Attribute names by scope.
    pub(crate) async fn search_tags(
        &self,
        tenants: &[TenantId],
        request: TagsRequest,
    ) -> Result<SearchTagsV2Response> {
        let recent_request = SearchTagsRequest {
            scope: request.scope.name().unwrap_or("").to_owned(),
            query: request.filter.clone().unwrap_or_default(),
            start: request.range.start_secs,
            end: request.range.end_secs,
            max_tags_per_scope: request.limit,
            stale_values_threshold: request.max_stale_values,
            ..SearchTagsRequest::default()
        };
        let jobs = self.jobs(tenants, request.range).await?;
        let mut scopes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |response: SearchTagsV2Response| {
            for scope in response.scopes {
                if request.scope.includes(&scope.name) {
                    scopes.entry(scope.name).or_default().extend(scope.tags);
                }
            }
        };
        let request_arc = Arc::new(request.clone());
        within(self.query_timeout, async {
            for tenant in tenants {
                for answer in self.recent.search_tags(tenant, &recent_request).await? {
                    add(answer);
                }
            }
            let answers: Vec<SearchTagsV2Response> = futures::stream::iter(jobs.clone())
                .map(|job| self.runner.tag_names(job, request_arc.clone()))
                .buffer_unordered(self.concurrent_jobs.max(1))
                .try_collect()
                .await?;
            for answer in answers {
                add(answer);
            }
            Ok(())
        })
        .await?;
        let limit = request.limit as usize;
        let mut response_scopes: Vec<SearchTagsV2Scope> = scopes
            .into_iter()
            .filter(|(_, tags)| !tags.is_empty())
            .map(|(name, tags)| SearchTagsV2Scope {
                name,
                tags: if limit == 0 {
                    tags.into_iter().collect()
                } else {
                    tags.into_iter().take(limit).collect()
                },
            })
            .collect();
        if request.scope.includes_intrinsics() {
            response_scopes.push(intrinsic_scope());
        }
        Ok(SearchTagsV2Response {
            scopes: response_scopes,
            metrics: Some(Self::metadata_metrics(&jobs, jobs.len())),
        })
    }

    /// Typed values of one attribute.
    pub(crate) async fn search_tag_values(
        &self,
        tenants: &[TenantId],
        request: TagValuesRequest,
    ) -> Result<SearchTagValuesV2Response> {
        if let Some(values) = static_tag_values(&request.tag) {
            return Ok(SearchTagValuesV2Response {
                tag_values: values,
                metrics: Some(MetadataMetrics::default()),
            });
        }
        let recent_request = SearchTagValuesRequest {
            tag_name: request.tag_name.clone(),
            query: request.filter.clone().unwrap_or_default(),
            start: request.range.start_secs,
            end: request.range.end_secs,
            max_tag_values: request.limit,
            stale_value_threshold: request.max_stale_values,
            ..SearchTagValuesRequest::default()
        };
        let jobs = self.jobs(tenants, request.range).await?;
        let mut values: BTreeSet<(String, String)> = BTreeSet::new();
        let request_arc = Arc::new(request.clone());
        within(self.query_timeout, async {
            let mut add = |response: SearchTagValuesV2Response| {
                values.extend(
                    response
                        .tag_values
                        .into_iter()
                        .filter(|value| !value.value.is_empty())
                        .map(|value| (value.r#type, value.value)),
                );
            };
            for tenant in tenants {
                for answer in self
                    .recent
                    .search_tag_values(tenant, &recent_request)
                    .await?
                {
                    add(answer);
                }
            }
            let answers: Vec<SearchTagValuesV2Response> = futures::stream::iter(jobs.clone())
                .map(|job| self.runner.tag_values(job, request_arc.clone()))
                .buffer_unordered(self.concurrent_jobs.max(1))
                .try_collect()
                .await?;
            for answer in answers {
                add(answer);
            }
            Ok(())
        })
        .await?;
        let limit = if request.limit == 0 {
            usize::MAX
        } else {
            request.limit as usize
        };
        Ok(SearchTagValuesV2Response {
            tag_values: values
                .into_iter()
                .take(limit)
                .map(|(r#type, value)| TagValue { r#type, value })
                .collect(),
            metrics: Some(Self::metadata_metrics(&jobs, jobs.len())),
        })
    }
}
