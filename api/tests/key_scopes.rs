//! Every operation in `/openapi.json`, called with an API key of each scope:
//! either the (operation, scope) pair is in the reviewed allow-list below, or
//! the answer is 401/403 and nothing changed. Path parameters name real rows
//! the key's owner owns, so a 404 cannot hide a missing check. A route added
//! later is walked too, and fails here until someone decides about it.

mod common;

use common::*;
use marquee_core::auth::Role;
use marquee_core::auth::api_keys::Scope;
use reqwest::Method;
use serde_json::{Value, json};

/// What API keys may call, by scope: the routes taking `AnyAuth`, with the
/// scope their handler requires. Everything else is for signed-in people.
const KEY_ROUTES: &[(&str, &str, &[&str])] = &[
    (
        "GET",
        "/api/v1/auth/me",
        &["email:send", "otp", "subscriptions", "checkin"],
    ),
    // Each task type checks its own scope (message: email:send, otp: otp,
    // subscribe/unsubscribe: subscriptions; see tests/tasks.rs); the walk
    // sends a message.
    ("POST", "/api/v1/tasks", &["email:send"]),
    // Any key that submits tasks may send a batch; each item then checks its
    // own type's scope (a 403 in its result; see tests/tasks_batch.rs).
    (
        "POST",
        "/api/v1/tasks/batch",
        &["email:send", "otp", "subscriptions"],
    ),
    // The owner's own tasks, whatever key submitted them.
    (
        "GET",
        "/api/v1/tasks/{id}",
        &["email:send", "otp", "subscriptions"],
    ),
    ("POST", "/api/v1/otp/verify", &["otp"]),
    // The sender's suppression list (tests/suppressions.rs).
    ("GET", "/api/v1/suppressions", &["email:send"]),
    ("DELETE", "/api/v1/suppressions/{address}", &["email:send"]),
    ("POST", "/api/v1/subscription-contents", &["subscriptions"]),
    ("GET", "/api/v1/subscription-contents", &["subscriptions"]),
    (
        "GET",
        "/api/v1/subscription-contents/{content_type}",
        &["subscriptions"],
    ),
    (
        "PUT",
        "/api/v1/subscription-contents/{content_type}",
        &["subscriptions"],
    ),
    (
        "DELETE",
        "/api/v1/subscription-contents/{content_type}",
        &["subscriptions"],
    ),
    // The door, for the owner's events (tests/checkins.rs).
    ("POST", "/api/v1/events/{id}/checkins", &["checkin"]),
    ("POST", "/api/v1/events/{id}/checkins/batch", &["checkin"]),
    ("GET", "/api/v1/events/{id}/checkins/stats", &["checkin"]),
    ("GET", "/api/v1/events/{id}/checkin-keys", &["checkin"]),
    ("GET", "/api/v1/events/{id}/revocations", &["checkin"]),
    // Operations, for admins' keys only (tests/ops.rs walks those: the
    // owner here is no admin, so her keys cannot have these scopes).
    ("GET", "/api/v1/ops/queues", &["ops:read", "ops:write"]),
    ("POST", "/api/v1/ops/queues/{name}/pause", &["ops:write"]),
    ("POST", "/api/v1/ops/queues/{name}/resume", &["ops:write"]),
    ("GET", "/api/v1/ops/jobs", &["ops:read", "ops:write"]),
    ("GET", "/api/v1/ops/jobs/{id}", &["ops:read", "ops:write"]),
    ("POST", "/api/v1/ops/jobs/{id}/retry", &["ops:write"]),
    ("POST", "/api/v1/ops/jobs/{id}/cancel", &["ops:write"]),
    ("POST", "/api/v1/ops/jobs/{id}/discard", &["ops:write"]),
    ("POST", "/api/v1/ops/jobs/retry", &["ops:write"]),
    ("POST", "/api/v1/ops/jobs/cancel", &["ops:write"]),
    ("POST", "/api/v1/ops/jobs/discard", &["ops:write"]),
    ("GET", "/api/v1/ops/workers", &["ops:read", "ops:write"]),
    ("GET", "/api/v1/ops/history", &["ops:read", "ops:write"]),
    ("GET", "/api/v1/ops/audit", &["ops:read", "ops:write"]),
];

/// A well-formed ticket code of no ticket: a check-in answers `unknown`
/// and changes nothing.
const NO_TICKET: &str = "2345-6789-ABCD-EFGH-JKMN-PQRS-TUVW";

/// Valid bodies for the routes keys may call, so a key with the wrong scope
/// meets the scope check rather than a 400 for the body. Other routes get
/// `{}`: a people-only route refuses the key before reading the body.
fn body_for(method: &str, path: &str) -> Value {
    match (method, path) {
        ("POST", "/api/v1/tasks") => {
            json!({"type": "message", "payload": {"to": "guest@example.com", "subject": "Hi", "text": "Hello"}})
        }
        ("POST", "/api/v1/tasks/batch") => {
            json!({"tasks": [{"type": "message", "payload": {"to": "guest@example.com", "subject": "Hi", "text": "Hello"}}]})
        }
        ("POST", "/api/v1/otp/verify") => json!({"to": "guest@example.com", "code": "123456"}),
        ("POST", "/api/v1/subscription-contents") => {
            json!({"content_type": "weekly", "subject": "This week", "text": "Hello"})
        }
        ("PUT", "/api/v1/subscription-contents/{content_type}") => {
            json!({"subject": "Next week", "text": "Bye"})
        }
        ("POST", "/api/v1/events/{id}/checkins") => json!({"code": NO_TICKET}),
        ("POST", "/api/v1/events/{id}/checkins/batch") => {
            json!({"scans": [{"code": NO_TICKET, "nonce": "walk", "scanned_at": chrono::Utc::now().to_rfc3339()}]})
        }
        _ => json!({}),
    }
}

fn allowed(method: &str, path: &str, scope: Scope) -> bool {
    KEY_ROUTES
        .iter()
        .any(|(m, p, scopes)| *m == method && *p == path && scopes.contains(&scope.as_str()))
}

/// Real rows of the key's owner, to fill path parameters with.
struct Owned {
    user: String,
    venue: String,
    event: String,
    ticket_type: String,
    hold: String,
    booking: String,
    ticket: String,
    task: String,
    key: String,
}

impl Owned {
    /// `path` with its parameters filled. A parameter nobody mapped fails the
    /// test: pick a row the owner owns for it.
    fn fill(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('/').collect();
        let mut out = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let filled = match *part {
                "{content_type}" => "news",
                "{address}" => "guest@example.com",
                "{name}" => "system",
                "{ticket_type_id}" => &self.ticket_type,
                "{id}" => match parts[i - 1] {
                    "users" => &self.user,
                    "venues" => &self.venue,
                    "events" => &self.event,
                    "holds" => &self.hold,
                    "bookings" => &self.booking,
                    "tickets" => &self.ticket,
                    "tasks" | "jobs" => &self.task,
                    "api-keys" => &self.key,
                    other => panic!("{path}: which row of the owner's is a `{other}` id?"),
                },
                p if p.starts_with('{') => panic!("{path}: no value for {p}"),
                p => p,
            };
            out.push(filled.to_owned());
        }
        out.join("/")
    }
}

/// A digest of every table, to prove a refused call changed nothing. Key use
/// stamps `api_keys.last_used_at` and the producer marks jobs dispatched in
/// the background, so those tables are compared by identity and state only.
async fn fingerprint(app: &TestApp) -> String {
    let tables = sqlx::query_scalar!(
        r#"SELECT table_name::text AS "table_name!" FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> '_sqlx_migrations' ORDER BY 1"#,
    )
    .fetch_all(&app.ctx.pool)
    .await
    .unwrap();
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            let row = match t.as_str() {
                "api_keys" => "(t.id, t.revoked_at, t.scopes)::text",
                "jobs" => "t.id::text",
                _ => "t::text",
            };
            format!(
                "SELECT '{t}' AS name, md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) AS digest FROM \"{t}\" t"
            )
        })
        .collect();
    let sql = format!(
        "SELECT string_agg(name || '=' || digest, ',' ORDER BY name) FROM ({}) d",
        parts.join(" UNION ALL ")
    );
    digest_of(app, sql).await
}

/// Runs the fingerprint's statement. It reads every table, and a table name
/// cannot be a bind parameter, so the statement is built at run time; the
/// names come from information_schema, not from input.
#[allow(clippy::disallowed_methods)]
async fn digest_of(app: &TestApp, sql: String) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

/// Alice (an admin, so no role check can stand in for the person check) owns
/// a venue, a published event, a live hold, a booking with its tickets, a
/// task, a newsletter and a spare key.
async fn alice_owns_everything(app: &TestApp) -> (String, Owned) {
    let (alice, event) = event_on_sale(app, 6, 10).await;
    let me = json_of(
        call(app, Method::GET, "/api/v1/auth/me", Some(&alice), None).await,
        200,
    )
    .await;
    let user = me["id"].as_str().unwrap().to_owned();
    marquee_core::auth::cache::set_role(
        &app.ctx.pool,
        &app.ctx.redis(),
        &app.ctx.settings.redis.key_prefix,
        user.parse().unwrap(),
        Role::Admin,
    )
    .await
    .unwrap();
    let event_id = event["id"].as_str().unwrap().to_owned();
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(app, &event_id).await;
    let hold = |seat: String| {
        let path = format!("/api/v1/events/{event_id}/holds");
        let alice = alice.clone();
        async move {
            let body = json!({"seats": [seat]});
            let hold = call(app, Method::POST, &path, Some(&alice), Some(body)).await;
            json_of(hold, 201).await["id"].as_str().unwrap().to_owned()
        }
    };
    let paid = hold(seats[0].clone()).await;
    let live = hold(seats[1].clone()).await;
    let body = json!({"hold_id": paid, "payment": {"method": "card", "token": "tok_ok"}});
    let booking = app
        .client
        .post(app.url("/api/v1/bookings"))
        .bearer_auth(&alice)
        .header("Idempotency-Key", "walk")
        .json(&body)
        .send()
        .await
        .unwrap();
    let booking = json_of(booking, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let booking_id: uuid::Uuid = booking.parse().unwrap();
    marquee_core::tickets::issue(&app.ctx.pool, booking_id)
        .await
        .unwrap();
    let ticket = marquee_core::tickets::read::of_booking(&app.ctx.pool, booking_id)
        .await
        .unwrap()[0]
        .id
        .to_string();
    let venue = sqlx::query_scalar!(
        r#"SELECT venue_id::text AS "venue_id!" FROM events WHERE id = $1"#,
        event_id.parse::<uuid::Uuid>().unwrap(),
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();

    let sender = api_key(app, &alice, json!(["email:send", "subscriptions"])).await;
    let task = json!({"type": "message", "payload": {"to": "guest@example.com", "subject": "Hi", "text": "Hello"}});
    let task = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("X-API-Key", &sender)
        .json(&task)
        .send()
        .await
        .unwrap();
    let task = json_of(task, 202).await["id"].as_str().unwrap().to_owned();
    let news = json!({"content_type": "news", "subject": "This week", "text": "Hello"});
    let news = app
        .client
        .post(app.url("/api/v1/subscription-contents"))
        .header("X-API-Key", &sender)
        .json(&news)
        .send()
        .await
        .unwrap();
    assert!(news.status().is_success(), "{}", news.status());
    let keys = json_of(
        call(app, Method::GET, "/api/v1/api-keys", Some(&alice), None).await,
        200,
    )
    .await;
    let key = keys[0]["id"].as_str().unwrap().to_owned();
    let owned = Owned {
        user,
        venue,
        event: event_id,
        ticket_type,
        hold: live,
        booking,
        ticket,
        task,
        key,
    };
    (alice, owned)
}

#[tokio::test]
async fn api_keys_reach_only_the_routes_meant_for_applications() {
    let app = TestApp::spawn().await;
    let (alice, owned) = alice_owns_everything(&app).await;
    let mut keys = Vec::new();
    for scope in Scope::ALL.into_iter().filter(|s| !s.admin_only()) {
        let key = api_key(&app, &alice, json!([scope.as_str()])).await;
        // First use stamps last_used_at; do it before the walk.
        assert_eq!(
            app.client
                .get(app.url("/api/v1/auth/me"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        keys.push((scope, key));
    }
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();

    let mut walked = 0;
    let mut failures = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            // Public routes, and routes where signing in is optional (an
            // empty requirement): a key there is treated as nobody.
            if security.is_empty() || security.iter().any(|s| s.as_object().unwrap().is_empty()) {
                continue;
            }
            let method = method.to_uppercase();
            let url = app.url(&owned.fill(path));
            for (scope, key) in &keys {
                walked += 1;
                let before = fingerprint(&app).await;
                for via_header in [false, true] {
                    let mut request = app
                        .client
                        .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                        .header("Idempotency-Key", format!("walk-{walked}"));
                    request = if via_header {
                        request.header("X-API-Key", key)
                    } else {
                        request.bearer_auth(key)
                    };
                    if operation.get("requestBody").is_some() {
                        request = request.json(&body_for(&method, path));
                    }
                    let status = request.send().await.unwrap().status().as_u16();
                    let what = format!(
                        "{method} {path} with a `{}` key ({}): {status}",
                        scope.as_str(),
                        if via_header { "X-API-Key" } else { "Bearer" }
                    );
                    if allowed(&method, path, *scope) {
                        if status == 401 || status == 403 {
                            failures.push(format!("{what}, but the allow-list says keys may"));
                        }
                    } else if status != 401 && status != 403 {
                        failures.push(format!("{what}; add it to KEY_ROUTES or refuse keys"));
                    }
                }
                if !allowed(&method, path, *scope) && fingerprint(&app).await != before {
                    failures.push(format!(
                        "{method} {path} with a `{}` key changed data",
                        scope.as_str()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        walked > 20 * Scope::ALL.len(),
        "only {walked} calls: is the spec served?"
    );
    for (method, path, _) in KEY_ROUTES {
        let op = &spec["paths"][path][method.to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is in KEY_ROUTES but not in the spec"
        );
    }

    // What the issue reproduced: the hold and the bookings are untouched.
    let hold = call(
        &app,
        Method::GET,
        &format!("/api/v1/holds/{}", owned.hold),
        Some(&alice),
        None,
    )
    .await;
    json_of(hold, 200).await;
}

/// Operations anyone may call: no credentials are read.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/ping"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/tags"),
    ("GET", "/api/v1/unsubscribe/{token}"),
    ("POST", "/api/v1/unsubscribe/{token}"),
    ("POST", "/api/v1/unsubscribe/{token}/all"),
];

/// Operations where signing in is optional: organizers see their drafts.
const OPTIONAL: &[(&str, &str)] = &[
    ("GET", "/api/v1/events/{id}"),
    ("GET", "/api/v1/events/{id}/seats"),
    ("GET", "/api/v1/events/{id}/live"),
    ("GET", "/api/v1/events/{id}/announcements"),
];

/// Every operation declares its security in /openapi.json: people's bearer
/// token, an API key (bearer or X-API-Key) for the routes applications call,
/// optional sign-in, or none for the public ones; and the behaviour agrees:
/// without credentials, exactly the operations that declare a requirement
/// answer 401.
#[tokio::test]
async fn every_operation_declares_its_security_and_keeps_it() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let people = json!([{"BearerAuth": []}]);
    let keys = json!([{"KeyBearerAuth": []}, {"ApiKeyAuth": []}]);
    let optional = json!([{"BearerAuth": []}, {}]);
    let mut failures = Vec::new();
    let mut public = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let is = |list: &[(&str, &str)]| list.iter().any(|(m, p)| *m == method && p == path);
            let declared = &operation["security"];
            let expected = if is(PUBLIC) {
                public += 1;
                Value::Null
            } else if is(OPTIONAL) {
                optional.clone()
            } else if KEY_ROUTES.iter().any(|(m, p, _)| *m == method && p == path) {
                keys.clone()
            } else {
                people.clone()
            };
            if *declared != expected {
                failures.push(format!(
                    "{method} {path} declares {declared}, expected {expected}"
                ));
            }
            let url = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{content_type}", "news")
                .replace("{address}", "guest@example.com")
                .replace("{token}", "no-such-link");
            let mut request = app.client.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&url),
            );
            if operation.get("requestBody").is_some() {
                request = request.json(&json!({}));
            }
            let status = request.send().await.unwrap().status().as_u16();
            let secured = expected.is_array() && expected != optional;
            if secured != (status == 401) {
                failures.push(format!(
                    "{method} {path} without credentials answers {status}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        public,
        PUBLIC.len(),
        "every PUBLIC operation is in the spec"
    );
}
