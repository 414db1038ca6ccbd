//! The read path of a target: the querier with its query-frontend (the Tempo HTTP API and the
//! streaming gRPC API on `server.http_listen_port`, block jobs on a bounded local pool) over the
//! object store's blocks and the ingesters' recent data.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use contrail_ingester::Ingester;
use contrail_ingester::grpc::GrpcIngester;
use contrail_overrides::Overrides;
use contrail_proto::Clock;
use contrail_querier::engine::EngineBlockSearch;
use contrail_querier::grpc::serve::http_and_grpc;
use contrail_querier::grpc::{GrpcApiSettings, StreamingQuerierApi};
use contrail_querier::http::{BuildInfo, HttpApiSettings, router};
use contrail_querier::params::SearchLimits;
use contrail_querier::recent::{
    GrpcRecentData, LocalRecentData, MemberSource, RecentData, RingMember,
};
use contrail_querier::remote::JobServiceApi;
use contrail_querier::tenant::TenantResolver;
use contrail_querier::{Querier, QuerierArgs, QueryService};
use contrail_ring::DiscoveredMembers;
use contrail_storage::DecodePool;
use contrail_storage::parquet_query::FetchOptions;
use object_store::ObjectStore;
use prometheus::Registry;

use crate::app::limits::TenantOverrides;
use crate::config::Config;

/// Where the querier finds recent data.
pub(super) enum Recent {
    /// The in-process ingester (single binary).
    Local(Ingester),
    /// Remote ingesters, discovered.
    Remote(Arc<DiscoveredMembers>),
}

/// The ingesters' gRPC endpoints, from the ring's healthy members.
struct RingEndpoints(Arc<DiscoveredMembers>);

impl MemberSource for RingEndpoints {
    fn members(&self) -> Vec<String> {
        use contrail_ring::MemberSource as _;
        self.0
            .healthy_members()
            .iter()
            .map(|member| format!("http://{}", member.id()))
            .collect()
    }

    fn ring_members(&self) -> Vec<RingMember> {
        use contrail_ring::MemberSource as _;
        self.0
            .healthy_members()
            .iter()
            .map(|member| RingMember {
                id: member.id().to_owned(),
                endpoint: format!("http://{}", member.id()),
            })
            .collect()
    }
}

/// A built querier and what it serves.
pub(super) struct ReadPath {
    pub querier: Arc<Querier>,
    /// The Tempo API (HTTP and streaming gRPC on one port).
    pub api: Router,
    /// The block-job service for the internal gRPC port.
    pub jobs: JobServiceApi,
}

/// Builds the querier and its API.
pub(super) fn querier(
    config: &Config,
    store: Arc<dyn ObjectStore>,
    recent: Recent,
    overrides: &Arc<Overrides>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
) -> anyhow::Result<ReadPath> {
    let components = &config.components;
    let recent: Arc<dyn RecentData> = match recent {
        Recent::Local(ingester) => {
            Arc::new(LocalRecentData::new(Arc::new(GrpcIngester::new(ingester))))
        }
        Recent::Remote(members) => Arc::new(
            GrpcRecentData::new(
                Arc::new(RingEndpoints(members)),
                config
                    .distributor
                    .ring
                    .remote_timeout
                    .max(Duration::from_secs(10)),
            )
            .with_replication_factor(config.replication_factor()?),
        ),
    };
    let pool = DecodePool::shared();
    let block_search = EngineBlockSearch::new(store.clone(), pool, registry)?
        .with_fetch_options(FetchOptions::for_backend(config.storage.trace.backend));
    let block_search = Arc::new(block_search);
    let frontend = components.query_frontend.clone();
    let limits = SearchLimits::from_config(&frontend);
    let tenants = TenantResolver {
        multitenancy_enabled: config.multitenancy_enabled,
        multi_tenant_queries_enabled: frontend.multi_tenant_queries_enabled,
    };
    let api_timeout = frontend.api_timeout;
    let max_message_bytes =
        usize::try_from(frontend.max_grpc_streaming_packet_size.as_u64()).unwrap_or(usize::MAX);
    let querier = Arc::new(Querier::new(QuerierArgs {
        querier: components.querier.clone(),
        frontend,
        store,
        recent,
        block_search,
        remote_runner: None,
        limits: Arc::new(TenantOverrides(Arc::clone(overrides))),
        clock,
        registry,
    })?);
    let service: Arc<dyn QueryService> = querier.clone();
    let build_info = BuildInfo {
        version: crate::VERSION.to_owned(),
        ..BuildInfo::default()
    };
    let http = router(
        service.clone(),
        HttpApiSettings {
            tenants,
            limits,
            api_timeout,
            build_info,
        },
    );
    let grpc = StreamingQuerierApi::new(
        service,
        GrpcApiSettings {
            tenants,
            limits,
            api_timeout,
            max_message_bytes,
        },
    );
    let api = http_and_grpc(http, tonic::service::Routes::new(grpc.into_server()));
    let jobs = JobServiceApi::new(querier.local_runner());
    Ok(ReadPath { querier, api, jobs })
}
