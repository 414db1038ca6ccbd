//! The back half of checkout: the payment service charging through an external provider, and the
//! order worker fulfilling the `order.placed` message (inventory update, confirmation email).

use contrail_proto::otlp::trace::v1::span::SpanKind;
use rand::Rng;

use super::attrs::{
    kv_bytes, kv_f64, kv_f64_array, kv_int, kv_str, kv_str_array, random_bytes, random_hex,
};
use super::builder::{Failure, HttpRequest, Reply, SpanCtx, SpanRecord, TraceBuilder};
use super::ops::{CodeLocation, Query};
use super::topology::{ScopeKind, Service};

/// Probability that the payment provider is unavailable (a 503 with an exception).
const PROVIDER_ERROR_PROBABILITY: f64 = 0.02;

pub(crate) fn charge(
    builder: &mut TraceBuilder<'_>,
    cart: SpanCtx,
    total_cents: i64,
    currency: &'static str,
    at: u64,
) -> Reply {
    let request = HttpRequest {
        method: "POST",
        route: "/payments",
        path: "/payments".to_owned(),
    };
    builder.http_call(cart, Service::Payment, request, at, move |builder, payment, at| {
        let score: f64 = builder.rng.random_range(0.0..0.35);
        let rules: Vec<&str> = ["velocity", "geo-mismatch", "new-device"].into_iter().filter(|_| builder.chance(0.15)).collect();
        let fraud = builder.internal(payment, "fraud.check", CodeLocation { function: "score", namespace: "com.example.shop.payment.FraudService", file: "FraudService.java", line: 204 }, (1.0, 12.0), at, |_, _, at| {
            Reply::ok(at).with(vec![kv_f64("app.fraud.score", score), kv_str_array("app.fraud.rules_triggered", rules)])
        });
        let provider = provider_call(builder, payment, total_cents, currency, fraud.end);
        if provider.status >= 500 {
            return Reply::new(provider.end, 503);
        }
        let insert = builder.sql(payment, Query { operation: "INSERT", table: "payments", statement: "INSERT INTO payments (id, order_ref, amount_cents, currency, provider_ref, status) VALUES ($1, $2, $3, $4, $5, 'captured')".to_owned(), rows: 1 }, provider.end);
        let components = [total_cents as f64 * 0.81 / 100.0, total_cents as f64 * 0.19 / 100.0, 0.0];
        Reply::new(insert.end, insert.status).with(vec![
            kv_bytes("app.payment.idempotency_key", random_bytes(builder.rng, 16)),
            kv_str("app.payment.currency", currency),
            kv_f64_array("app.payment.components", components),
        ])
    })
}

/// The CLIENT span of a call to the payment provider's API (outside the traced system).
fn provider_call(
    builder: &mut TraceBuilder<'_>,
    payment: SpanCtx,
    total_cents: i64,
    currency: &str,
    at: u64,
) -> Reply {
    let ctx = builder.new_ctx(payment.service);
    let failed = builder.chance(PROVIDER_ERROR_PROBABILITY);
    let end = at
        + if failed {
            builder.duration_ms(2_000.0, 5_000.0)
        } else {
            builder.duration_ms(80.0, 450.0)
        };
    let status = if failed { 503 } else { 200 };
    let error_opt = failed.then(|| Failure {
        exception_type: "com.example.shop.payment.ProviderUnavailableException",
        message: format!("payment provider returned 503 for charge of {total_cents} {currency}"),
        stacktrace: "com.example.shop.payment.ProviderUnavailableException: payment provider returned 503\n\tat com.example.shop.payment.ProviderClient.charge(ProviderClient.java:87)\n\tat com.example.shop.payment.PaymentService.capture(PaymentService.java:142)".to_owned(),
    });
    let attributes = vec![
        kv_str("http.request.method", "POST"),
        kv_str(
            "url.full",
            format!(
                "https://api.payments.example.net/v2/charges/ch_{}",
                random_hex(builder.rng, 14)
            ),
        ),
        kv_str("server.address", "api.payments.example.net"),
        kv_int("server.port", 443),
        kv_int("http.response.status_code", status),
        kv_str("peer.service", "payment-provider"),
    ];
    builder.record(SpanRecord {
        ctx,
        parent_opt: Some(payment),
        scope: ScopeKind::HttpClient,
        kind: SpanKind::Client,
        name: "POST".to_owned(),
        start: at,
        end,
        attributes,
        error_opt,
        error_status: failed,
        link_opt: None,
    });
    Reply::new(end, status)
}

/// The order worker consumes `order.placed`: it reserves stock and asks the notification service
/// to send the confirmation email.
pub(crate) fn fulfil(
    builder: &mut TraceBuilder<'_>,
    producer: SpanCtx,
    partition: i64,
    skus: &[String],
    published: u64,
) {
    let start = published + builder.duration_ms(1.0, 40.0);
    let skus = skus.to_vec();
    builder.consume(
        producer,
        Service::OrderWorker,
        ("order.placed", partition),
        start,
        move |builder, worker, at| {
            let statement = format!(
                "UPDATE inventory SET reserved = reserved + 1 WHERE sku = ANY('{{{}}}')",
                skus.join(",")
            );
            let reserve = builder.sql(
                worker,
                Query {
                    operation: "UPDATE",
                    table: "inventory",
                    statement,
                    rows: skus.len() as i64,
                },
                at,
            );
            if builder.budget() < 3 {
                return reserve;
            }
            let request = HttpRequest {
                method: "POST",
                route: "/notifications/email",
                path: "/notifications/email".to_owned(),
            };
            let email = builder.http_call(
                worker,
                Service::Notification,
                request,
                reserve.end,
                |builder, notification, at| {
                    builder.internal(
                        notification,
                        "render_template",
                        CodeLocation {
                            function: "render",
                            namespace: "notification.templates",
                            file: "notification/templates.py",
                            line: 23,
                        },
                        (0.5, 4.0),
                        at,
                        |_, _, at| {
                            Reply::ok(at)
                                .with(vec![kv_str("app.template.name", "order_confirmation")])
                        },
                    )
                },
            );
            Reply::new(email.end, reserve.status.max(email.status))
        },
    );
}
