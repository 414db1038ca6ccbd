//! A distributor on 127.0.0.1:0 pushing into recording ingesters, for the receiver tests.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different part"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytesize::ByteSize;
use contrail_distributor::{
    Distributor, DistributorArgs, DistributorConfig, GrpcReceiverConfig, HttpReceiverConfig,
    OtlpProtocols, OtlpReceiverConfig, ReceiversConfig, bind_receivers,
};
use contrail_overrides::{Limits, Overrides};
use contrail_proto::internal::v1::PushErrorReason;
use contrail_proto::{PushBatch, PushError, PushOutcome, PushTarget, SystemClock, TenantId};
use contrail_ring::{Member, Ring, StaticMembers};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

/// What a recording ingester does with pushes.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Accept,
    Unreachable,
    Refuse(PushErrorReason),
    /// At its memory limit: says so before a push (`PushTarget::refusal`) and refuses pushes.
    Full,
}

/// An ingester that records what it was sent.
pub struct Recorder {
    pub mode: Mutex<Mode>,
    pub received: Mutex<Vec<(TenantId, PushBatch)>>,
    /// Pushes that reached this ingester, taken or not.
    pub pushes: std::sync::atomic::AtomicUsize,
}

impl Recorder {
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Recorder {
            mode: Mutex::new(mode),
            received: Mutex::new(Vec::new()),
            pushes: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Spans received (segments' span counts), for `tenant` when given.
    pub fn spans(&self, tenant_opt: Option<&str>) -> u64 {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(tenant, _)| tenant_opt.is_none_or(|wanted| tenant.as_str() == wanted))
            .flat_map(|(_, batch)| &batch.segments)
            .map(|segment| u64::from(segment.span_count))
            .sum()
    }

    /// Every span name received.
    pub fn span_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (_, batch) in self.received.lock().expect("lock").iter() {
            for segment in &batch.segments {
                let trace = segment.decode_trace().expect("segment decodes");
                for resource in &trace.resource_spans {
                    for scope in &resource.scope_spans {
                        names.extend(scope.spans.iter().map(|span| span.name.clone()));
                    }
                }
            }
        }
        names.sort();
        names
    }
}

#[async_trait]
impl PushTarget for Recorder {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, PushError> {
        self.pushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mode = *self.mode.lock().expect("lock");
        let segments = batch.segments.len();
        match mode {
            Mode::Full => Err(memory_limit()),
            Mode::Unreachable => Err(PushError::Unreachable("connection refused".to_owned())),
            Mode::Accept => {
                self.received
                    .lock()
                    .expect("lock")
                    .push((tenant.clone(), batch));
                Ok(PushOutcome::all_accepted())
            }
            Mode::Refuse(reason) => Ok(PushOutcome {
                errors_by_segment: vec![reason; segments],
            }),
        }
    }

    fn refusal(&self, _: &TenantId, _: u64) -> Option<PushError> {
        matches!(*self.mode.lock().expect("lock"), Mode::Full).then(memory_limit)
    }
}

fn memory_limit() -> PushError {
    PushError::Ingester {
        code: contrail_proto::ErrorCode::RateLimited,
        message: "ingester memory limit reached".to_owned(),
    }
}

/// How to start the distributor.
pub struct Options {
    pub multitenancy_enabled: bool,
    pub limits: Limits,
    pub ingesters: Vec<Mode>,
    pub replication_factor: usize,
    pub max_body: ByteSize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            multitenancy_enabled: false,
            limits: Limits::default(),
            ingesters: vec![Mode::Accept],
            replication_factor: 1,
            max_body: ByteSize::mib(4),
        }
    }
}

/// A running distributor.
pub struct Harness {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub registry: Registry,
    pub ingesters: Vec<Arc<Recorder>>,
    pub distributor: Arc<Distributor>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<contrail_distributor::Result<()>>,
}

pub async fn start(options: Options) -> Harness {
    let ingesters: Vec<Arc<Recorder>> = options
        .ingesters
        .iter()
        .map(|mode| Recorder::new(*mode))
        .collect();
    let members = ingesters
        .iter()
        .enumerate()
        .map(|(index, recorder)| {
            Member::new(
                format!("ingester-{index}"),
                Arc::clone(recorder) as Arc<dyn PushTarget>,
            )
        })
        .collect();
    let ring = Ring::new(
        Arc::new(StaticMembers::new(members)),
        options.replication_factor,
    );
    let config = DistributorConfig {
        receivers: ReceiversConfig {
            otlp: Some(OtlpReceiverConfig {
                protocols: OtlpProtocols {
                    grpc: Some(GrpcReceiverConfig {
                        endpoint: "127.0.0.1:0".to_owned(),
                        ..GrpcReceiverConfig::default()
                    }),
                    http: Some(HttpReceiverConfig {
                        endpoint: "127.0.0.1:0".to_owned(),
                        max_request_body_size: options.max_body,
                        ..HttpReceiverConfig::default()
                    }),
                },
            }),
            ..ReceiversConfig::default()
        },
        max_attribute_bytes: 64,
        ..DistributorConfig::default()
    };
    let registry = Registry::new();
    let distributor = Distributor::new(DistributorArgs {
        config,
        multitenancy_enabled: options.multitenancy_enabled,
        overrides: Overrides::fixed(options.limits),
        ring,
        clock: SystemClock::shared(),
        registry: &registry,
    })
    .expect("distributor");
    let receivers = bind_receivers(Arc::clone(&distributor))
        .await
        .expect("bind");
    let grpc = receivers.grpc_address().expect("grpc");
    let http = receivers.http_address().expect("http");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(receivers.run(shutdown.clone()));
    Harness {
        grpc,
        http,
        registry,
        ingesters,
        distributor,
        shutdown,
        task,
    }
}

impl Harness {
    /// A counter's value for the label values given (all must match).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut total = 0.0;
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            for metric in family.get_metric() {
                let matches = labels.iter().all(|(key, value)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|pair| pair.name() == *key && pair.value() == *value)
                });
                if matches {
                    total += metric.get_counter().get_value();
                }
            }
        }
        total
    }

    pub fn http_url(&self) -> String {
        format!("http://{}/v1/traces", self.http)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("receivers stop")
            .expect("joins")
            .expect("receivers ran cleanly");
    }
}
