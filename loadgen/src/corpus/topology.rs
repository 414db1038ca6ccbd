//! The simulated shop: its services, their instances (pods) and the instrumentation libraries
//! (scopes) each one reports spans under, with the resource attributes an SDK would attach.
//!
//! The SQL database (PostgreSQL), the cache (Redis) and the queue (Kafka) are peers: their spans are
//! the CLIENT / PRODUCER / CONSUMER spans of the services that call them, as OpenTelemetry
//! instrumentation reports them (`db.system`, `messaging.system`, `server.address`).

use contrail_proto::otlp::common::v1::{InstrumentationScope, KeyValue};
use contrail_proto::otlp::resource::v1::Resource;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::attrs::{kv_int, kv_str, random_hex};

/// Every service that emits spans, in a fixed order (the index is the grouping key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Service {
    Frontend,
    ApiGateway,
    Auth,
    User,
    Product,
    Search,
    Cart,
    Payment,
    OrderWorker,
    Notification,
}

/// The instrumentation library a span was recorded by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ScopeKind {
    HttpServer,
    HttpClient,
    Database,
    Cache,
    Messaging,
    Manual,
}

pub(crate) const ALL_SERVICES: [Service; 10] = [
    Service::Frontend,
    Service::ApiGateway,
    Service::Auth,
    Service::User,
    Service::Product,
    Service::Search,
    Service::Cart,
    Service::Payment,
    Service::OrderWorker,
    Service::Notification,
];

const ALL_SCOPES: [ScopeKind; 6] = [
    ScopeKind::HttpServer,
    ScopeKind::HttpClient,
    ScopeKind::Database,
    ScopeKind::Cache,
    ScopeKind::Messaging,
    ScopeKind::Manual,
];

/// Instances (pods) per service.
pub(crate) const INSTANCES_PER_SERVICE: usize = 3;

#[derive(Clone, Copy)]
enum Language {
    NodeJs,
    Go,
    Java,
    Python,
}

impl Service {
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Frontend => "frontend",
            Service::ApiGateway => "api-gateway",
            Service::Auth => "auth-service",
            Service::User => "user-service",
            Service::Product => "product-service",
            Service::Search => "search-service",
            Service::Cart => "cart-service",
            Service::Payment => "payment-service",
            Service::OrderWorker => "order-worker",
            Service::Notification => "notification-service",
        }
    }

    /// The port its HTTP server listens on (for `server.port`).
    pub(crate) fn port(self) -> i64 {
        match self {
            Service::Frontend => 443,
            Service::ApiGateway => 8080,
            _ => 8000 + self.index() as i64,
        }
    }

    fn version(self) -> &'static str {
        match self {
            Service::Frontend => "4.12.0",
            Service::ApiGateway => "2.3.1",
            Service::Auth => "1.18.4",
            Service::User => "3.2.0",
            Service::Product => "5.0.2",
            Service::Search => "0.9.7",
            Service::Cart => "2.11.3",
            Service::Payment => "1.4.9",
            Service::OrderWorker => "1.1.0",
            Service::Notification => "0.6.2",
        }
    }

    fn language(self) -> Language {
        match self {
            Service::Frontend => Language::NodeJs,
            Service::ApiGateway | Service::Cart | Service::OrderWorker => Language::Go,
            Service::Auth | Service::Payment => Language::Java,
            Service::User | Service::Product | Service::Search | Service::Notification => {
                Language::Python
            }
        }
    }

    /// The name of the thread or worker that runs request handlers (`thread.name`).
    pub(crate) fn thread_name(self, worker: i64) -> String {
        match self.language() {
            Language::NodeJs => "main".to_owned(),
            Language::Go => format!("goroutine-{worker}"),
            Language::Java => format!("http-nio-{}-exec-{}", self.port(), worker % 200),
            Language::Python => format!("uvicorn-worker-{}", worker % 8),
        }
    }
}

/// `(name, version)` of the instrumentation library for a language and scope kind.
fn scope_identity(language: Language, scope: ScopeKind) -> (&'static str, &'static str) {
    use Language::*;
    use ScopeKind::*;
    match (language, scope) {
        (NodeJs, HttpServer | HttpClient) => ("@opentelemetry/instrumentation-http", "0.52.1"),
        (NodeJs, Database) => ("@opentelemetry/instrumentation-pg", "0.43.0"),
        (NodeJs, Cache) => ("@opentelemetry/instrumentation-ioredis", "0.42.0"),
        (NodeJs, Messaging) => ("@opentelemetry/instrumentation-kafkajs", "0.2.0"),
        (NodeJs, Manual) => ("shop-frontend", "4.12.0"),
        (Go, HttpServer | HttpClient) => (
            "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
            "0.53.0",
        ),
        (Go, Database) => ("github.com/XSAM/otelsql", "0.33.0"),
        (Go, Cache) => ("github.com/redis/go-redis/extra/redisotel", "9.5.1"),
        (Go, Messaging) => ("github.com/IBM/sarama/otelsarama", "0.31.0"),
        (Go, Manual) => ("github.com/example/shop/internal", "1.0.0"),
        (Java, HttpServer) => ("io.opentelemetry.spring-webmvc-6.0", "2.6.0-alpha"),
        (Java, HttpClient) => ("io.opentelemetry.java-http-client", "2.6.0-alpha"),
        (Java, Database) => ("io.opentelemetry.jdbc", "2.6.0-alpha"),
        (Java, Cache) => ("io.opentelemetry.lettuce-5.1", "2.6.0-alpha"),
        (Java, Messaging) => ("io.opentelemetry.kafka-clients-2.6", "2.6.0-alpha"),
        (Java, Manual) => ("com.example.shop", "1.0.0"),
        (Python, HttpServer) => ("opentelemetry.instrumentation.fastapi", "0.47b0"),
        (Python, HttpClient) => ("opentelemetry.instrumentation.httpx", "0.47b0"),
        (Python, Database) => ("opentelemetry.instrumentation.psycopg", "0.47b0"),
        (Python, Cache) => ("opentelemetry.instrumentation.redis", "0.47b0"),
        (Python, Messaging) => ("opentelemetry.instrumentation.confluent_kafka", "0.47b0"),
        (Python, Manual) => ("shop.app", "1.0.0"),
    }
}

/// The fixed resources and scopes of the simulated deployment, built once per generator.
pub(crate) struct Topology {
    /// `resources[service][instance]`.
    resources: Vec<Vec<Resource>>,
    /// `scopes[service][scope kind]`.
    scopes: Vec<Vec<InstrumentationScope>>,
}

impl Topology {
    pub(crate) fn new(rng: &mut ChaCha8Rng) -> Self {
        let resources = ALL_SERVICES
            .iter()
            .map(|&service| {
                let deployment_hash = random_hex(rng, 5);
                (0..INSTANCES_PER_SERVICE)
                    .map(|instance| build_resource(rng, service, instance, &deployment_hash))
                    .collect()
            })
            .collect();
        let scopes = ALL_SERVICES
            .iter()
            .map(|&service| {
                ALL_SCOPES
                    .iter()
                    .map(|&scope| build_scope(service, scope))
                    .collect()
            })
            .collect();
        Self { resources, scopes }
    }

    pub(crate) fn resource(&self, service: Service, instance: usize) -> &Resource {
        &self.resources[service.index()][instance]
    }

    pub(crate) fn scope(&self, service: Service, scope: ScopeKind) -> &InstrumentationScope {
        &self.scopes[service.index()][scope as usize]
    }
}

fn build_resource(
    rng: &mut ChaCha8Rng,
    service: Service,
    instance: usize,
    deployment_hash: &str,
) -> Resource {
    let name = service.name();
    let pod = format!("{name}-{deployment_hash}-{}", random_pod_suffix(rng));
    let node = format!(
        "ip-10-0-{}-{}.eu-west-1.compute.internal",
        rng.random_range(1..64),
        rng.random_range(2..250)
    );
    let (runtime_name, runtime_version, sdk_language, sdk_version) = match service.language() {
        Language::NodeJs => ("nodejs", "20.15.1", "nodejs", "1.25.1"),
        Language::Go => ("go", "go1.22.5", "go", "1.28.0"),
        Language::Java => (
            "OpenJDK Runtime Environment",
            "21.0.3+9-LTS",
            "java",
            "1.40.0",
        ),
        Language::Python => ("cpython", "3.12.4", "python", "1.26.0"),
    };
    let mut attributes: Vec<KeyValue> = vec![
        kv_str("service.name", name),
        kv_str("service.namespace", "shop"),
        kv_str("service.version", service.version()),
        kv_str(
            "service.instance.id",
            format!("{}-{instance}", random_hex(rng, 12)),
        ),
        kv_str("deployment.environment", "production"),
        kv_str("k8s.namespace.name", "shop-prod"),
        kv_str("k8s.deployment.name", name),
        kv_str("k8s.pod.name", pod.clone()),
        kv_str("k8s.node.name", node),
        kv_str("host.name", pod),
        kv_str("host.arch", "amd64"),
        kv_str("os.type", "linux"),
        kv_str("cloud.provider", "aws"),
        kv_str("cloud.region", "eu-west-1"),
        kv_str("container.id", random_hex(rng, 32)),
        kv_int("process.pid", 1 + rng.random_range(0..40)),
        kv_str("process.runtime.name", runtime_name),
        kv_str("process.runtime.version", runtime_version),
        kv_str("telemetry.sdk.name", "opentelemetry"),
        kv_str("telemetry.sdk.language", sdk_language),
        kv_str("telemetry.sdk.version", sdk_version),
    ];
    if matches!(service.language(), Language::Java) {
        attributes.push(kv_str(
            "process.runtime.description",
            "Eclipse Adoptium OpenJDK 64-Bit Server VM",
        ));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

fn random_pod_suffix(rng: &mut ChaCha8Rng) -> String {
    const POD_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| POD_CHARS[rng.random_range(0..POD_CHARS.len())] as char)
        .collect()
}

fn build_scope(service: Service, scope: ScopeKind) -> InstrumentationScope {
    let (name, version) = scope_identity(service.language(), scope);
    let attributes = match scope {
        ScopeKind::Manual => vec![kv_str("instrumentation.kind", "manual")],
        _ => vec![kv_str("instrumentation.kind", "auto")],
    };
    InstrumentationScope {
        name: name.to_owned(),
        version: version.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    }
}
