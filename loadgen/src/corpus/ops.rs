//! Leaf and messaging primitives: SQL queries (PostgreSQL), cache commands (Redis), internal steps,
//! queue publish (PRODUCER) and process (CONSUMER, linked to its producer).

use contrail_proto::otlp::common::v1::KeyValue;
use contrail_proto::otlp::trace::v1::span::SpanKind;
use rand::Rng;

use super::attrs::{kv_bool, kv_int, kv_str, random_hex};
use super::builder::{Failure, Reply, SpanCtx, SpanRecord, TraceBuilder};
use super::topology::{ScopeKind, Service};

/// Probability that a SQL query is a slow one (lock wait, sequential scan): 0.2 s to 2.5 s.
const SLOW_QUERY_PROBABILITY: f64 = 0.004;
/// Probability that a SQL query fails (statement timeout, deadlock).
const QUERY_ERROR_PROBABILITY: f64 = 0.002;

/// A SQL statement against the shop database.
pub(crate) struct Query {
    pub(crate) operation: &'static str,
    pub(crate) table: &'static str,
    pub(crate) statement: String,
    /// Rows the query returns or changes.
    pub(crate) rows: i64,
}

/// Where the instrumentation records a code location (`code.*`).
pub(crate) struct CodeLocation {
    pub(crate) function: &'static str,
    pub(crate) namespace: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: i64,
}

impl TraceBuilder<'_> {
    /// A PostgreSQL query: a CLIENT span in the calling service. Fails as a 500 when the
    /// database errs; sometimes slow.
    pub(crate) fn sql(&mut self, parent: SpanCtx, query: Query, start: u64) -> Reply {
        let ctx = self.new_ctx(parent.service);
        let slow = self.chance(SLOW_QUERY_PROBABILITY);
        let duration = if slow {
            self.duration_ms(200.0, 2_500.0)
        } else {
            self.duration_ms(0.3, 6.0)
        };
        let end = start + duration;
        let error_opt = self
            .chance(QUERY_ERROR_PROBABILITY)
            .then(|| sql_failure(query.table));
        let failed = error_opt.is_some();
        let attributes = vec![
            kv_str("db.system", "postgresql"),
            kv_str("db.name", "shop"),
            kv_str("db.user", "shop_app"),
            kv_str("db.statement", query.statement),
            kv_str("db.operation", query.operation),
            kv_str("db.sql.table", query.table),
            kv_str("server.address", "postgres-primary.shop-prod.svc"),
            kv_int("server.port", 5432),
            kv_int(
                "db.response.returned_rows",
                if failed { 0 } else { query.rows },
            ),
        ];
        self.record(SpanRecord {
            ctx,
            parent_opt: Some(parent),
            scope: ScopeKind::Database,
            kind: SpanKind::Client,
            name: format!("{} shop.{}", query.operation, query.table),
            start,
            end,
            attributes,
            error_opt,
            error_status: false,
            link_opt: None,
        });
        Reply::new(end, if failed { 500 } else { 200 })
    }

    /// A Redis command: a CLIENT span in the calling service. Returns whether it was a hit.
    pub(crate) fn cache(
        &mut self,
        parent: SpanCtx,
        command: &'static str,
        key: String,
        start: u64,
    ) -> (u64, bool) {
        let ctx = self.new_ctx(parent.service);
        let end = start + self.duration_ms(0.08, 1.2);
        let hit = command != "GET" || self.chance(0.8);
        let mut attributes = vec![
            kv_str("db.system", "redis"),
            kv_str("db.operation", command),
            kv_str("db.statement", format!("{command} {key}")),
            kv_int("db.redis.database_index", 0),
            kv_str("server.address", "redis-master.shop-prod.svc"),
            kv_int("server.port", 6379),
        ];
        if command == "GET" {
            attributes.push(kv_bool("app.cache.hit", hit));
        }
        self.record(SpanRecord {
            ctx,
            parent_opt: Some(parent),
            scope: ScopeKind::Cache,
            kind: SpanKind::Client,
            name: command.to_owned(),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: false,
            link_opt: None,
        });
        (end, hit)
    }

    /// An INTERNAL span for an in-process step lasting `low_ms..high_ms` plus whatever `work`
    /// (child spans) takes.
    pub(crate) fn internal(
        &mut self,
        parent: SpanCtx,
        name: &'static str,
        code: CodeLocation,
        (low_ms, high_ms): (f64, f64),
        start: u64,
        work: impl FnOnce(&mut Self, SpanCtx, u64) -> Reply,
    ) -> Reply {
        let ctx = self.new_ctx(parent.service);
        let reply = work(self, ctx, start);
        let end = reply.end + self.duration_ms(low_ms, high_ms);
        let mut attributes = vec![
            kv_str("code.function", code.function),
            kv_str("code.namespace", code.namespace),
            kv_str("code.filepath", code.file),
            kv_int("code.lineno", code.line),
        ];
        let status = reply.status;
        attributes.extend(reply.attributes);
        self.record(SpanRecord {
            ctx,
            parent_opt: Some(parent),
            scope: ScopeKind::Manual,
            kind: SpanKind::Internal,
            name: name.to_owned(),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: status >= 500,
            link_opt: None,
        });
        Reply::new(end, status)
    }

    /// A PRODUCER span publishing one message to a Kafka topic. Returns its end and its context
    /// (consumers link to it).
    pub(crate) fn publish(
        &mut self,
        parent: SpanCtx,
        topic: &'static str,
        key: String,
        start: u64,
    ) -> (u64, SpanCtx, i64) {
        let ctx = self.new_ctx(parent.service);
        let end = start + self.duration_ms(0.3, 4.0);
        let partition = self.rng.random_range(0..12);
        let attributes = publish_attributes(self, topic, key, partition);
        self.record(SpanRecord {
            ctx,
            parent_opt: Some(parent),
            scope: ScopeKind::Messaging,
            kind: SpanKind::Producer,
            name: format!("publish {topic}"),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: false,
            link_opt: None,
        });
        (end, ctx, partition)
    }

    /// A CONSUMER span in `consumer` processing the message `producer` published: a child of the
    /// producer span, linked to it, with `work` as its children.
    pub(crate) fn consume(
        &mut self,
        producer: SpanCtx,
        consumer: Service,
        (topic, partition): (&'static str, i64),
        start: u64,
        work: impl FnOnce(&mut Self, SpanCtx, u64) -> Reply,
    ) -> Reply {
        let ctx = self.new_ctx(consumer);
        let work_start = start + self.duration_ms(0.05, 0.5);
        let reply = work(self, ctx, work_start);
        let end = reply.end + self.duration_ms(0.05, 0.8);
        let mut attributes = vec![
            kv_str("messaging.system", "kafka"),
            kv_str("messaging.operation", "process"),
            kv_str("messaging.destination.name", topic),
            kv_str("messaging.kafka.consumer.group", consumer.name()),
            kv_int("messaging.kafka.destination.partition", partition),
            kv_int(
                "messaging.kafka.message.offset",
                self.rng.random_range(1_000_000..90_000_000),
            ),
            kv_str(
                "messaging.client_id",
                format!(
                    "{}-consumer-{}",
                    consumer.name(),
                    self.rng.random_range(0..4)
                ),
            ),
        ];
        let status = reply.status;
        attributes.extend(reply.attributes);
        self.record(SpanRecord {
            ctx,
            parent_opt: Some(producer),
            scope: ScopeKind::Messaging,
            kind: SpanKind::Consumer,
            name: format!("process {topic}"),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: status >= 500,
            link_opt: Some(producer),
        });
        Reply::new(end, status)
    }
}

fn publish_attributes(
    builder: &mut TraceBuilder<'_>,
    topic: &str,
    key: String,
    partition: i64,
) -> Vec<KeyValue> {
    vec![
        kv_str("messaging.system", "kafka"),
        kv_str("messaging.operation", "publish"),
        kv_str("messaging.destination.name", topic),
        kv_str("messaging.kafka.message.key", key),
        kv_int("messaging.kafka.destination.partition", partition),
        kv_str("messaging.message.id", random_hex(builder.rng, 16)),
        kv_int(
            "messaging.message.body.size",
            builder.rng.random_range(200..3_000),
        ),
        kv_str("server.address", "kafka-0.kafka.shop-prod.svc"),
        kv_int("server.port", 9092),
    ]
}

fn sql_failure(table: &str) -> Failure {
    Failure {
        exception_type: "psycopg.errors.QueryCanceled",
        message: "canceling statement due to statement timeout".to_owned(),
        stacktrace: format!(
            "Traceback (most recent call last):\n  File \"/app/shop/db.py\", line 88, in fetch\n    cur.execute(sql, params)\npsycopg.errors.QueryCanceled: canceling statement due to statement timeout on {table}"
        ),
    }
}
