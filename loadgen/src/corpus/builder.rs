//! The span-building primitives a trace shape is written with: an HTTP call (CLIENT span in the
//! caller, SERVER span in the callee), a SQL query, a cache command, an internal step, a queue
//! publish and its consumer. Each primitive takes a start time, runs its children, and returns
//! when it ended, so every child lies inside its parent's time window.

use contrail_proto::otlp::common::v1::KeyValue;
use contrail_proto::otlp::trace::v1::span::{Event, Link, SpanKind};
use contrail_proto::otlp::trace::v1::status::StatusCode;
use contrail_proto::otlp::trace::v1::{Span, Status};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::attrs::{
    client_address, kv_bool, kv_int, kv_str, kv_str_array, random_hex, random_span_id,
};
use super::topology::{INSTANCES_PER_SERVICE, ScopeKind, Service};

/// Sampled span flag (W3C trace flags), as SDKs set on every exported span.
const SAMPLED_FLAGS: u32 = 0x1 | 0x100;

pub(crate) const NANOS_PER_MS: f64 = 1_000_000.0;

/// One generated span and where it belongs (which resource and scope).
#[derive(Clone, Debug)]
pub(crate) struct GenSpan {
    pub(crate) service: Service,
    pub(crate) instance: usize,
    pub(crate) scope: ScopeKind,
    pub(crate) span: Span,
}

/// The identity of a span that children and links refer to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanCtx {
    pub(crate) span_id: [u8; 8],
    pub(crate) service: Service,
}

/// What a handler (or a call) produced: when it finished, the HTTP status it answered with, and
/// attributes the handler learnt while running (added to its SERVER span).
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) end: u64,
    pub(crate) status: i64,
    pub(crate) attributes: Vec<KeyValue>,
}

impl Reply {
    pub(crate) fn new(end: u64, status: i64) -> Self {
        Self {
            end,
            status,
            attributes: Vec::new(),
        }
    }

    pub(crate) fn ok(end: u64) -> Self {
        Self::new(end, 200)
    }

    pub(crate) fn with(mut self, attributes: Vec<KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    pub(crate) fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

/// An HTTP request as the caller sees it.
#[derive(Clone, Debug)]
pub(crate) struct HttpRequest {
    pub(crate) method: &'static str,
    pub(crate) route: &'static str,
    pub(crate) path: String,
}

/// An exception recorded on a failing span.
pub(crate) struct Failure {
    pub(crate) exception_type: &'static str,
    pub(crate) message: String,
    pub(crate) stacktrace: String,
}

/// The fields of a span to be recorded once its children are done.
pub(crate) struct SpanRecord {
    pub(crate) ctx: SpanCtx,
    pub(crate) parent_opt: Option<SpanCtx>,
    pub(crate) scope: ScopeKind,
    pub(crate) kind: SpanKind,
    pub(crate) name: String,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) error_opt: Option<Failure>,
    pub(crate) error_status: bool,
    pub(crate) link_opt: Option<SpanCtx>,
}

/// Builds the spans of one trace.
pub(crate) struct TraceBuilder<'r> {
    pub(crate) rng: &'r mut ChaCha8Rng,
    trace_id: [u8; 16],
    instances: [usize; 10],
    worker_ids: [i64; 10],
    spans: Vec<GenSpan>,
    max_spans: usize,
}

impl<'r> TraceBuilder<'r> {
    pub(crate) fn new(rng: &'r mut ChaCha8Rng, trace_id: [u8; 16], max_spans: usize) -> Self {
        let mut instances = [0; 10];
        let mut worker_ids = [0; 10];
        for (instance, worker_id) in instances.iter_mut().zip(worker_ids.iter_mut()) {
            *instance = rng.random_range(0..INSTANCES_PER_SERVICE);
            *worker_id = rng.random_range(1..400);
        }
        Self {
            rng,
            trace_id,
            instances,
            worker_ids,
            spans: Vec::new(),
            max_spans,
        }
    }

    pub(crate) fn finish(mut self) -> Vec<GenSpan> {
        self.spans
            .sort_by_key(|gen_span| gen_span.span.start_time_unix_nano);
        self.spans
    }

    /// How many more spans the trace may hold; fan-outs shrink to fit.
    pub(crate) fn budget(&self) -> usize {
        self.max_spans.saturating_sub(self.spans.len())
    }

    pub(crate) fn new_ctx(&mut self, service: Service) -> SpanCtx {
        SpanCtx {
            span_id: random_span_id(self.rng),
            service,
        }
    }

    /// A uniformly distributed log-scale duration between `low_ms` and `high_ms`, in nanoseconds.
    pub(crate) fn duration_ms(&mut self, low_ms: f64, high_ms: f64) -> u64 {
        let fraction: f64 = self.rng.random();
        let ms = low_ms * (high_ms / low_ms).powf(fraction);
        (ms * NANOS_PER_MS) as u64
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.rng.random_bool(probability)
    }

    pub(crate) fn record(&mut self, record: SpanRecord) {
        let SpanRecord {
            ctx,
            parent_opt,
            scope,
            kind,
            name,
            start,
            end,
            mut attributes,
            error_opt,
            error_status,
            link_opt,
        } = record;
        let service = ctx.service;
        let worker_id = self.worker_ids[service.index()];
        attributes.push(kv_int("thread.id", worker_id));
        attributes.push(kv_str("thread.name", service.thread_name(worker_id)));
        let mut events = Vec::new();
        let mut status = None;
        if let Some(failure) = error_opt {
            let event_time = end.saturating_sub(self.duration_ms(0.01, 0.2)).max(start);
            events.push(Event {
                time_unix_nano: event_time,
                name: "exception".to_owned(),
                attributes: vec![
                    kv_str("exception.type", failure.exception_type),
                    kv_str("exception.message", failure.message.clone()),
                    kv_str("exception.stacktrace", failure.stacktrace),
                    kv_bool("exception.escaped", false),
                ],
                dropped_attributes_count: 0,
            });
            status = Some(Status {
                message: failure.message,
                code: StatusCode::Error as i32,
            });
        } else if error_status {
            status = Some(Status {
                message: String::new(),
                code: StatusCode::Error as i32,
            });
        }
        let links = link_opt
            .map(|linked| Link {
                trace_id: self.trace_id.to_vec(),
                span_id: linked.span_id.to_vec(),
                trace_state: String::new(),
                attributes: vec![kv_str("messaging.operation", "publish")],
                dropped_attributes_count: 0,
                flags: SAMPLED_FLAGS,
            })
            .into_iter()
            .collect();
        let span = Span {
            trace_id: self.trace_id.to_vec(),
            span_id: ctx.span_id.to_vec(),
            trace_state: String::new(),
            parent_span_id: parent_opt
                .map(|parent| parent.span_id.to_vec())
                .unwrap_or_default(),
            flags: SAMPLED_FLAGS,
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links,
            dropped_links_count: 0,
            status,
        };
        self.spans.push(GenSpan {
            service,
            instance: self.instances[service.index()],
            scope,
            span,
        });
    }

    /// The SERVER span of an HTTP request that entered `service` from outside (no parent).
    pub(crate) fn root_request(
        &mut self,
        service: Service,
        request: HttpRequest,
        start: u64,
        handler: impl FnOnce(&mut Self, SpanCtx, u64) -> Reply,
    ) -> Reply {
        self.server_span(None, service, request, start, handler)
    }

    /// An HTTP call from `parent`'s service to `callee`: a CLIENT span in the caller and a SERVER
    /// span in the callee whose handler runs the callee's work.
    pub(crate) fn http_call(
        &mut self,
        parent: SpanCtx,
        callee: Service,
        request: HttpRequest,
        start: u64,
        handler: impl FnOnce(&mut Self, SpanCtx, u64) -> Reply,
    ) -> Reply {
        let client = self.new_ctx(parent.service);
        let network_out = self.duration_ms(0.08, 0.6);
        let reply = self.server_span(
            Some(client),
            callee,
            request.clone(),
            start + network_out,
            handler,
        );
        let end = reply.end + self.duration_ms(0.05, 0.4);
        let url = format!("http://{}:{}{}", callee.name(), callee.port(), request.path);
        let attributes = vec![
            kv_str("http.request.method", request.method),
            kv_str("url.full", url),
            kv_str("server.address", callee.name()),
            kv_int("server.port", callee.port()),
            kv_str("network.peer.address", client_address(self.rng)),
            kv_int("http.response.status_code", reply.status),
            kv_str("peer.service", callee.name()),
        ];
        self.record(SpanRecord {
            ctx: client,
            parent_opt: Some(parent),
            scope: ScopeKind::HttpClient,
            kind: SpanKind::Client,
            name: request.method.to_owned(),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: reply.status >= 400,
            link_opt: None,
        });
        Reply::new(end, reply.status)
    }

    fn server_span(
        &mut self,
        parent_opt: Option<SpanCtx>,
        service: Service,
        request: HttpRequest,
        start: u64,
        handler: impl FnOnce(&mut Self, SpanCtx, u64) -> Reply,
    ) -> Reply {
        let server = self.new_ctx(service);
        let work_start = start + self.duration_ms(0.02, 0.3);
        let reply = handler(self, server, work_start);
        let end = reply.end + self.duration_ms(0.02, 0.5);
        let external = parent_opt.is_none();
        let mut attributes = vec![
            kv_str("http.request.method", request.method),
            kv_str("http.route", request.route),
            kv_str("url.path", request.path.clone()),
            kv_str("url.scheme", if external { "https" } else { "http" }),
            kv_str(
                "server.address",
                if external {
                    "shop.example.com"
                } else {
                    service.name()
                },
            ),
            kv_int("server.port", service.port()),
            kv_str("client.address", client_address(self.rng)),
            kv_str(
                "network.protocol.version",
                if external { "2" } else { "1.1" },
            ),
            kv_int("http.response.status_code", reply.status),
            kv_str_array(
                "http.request.header.x-request-id",
                [random_hex(self.rng, 16)],
            ),
        ];
        if request.method != "GET" {
            attributes.push(kv_int(
                "http.request.body.size",
                self.rng.random_range(40..2_000),
            ));
        }
        attributes.push(kv_int(
            "http.response.body.size",
            self.rng.random_range(2..12_000),
        ));
        let status = reply.status;
        let server_error = reply.is_server_error();
        attributes.extend(reply.attributes);
        self.record(SpanRecord {
            ctx: server,
            parent_opt,
            scope: ScopeKind::HttpServer,
            kind: SpanKind::Server,
            name: format!("{} {}", request.method, request.route),
            start,
            end,
            attributes,
            error_opt: None,
            error_status: server_error,
            link_opt: None,
        });
        Reply::new(end, status)
    }
}
