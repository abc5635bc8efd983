//! TestApp: the real API on a free port, over this test's database and
//! Redis namespace.
#![allow(dead_code)]

pub mod browser;
pub mod contract;
pub mod process;
pub mod sse;
pub mod tickets;
pub mod waitlist;

use std::sync::Arc;

use marquee_api::{AppState, Server};
use marquee_core::testing::TestContext;
use tokio::sync::oneshot;

pub struct TestApp {
    pub ctx: TestContext,
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    /// Every answer, checked against /openapi.json when the test ends.
    pub contract: Arc<contract::Contract>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestContext::new().await).await
    }

    /// Starts the API on `ctx`, whose settings the test may have changed.
    pub async fn spawn_with(ctx: TestContext) -> Self {
        let contract = Arc::new(contract::Contract::of(&ctx.settings));
        let state = AppState::with_pool(ctx.settings.clone(), ctx.pool.clone()).unwrap();
        let server = Server::bind(state)
            .await
            .unwrap()
            .with_layer(contract.layer());
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self {
            ctx,
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            contract,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Opens a raw connection and sends a sign-in's head and the first bytes
    /// of a 1,000-byte body, then stalls: the rest never comes.
    pub async fn stall_a_sign_in_body(&self) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let address = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"email\":"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    }
}

/// A second API server on the same database and Redis namespace, as
/// another replica behind a load balancer would be.
pub struct Replica {
    pub base: String,
    pub client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl TestApp {
    pub async fn spawn_replica(&self) -> Replica {
        let state = AppState::with_pool(self.ctx.settings.clone(), self.ctx.pool.clone()).unwrap();
        let server = Server::bind(state)
            .await
            .unwrap()
            .with_layer(self.contract.layer());
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Replica {
            base,
            client: reqwest::Client::new(),
            _stop: stop,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.contract.assert_kept();
    }
}

/// Asserts an RFC 9457 body and returns it.
pub async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

/// Registers `email` (password "correct horse") with a verified address, as
/// sending mail and creating keys require, and returns the session.
pub async fn register(app: &TestApp, email: &str) -> serde_json::Value {
    let session = register_unverified(app, email).await;
    verify_email(app, user_id(&session)).await;
    session
}

/// Marks the address verified, as spending the emailed code does.
pub async fn verify_email(app: &TestApp, user: uuid::Uuid) {
    assert!(
        marquee_core::auth::mark_email_verified(&app.ctx.pool, user)
            .await
            .unwrap()
    );
}

/// The user id of a session.
pub fn user_id(session: &serde_json::Value) -> uuid::Uuid {
    session["user"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("session names its user")
}

/// Registers `email` (password "correct horse") and returns the session; the
/// address stays unverified.
pub async fn register_unverified(app: &TestApp, email: &str) -> serde_json::Value {
    let body = serde_json::json!({"email": email, "password": "correct horse", "name": "Dev"});
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The access token of a session.
pub fn access_token(session: &serde_json::Value) -> &str {
    session["access_token"].as_str().unwrap()
}

/// Creates an API key with `scopes` for the signed-in person; returns its secret.
pub async fn api_key(app: &TestApp, token: &str, scopes: serde_json::Value) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "app", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs a real worker on `settings` (every queue) until the ledger is
/// drained.
pub async fn drain_with(app: &TestApp, settings: marquee_core::Settings) {
    drain_within(app, settings, std::time::Duration::from_secs(20)).await;
}

/// `drain_with`, allowing `timeout` for the ledger to empty.
pub async fn drain_within(
    app: &TestApp,
    mut settings: marquee_core::Settings,
    timeout: std::time::Duration,
) {
    settings.worker.queues = marquee_core::jobs::queues::ALL.map(str::to_owned).to_vec();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = tokio::spawn(marquee_worker::run(
        settings,
        marquee_worker::Registry::standard(),
        marquee_worker::unique_worker_name(),
        async move {
            let _ = stopped.await;
            Ok(())
        },
    ));
    marquee_worker::testing::wait_until_drained(&app.ctx, timeout).await;
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
}

/// Registers `email` and makes them an organizer; returns their access token.
pub async fn organizer(app: &TestApp, email: &str) -> String {
    with_role(app, email, marquee_core::auth::Role::Organizer).await
}

/// Registers `email` with `role`; returns their access token.
pub async fn with_role(app: &TestApp, email: &str, role: marquee_core::auth::Role) -> String {
    let session = register(app, email).await;
    let id = user_id(&session);
    marquee_core::auth::cache::set_role(
        &app.ctx.pool,
        &app.ctx.redis(),
        &app.ctx.settings.redis.key_prefix,
        id,
        role,
    )
    .await
    .unwrap()
    .unwrap();
    access_token(&session).to_owned()
}

/// A JSON request with a bearer token; `None` body sends none.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Asserts `status` and returns the JSON body.
pub async fn json_of(response: reqwest::Response, status: u16) -> serde_json::Value {
    let actual = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(actual, status, "{body}");
    body
}

/// `n` people (users created directly, tokens minted), for races.
pub async fn people(app: &TestApp, n: usize) -> Vec<String> {
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let emails: Vec<String> = ids
        .iter()
        .map(|id| format!("fan-{id}@example.com"))
        .collect();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash, role, email_verified_at)
         SELECT id, email, 'Fan', 'unusable', 'user', now() FROM UNNEST($1::uuid[], $2::text[]) AS t(id, email)",
        &ids,
        &emails,
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let tokens = marquee_core::auth::AccessTokens::new(&app.ctx.settings.jwt);
    ids.iter()
        .map(|id| tokens.issue(*id, marquee_core::auth::Role::User, uuid::Uuid::now_v7()))
        .collect()
}

/// Alice's published event: a venue of `seats` seats in one row ("A-1"…),
/// each 2500, and a ticket type "GA" of `capacity` at 1000.
pub async fn event_on_sale(
    app: &TestApp,
    seats: i32,
    capacity: i32,
) -> (String, serde_json::Value) {
    let alice = organizer(app, "alice@example.com").await;
    let venue = serde_json::json!({"name": "Hall", "sections": [{"name": "Floor", "rows": [{"label": "A", "seats": seats}]}]});
    let venue = json_of(
        call(
            app,
            reqwest::Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(venue),
        )
        .await,
        201,
    )
    .await;
    let body = serde_json::json!({"title": "Rush", "currency": "EUR", "max_per_order": 10,
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "venue_id": venue["id"],
        "section_prices": [{"section_id": venue["sections"][0]["id"], "price_cents": 2500}],
        "ticket_types": [{"name": "GA", "price_cents": 1000, "capacity": capacity}]});
    let event = json_of(
        call(
            app,
            reqwest::Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    let id = event["id"].as_str().unwrap();
    let event = json_of(
        call(
            app,
            reqwest::Method::POST,
            &format!("/api/v1/events/{id}/publish"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;
    (alice, event)
}

/// The seat ids of an event's seat map, in map order.
pub async fn seat_ids(app: &TestApp, event: &str) -> Vec<String> {
    let map = json_of(
        call(
            app,
            reqwest::Method::GET,
            &format!("/api/v1/events/{event}/seats"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    map.as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The one number a SQL query returns. Dynamic on purpose: tests state their
/// invariants as ad-hoc SQL (listed in docs/ARCHITECTURE.md), and a wrong
/// column still fails the test that runs it.
#[allow(clippy::disallowed_methods)]
pub async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

/// Puts a delivered code's job back as a crash would leave it: the email is
/// recorded as sent, but the transaction that stored the code's hash never
/// committed, and the ledger has the job to run again. Pushes it to Redis.
pub async fn rerun_as_if_the_commit_was_lost(app: &TestApp, kind: &str, table: &str) {
    let pool = &app.ctx.pool;
    match table {
        "otps" => {
            sqlx::query!("UPDATE otps SET code_hash = NULL WHERE code_hash IS NOT NULL")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query!("UPDATE otps SET expires_at = NULL")
                .execute(pool)
                .await
                .unwrap();
        }
        "one_time_codes" => {
            sqlx::query!("UPDATE one_time_codes SET code_hash = NULL WHERE code_hash IS NOT NULL")
                .execute(pool)
                .await
                .unwrap();
        }
        other => panic!("no delivered codes in {other}"),
    }
    let rerun = sqlx::query!(
        "UPDATE jobs SET status = 'retrying', run_at = now(), dispatched_at = NULL,
                finished_at = NULL, updated_at = now() - interval '1 minute'
         WHERE kind = $1",
        kind,
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(rerun.rows_affected(), 1, "one {kind} job to run again");
    let producer = marquee_core::jobs::Producer::new(
        pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    );
    let pushed =
        marquee_core::jobs::relay_once(pool, &producer, std::time::Duration::ZERO, 10, &[])
            .await
            .unwrap()
            .pushed;
    assert_eq!(pushed, 1);
}

/// An admin created directly (no request, no Redis); returns an access token.
pub async fn admin_token(app: &TestApp) -> String {
    admin_token_in(&app.ctx).await
}

/// Like [`admin_token`], for the API processes running on `ctx`.
pub async fn admin_token_in(ctx: &marquee_core::testing::TestContext) -> String {
    let id = uuid::Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash, role)
         VALUES ($1, $2, 'Admin', 'unusable', 'admin')",
        id,
        format!("admin-{id}@example.com"),
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    marquee_core::auth::AccessTokens::new(&ctx.settings.jwt).issue(
        id,
        marquee_core::auth::Role::Admin,
        uuid::Uuid::now_v7(),
    )
}

/// What the email job does for the newest one-time code: derive it and
/// store its hash; returns the code (as if read from the mailbox).
pub async fn deliver_latest_code(app: &TestApp) -> String {
    let id: uuid::Uuid =
        sqlx::query_scalar!("SELECT id FROM one_time_codes ORDER BY created_at DESC LIMIT 1")
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    let pepper = secrecy::ExposeSecret::expose_secret(&app.ctx.settings.jwt.secret)
        .as_bytes()
        .to_vec();
    let mut conn = app.ctx.pool.acquire().await.unwrap();
    marquee_core::auth::codes::issue(&mut conn, id, &pepper)
        .await
        .unwrap()
        .expect("a pending code")
}
