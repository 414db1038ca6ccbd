//! The request shapes of the simulated shop: browse a product, view the account (get-user),
//! search, login and checkout. Every request enters at the frontend, passes the API gateway and
//! fans out to the services behind it.

use rand::Rng;

use super::attrs::{
    CATEGORIES, CURRENCIES, FEATURE_FLAGS, LOCALES, SEARCH_TERMS, USER_AGENTS, kv_bytes, kv_f64,
    kv_int, kv_int_array, kv_list, kv_str, kv_str_array, pick, product_id, random_bytes,
    random_hex, user_id,
};
use super::builder::{HttpRequest, Reply, SpanCtx, TraceBuilder};
use super::ops::{CodeLocation, Query};
use super::topology::Service;

/// Probability that the gateway answers 429 (rate limited) before doing any work.
const RATE_LIMIT_PROBABILITY: f64 = 0.003;

/// The request shapes and their share of traffic (weights sum to 100).
const SHAPES: [(Shape, u32); 5] = [
    (Shape::Browse, 25),
    (Shape::GetUser, 20),
    (Shape::Search, 25),
    (Shape::Login, 12),
    (Shape::Checkout, 18),
];

#[derive(Clone, Copy, Debug)]
enum Shape {
    Browse,
    GetUser,
    Search,
    Login,
    Checkout,
}

fn request(method: &'static str, route: &'static str, path: String) -> HttpRequest {
    HttpRequest {
        method,
        route,
        path,
    }
}

/// Generates one whole trace starting at `start`.
pub(crate) fn generate_trace(builder: &mut TraceBuilder<'_>, start: u64) {
    let roll = builder.rng.random_range(0..100);
    let mut cumulative = 0;
    let mut shape = Shape::Browse;
    for (candidate, weight) in SHAPES {
        cumulative += weight;
        if roll < cumulative {
            shape = candidate;
            break;
        }
    }
    let user = user_id(builder.rng);
    let (page_method, page_route, page_path, api_method, api_route, api_path) = match shape {
        Shape::Browse => {
            let product = product_id(builder.rng);
            (
                "GET",
                "/products/:id",
                format!("/products/{product}"),
                "GET",
                "/api/v1/products/{id}",
                format!("/api/v1/products/{product}"),
            )
        }
        Shape::GetUser => (
            "GET",
            "/account",
            "/account".to_owned(),
            "GET",
            "/api/v1/users/{id}",
            format!("/api/v1/users/{user}"),
        ),
        Shape::Search => (
            "GET",
            "/search",
            "/search".to_owned(),
            "GET",
            "/api/v1/search",
            "/api/v1/search".to_owned(),
        ),
        Shape::Login => (
            "POST",
            "/login",
            "/login".to_owned(),
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login".to_owned(),
        ),
        Shape::Checkout => (
            "POST",
            "/checkout",
            "/checkout".to_owned(),
            "POST",
            "/api/v1/checkout",
            "/api/v1/checkout".to_owned(),
        ),
    };
    let page = request(page_method, page_route, page_path);
    let api = request(api_method, api_route, api_path);
    builder.root_request(Service::Frontend, page, start, |builder, frontend, at| {
        let reply = builder.http_call(
            frontend,
            Service::ApiGateway,
            api,
            at,
            |builder, gateway, at| gateway_handler(builder, gateway, at, shape, user),
        );
        let status = reply.status;
        let render = builder.internal(
            frontend,
            "render",
            CodeLocation {
                function: "renderPage",
                namespace: "frontend.ssr",
                file: "src/ssr/render.ts",
                line: 57,
            },
            (0.5, 8.0),
            reply.end,
            |_, _, at| Reply::ok(at),
        );
        let client = vec![
            kv_str("platform", if builder.chance(0.3) { "ios" } else { "web" }),
            kv_str("locale", *pick(builder.rng, LOCALES)),
            kv_int("screen.width", *pick(builder.rng, &[390, 1280, 1440, 1920])),
        ];
        let flags: Vec<&str> = FEATURE_FLAGS
            .iter()
            .copied()
            .filter(|_| builder.chance(0.3))
            .collect();
        Reply::new(render.end, status).with(vec![
            kv_str("user_agent.original", *pick(builder.rng, USER_AGENTS)),
            kv_list("app.client", client),
            kv_str_array("app.feature_flags", flags),
            kv_str("session.id", random_hex(builder.rng, 24)),
        ])
    });
}

fn gateway_handler(
    builder: &mut TraceBuilder<'_>,
    gateway: SpanCtx,
    at: u64,
    shape: Shape,
    user: i64,
) -> Reply {
    let key = format!("ratelimit:{}", random_hex(builder.rng, 8));
    let (at, _) = builder.cache(gateway, "INCR", key, at);
    let fingerprint = random_bytes(builder.rng, 8);
    if builder.chance(RATE_LIMIT_PROBABILITY) {
        return Reply::new(at, 429).with(vec![kv_bytes("app.request.fingerprint", fingerprint)]);
    }
    let reply = match shape {
        Shape::Login => builder.http_call(
            gateway,
            Service::Auth,
            request("POST", "/auth/login", "/auth/login".to_owned()),
            at,
            login,
        ),
        Shape::Browse => {
            let product = product_id(builder.rng);
            product_lookup(builder, gateway, product, at)
        }
        other => {
            let validation = validate_session(builder, gateway, at);
            if validation.status >= 400 {
                validation
            } else {
                match other {
                    Shape::GetUser => get_user(builder, gateway, user, validation.end),
                    Shape::Search => search(builder, gateway, validation.end),
                    _ => checkout(builder, gateway, user, validation.end),
                }
            }
        }
    };
    let mut attributes = vec![kv_bytes("app.request.fingerprint", fingerprint)];
    if !matches!(shape, Shape::Login | Shape::Browse) {
        attributes.push(kv_int("enduser.id", user));
    }
    reply.with(attributes)
}

fn validate_session(builder: &mut TraceBuilder<'_>, gateway: SpanCtx, at: u64) -> Reply {
    builder.http_call(gateway, Service::Auth, request("GET", "/auth/validate", "/auth/validate".to_owned()), at, |builder, auth, at| {
        let session = random_hex(builder.rng, 24);
        let (end, hit) = builder.cache(auth, "GET", format!("session:{session}"), at);
        if hit {
            return Reply::ok(end);
        }
        builder.sql(auth, Query {
            operation: "SELECT",
            table: "sessions",
            statement: "SELECT user_id, expires_at FROM sessions WHERE token_hash = $1 AND revoked = false".to_owned(),
            rows: 1,
        }, end)
    })
}

fn login(builder: &mut TraceBuilder<'_>, auth: SpanCtx, at: u64) -> Reply {
    let user_lookup = builder.sql(
        auth,
        Query {
            operation: "SELECT",
            table: "users",
            statement: "SELECT id, password_hash, mfa_enabled FROM users WHERE email = $1"
                .to_owned(),
            rows: 1,
        },
        at,
    );
    if user_lookup.is_server_error() {
        return user_lookup;
    }
    let cost = *pick(builder.rng, &[10, 12]);
    let verify = builder.internal(
        auth,
        "bcrypt.verify",
        CodeLocation {
            function: "verifyPassword",
            namespace: "com.example.shop.auth.PasswordService",
            file: "PasswordService.java",
            line: 112,
        },
        (20.0, 90.0),
        user_lookup.end,
        |_, _, at| Reply::ok(at).with(vec![kv_int("app.bcrypt.cost", cost)]),
    );
    if builder.chance(0.04) {
        return Reply::new(verify.end, 401).with(vec![kv_str("app.login.result", "bad_password")]);
    }
    let session_key = format!("session:{}", random_hex(builder.rng, 24));
    let (at, _) = builder.cache(auth, "SET", session_key, verify.end);
    let update = builder.sql(auth, Query {
        operation: "UPDATE",
        table: "users",
        statement: "UPDATE users SET last_login_at = now(), login_count = login_count + 1 WHERE id = $1".to_owned(),
        rows: 1,
    }, at);
    let user = user_id(builder.rng);
    let (end, producer, partition) =
        builder.publish(auth, "user.logged-in", user.to_string(), update.end);
    builder.consume(
        producer,
        Service::Notification,
        ("user.logged-in", partition),
        end,
        |builder, consumer, at| {
            builder.sql(
                consumer,
                Query {
                    operation: "SELECT",
                    table: "notification_prefs",
                    statement: format!(
                        "SELECT channel, enabled FROM notification_prefs WHERE user_id = {user}"
                    ),
                    rows: 3,
                },
                at,
            )
        },
    );
    Reply::new(end, if update.is_server_error() { 500 } else { 200 })
        .with(vec![kv_str("app.login.result", "ok")])
}

fn product_lookup(
    builder: &mut TraceBuilder<'_>,
    caller: SpanCtx,
    product: String,
    at: u64,
) -> Reply {
    let path = format!("/products/{product}");
    builder.http_call(caller, Service::Product, request("GET", "/products/{id}", path), at, move |builder, service, at| {
        let (end, hit) = builder.cache(service, "GET", format!("product:{product}"), at);
        let category = *pick(builder.rng, CATEGORIES);
        let reply = if hit {
            Reply::ok(end)
        } else {
            builder.sql(service, Query {
                operation: "SELECT",
                table: "products",
                statement: format!("SELECT id, name, price_cents, stock FROM products WHERE sku = '{product}'"),
                rows: 1,
            }, end)
        };
        reply.with(vec![kv_str("app.product.id", product), kv_str("app.product.category", category)])
    })
}

fn get_user(builder: &mut TraceBuilder<'_>, gateway: SpanCtx, user: i64, at: u64) -> Reply {
    let path = format!("/users/{user}");
    let profile = builder.http_call(
        gateway,
        Service::User,
        request("GET", "/users/{id}", path),
        at,
        |builder, service, at| {
            let (end, hit) = builder.cache(service, "GET", format!("user:{user}"), at);
            if builder.chance(0.02) {
                return Reply::new(end, 404);
            }
            if hit {
                return Reply::ok(end);
            }
            let row = builder.sql(
                service,
                Query {
                    operation: "SELECT",
                    table: "users",
                    statement: format!(
                        "SELECT id, email, display_name, created_at FROM users WHERE id = {user}"
                    ),
                    rows: 1,
                },
                end,
            );
            let rows = builder.rng.random_range(0..4);
            let addresses = builder.sql(
                service,
                Query {
                    operation: "SELECT",
                    table: "addresses",
                    statement: format!(
                        "SELECT * FROM addresses WHERE user_id = {user} ORDER BY is_default DESC"
                    ),
                    rows,
                },
                row.end,
            );
            Reply::new(addresses.end, row.status.max(addresses.status))
        },
    );
    if profile.status >= 400 {
        return profile;
    }
    let recommended = builder.rng.random_range(0..4).min(builder.budget() / 4);
    let mut end = profile.end;
    let mut status = profile.status;
    for _ in 0..recommended {
        let product = product_id(builder.rng);
        let lookup_start = profile.end + builder.duration_ms(0.01, 0.2);
        let reply = product_lookup(builder, gateway, product, lookup_start);
        end = end.max(reply.end);
        status = status.max(reply.status);
    }
    Reply::new(end, status)
}

fn search(builder: &mut TraceBuilder<'_>, gateway: SpanCtx, at: u64) -> Reply {
    let term = *pick(builder.rng, SEARCH_TERMS);
    let path = format!("/search?q={}", term.replace(' ', "+"));
    builder.http_call(gateway, Service::Search, request("GET", "/search", path), at, |builder, service, at| {
        let parse = builder.internal(service, "query.parse", CodeLocation { function: "parse_query", namespace: "search.query", file: "search/query.py", line: 41 }, (0.05, 0.6), at, |_, _, at| Reply::ok(at));
        let cache_key = format!("search:{}", random_hex(builder.rng, 16));
        let (end, hit) = builder.cache(service, "GET", cache_key, parse.end);
        let results = builder.rng.random_range(0..24);
        let query = if hit {
            Reply::ok(end)
        } else {
            builder.sql(service, Query {
                operation: "SELECT",
                table: "products",
                statement: format!("SELECT sku, ts_rank(search_vector, q) AS rank FROM products, plainto_tsquery('english', '{term}') q WHERE search_vector @@ q ORDER BY rank DESC LIMIT 24"),
                rows: results,
            }, end)
        };
        if query.is_server_error() {
            return query;
        }
        let details = builder.http_call(service, Service::Product, request("GET", "/products", "/products?ids=batch".to_owned()), query.end, |builder, product, at| {
            let lookups = (results as usize).min(builder.budget().saturating_sub(2) / 2).min(10);
            let mut end = at;
            let mut misses = Vec::new();
            for _ in 0..lookups {
                let sku = product_id(builder.rng);
                let (lookup_end, hit) = builder.cache(product, "GET", format!("product:{sku}"), end);
                end = lookup_end;
                if !hit {
                    misses.push(sku);
                }
            }
            if misses.is_empty() {
                return Reply::ok(end);
            }
            let statement = format!("SELECT id, name, price_cents, stock FROM products WHERE sku = ANY('{{{}}}')", misses.join(","));
            builder.sql(product, Query { operation: "SELECT", table: "products", statement, rows: misses.len() as i64 }, end)
        });
        let scores: Vec<f64> = (0..results.min(5)).map(|rank| 1.0 / (1.0 + rank as f64)).collect();
        Reply::new(details.end, details.status).with(vec![
            kv_str("app.search.query", term),
            kv_int("app.search.results", results),
            kv_f64("app.search.top_score", scores.first().copied().unwrap_or(0.0)),
        ])
    })
}

fn checkout(builder: &mut TraceBuilder<'_>, gateway: SpanCtx, user: i64, at: u64) -> Reply {
    let path = format!("/carts/{user}/checkout");
    builder.http_call(gateway, Service::Cart, request("POST", "/carts/{id}/checkout", path), at, move |builder, cart, at| {
        let items = builder.rng.random_range(1..9usize);
        let load = builder.sql(cart, Query { operation: "SELECT", table: "cart_items", statement: format!("SELECT sku, quantity FROM cart_items WHERE cart_id = {user}"), rows: items as i64 }, at);
        if load.is_server_error() {
            return load;
        }
        // Items are priced in parallel; each lookup costs the cart up to 4 spans.
        let priced = items.min(builder.budget().saturating_sub(16) / 4).max(1);
        let mut end = load.end;
        let mut status = 200;
        let mut skus = Vec::new();
        for _ in 0..priced {
            let sku = product_id(builder.rng);
            skus.push(sku.clone());
            let lookup_start = load.end + builder.duration_ms(0.01, 0.3);
            let reply = product_lookup(builder, cart, sku, lookup_start);
            end = end.max(reply.end);
            status = status.max(reply.status);
        }
        if status >= 500 {
            return Reply::new(end, 502);
        }
        if builder.chance(0.015) {
            return Reply::new(end, 409).with(vec![kv_str("app.checkout.result", "out_of_stock")]);
        }
        let quantities: Vec<i64> = skus.iter().map(|_| builder.rng.random_range(1..4)).collect();
        let total_cents: i64 = quantities.iter().map(|quantity| quantity * builder.rng.random_range(499..19_999)).sum();
        let currency = *pick(builder.rng, CURRENCIES);
        let payment = super::payment::charge(builder, cart, total_cents, currency, end);
        if payment.status >= 400 {
            return Reply::new(payment.end, if payment.status >= 500 { 502 } else { 402 });
        }
        let order_id = format!("ord_{}", random_hex(builder.rng, 12));
        let insert = builder.sql(cart, Query { operation: "INSERT", table: "orders", statement: "INSERT INTO orders (id, user_id, total_cents, currency, status) VALUES ($1, $2, $3, $4, 'paid')".to_owned(), rows: 1 }, payment.end);
        let clear = builder.sql(cart, Query { operation: "DELETE", table: "cart_items", statement: format!("DELETE FROM cart_items WHERE cart_id = {user}"), rows: skus.len() as i64 }, insert.end);
        let (published, producer, partition) = builder.publish(cart, "order.placed", order_id.clone(), clear.end);
        super::payment::fulfil(builder, producer, partition, &skus, published);
        Reply::new(published, insert.status.max(clear.status)).with(vec![
            kv_str("app.order.id", order_id),
            kv_str_array("app.cart.skus", skus),
            kv_int_array("app.cart.quantities", quantities),
            kv_f64("app.order.total", total_cents as f64 / 100.0),
        ])
    })
}
