//! Suppression lists: a recipient the mail server refuses for good (5xx on
//! RCPT), or who unsubscribes from all of an account's mail, is never sent
//! that account's mail again, until the owner lifts the entry.

mod common;

use common::*;
use marquee_core::jobs::{self, JobStatus};
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use serde_json::{Value, json};
use uuid::Uuid;

struct Sender {
    key: String,
}

impl Sender {
    async fn new(app: &TestApp, email: &str) -> Self {
        let session = register(app, email).await;
        let key = api_key(
            app,
            access_token(&session),
            json!(["email:send", "subscriptions"]),
        )
        .await;
        Self { key }
    }

    async fn call(&self, app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::Response {
        app.client
            .request(method, app.url(path))
            .header("x-api-key", &self.key)
            .send()
            .await
            .unwrap()
    }

    /// Submits a message task to `to`; its id.
    async fn mail(&self, app: &TestApp, to: &str) -> Uuid {
        let body =
            json!({"type": "message", "payload": {"to": to, "subject": "Hi", "text": "Hello"}});
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let accepted = json_of(response, 202).await;
        accepted["id"].as_str().unwrap().parse().unwrap()
    }

    async fn list(&self, app: &TestApp) -> Value {
        json_of(
            self.call(app, reqwest::Method::GET, "/api/v1/suppressions")
                .await,
            200,
        )
        .await
    }
}

async fn setup() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    (TestApp::spawn_with(ctx).await, sink)
}

/// Messages the sink received for `address` (sign-ups send mail too).
fn to(sink: &SmtpSink, address: &str) -> usize {
    let header = format!("To: {address}");
    sink.messages()
        .iter()
        .filter(|m| m.contains(&header))
        .count()
}

async fn job(app: &TestApp, id: Uuid) -> jobs::JobRecord {
    jobs::find(&app.ctx.pool, id).await.unwrap().unwrap()
}

/// Emails rows (sends begun) for a job: none means SMTP was never touched.
async fn sends(app: &TestApp, id: Uuid) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM emails WHERE id = $1"#, id)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recipient_refused_for_good_is_suppressed_and_never_sent_to_again() {
    let (app, sink) = setup().await;
    let shop = Sender::new(&app, "shop@example.com").await;
    let bounced = shop.mail(&app, "reject-me@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    let first = job(&app, bounced).await;
    assert_eq!(first.status, JobStatus::Dead);
    assert_eq!(sends(&app, bounced).await, 1, "the first one went to SMTP");

    let list = shop.list(&app).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["address"], "reject-me@example.com");
    assert_eq!(list["items"][0]["reason"], "bounced");
    assert!(
        list["items"][0]["detail"].as_str().unwrap().contains("550"),
        "{list}"
    );

    // The same mailbox, written differently: suppressed, SMTP untouched.
    for variant in [
        "Reject-Me@Example.com",
        "Someone Else <REJECT-ME@example.com>",
    ] {
        let id = shop.mail(&app, variant).await;
        drain_with(&app, app.ctx.settings.clone()).await;
        assert_eq!(sends(&app, id).await, 0, "{variant} reached SMTP");
    }
    let again = shop.mail(&app, "Reject Me <reject-me@example.com>").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    let second = job(&app, again).await;
    assert_eq!(second.status, JobStatus::Dead);
    assert!(
        second
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("suppressed"),
        "{:?}",
        second.last_error
    );
    assert_eq!(second.attempts, 1, "no retry for a suppressed address");
    assert_eq!(sends(&app, again).await, 0, "never reached SMTP");

    // Another account's list is its own: its mail still goes out (and is
    // refused, and lands on its own list).
    let other = Sender::new(&app, "other@example.com").await;
    let theirs = other.mail(&app, "reject-me@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    assert_eq!(sends(&app, theirs).await, 1);
    assert_eq!(other.list(&app).await["total"], 1);

    // Mail to everyone else is untouched.
    let fine = shop.mail(&app, "ada@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    assert_eq!(job(&app, fine).await.status, JobStatus::Succeeded);
    assert_eq!(to(&sink, "ada@example.com"), 1);
}

#[tokio::test]
async fn the_owner_lifts_an_entry_and_nobody_else_can() {
    let (app, _sink) = setup().await;
    let shop = Sender::new(&app, "shop@example.com").await;
    shop.mail(&app, "reject-me@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    let path = "/api/v1/suppressions/reject-me@example.com";

    let stranger = Sender::new(&app, "eve@example.com").await;
    problem(
        stranger.call(&app, reqwest::Method::DELETE, path).await,
        404,
    )
    .await;
    assert_eq!(
        shop.list(&app).await["total"],
        1,
        "a stranger lifts nothing"
    );

    for bad in ["?per_page=0", "?per_page=101", "?page=0"] {
        let response = shop
            .call(
                &app,
                reqwest::Method::GET,
                &format!("/api/v1/suppressions{bad}"),
            )
            .await;
        problem(response, 422).await;
    }
    let long = format!("/api/v1/suppressions/{}", "a".repeat(400));
    problem(shop.call(&app, reqwest::Method::DELETE, &long).await, 404).await;

    let lifted = shop.call(&app, reqwest::Method::DELETE, path).await;
    assert_eq!(lifted.status(), 204);
    problem(shop.call(&app, reqwest::Method::DELETE, path).await, 404).await;
    assert_eq!(shop.list(&app).await["total"], 0);

    // Lifted: the next task tries the server again.
    let retried = shop.mail(&app, "reject-me@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    assert_eq!(sends(&app, retried).await, 1);

    // A key without email:send may not read the list.
    let session = register(&app, "news@example.com").await;
    let news_only = api_key(&app, access_token(&session), json!(["subscriptions"])).await;
    let response = app
        .client
        .get(app.url("/api/v1/suppressions"))
        .header("x-api-key", news_only)
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
}

#[tokio::test]
async fn unsubscribing_from_all_mail_suppresses_the_address_for_tasks_too() {
    let (app, sink) = setup().await;
    let shop = Sender::new(&app, "shop@example.com").await;
    // Two newsletters; the second subscription names the same mailbox
    // with a display name.
    for (content_type, to) in [
        ("news", "ada@example.com"),
        ("promo", "Ada <ADA@example.com>"),
    ] {
        let content =
            json!({"content_type": content_type, "subject": "This week", "text": "Hello"});
        let created = app
            .client
            .post(app.url("/api/v1/subscription-contents"))
            .header("x-api-key", &shop.key)
            .json(&content)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let subscribe = json!({"type": "subscribe", "payload": {"to": to, "content_type": content_type, "frequency": "@daily"}});
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .header("x-api-key", &shop.key)
            .json(&subscribe)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    drain_with(&app, app.ctx.settings.clone()).await;
    let token: String =
        sqlx::query_scalar!("SELECT token FROM subscribers WHERE content_type = 'news'")
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();

    // The page offers it; only the POST does it.
    let page = app.get(&format!("/api/v1/unsubscribe/{token}")).await;
    assert!(page.text().await.unwrap().contains("/all\""));
    assert_eq!(shop.list(&app).await["total"], 0, "the GET changed nothing");
    let all = app
        .client
        .post(app.url(&format!("/api/v1/unsubscribe/{token}/all")))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 200);
    let list = shop.list(&app).await;
    assert_eq!(list["items"][0]["address"], "ada@example.com");
    assert_eq!(list["items"][0]["reason"], "unsubscribed");
    let active: i64 =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM subscribers WHERE active"#)
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    assert_eq!(
        active, 0,
        "every newsletter of the sender, whatever the address's spelling"
    );

    let id = shop.mail(&app, "ada@example.com").await;
    drain_with(&app, app.ctx.settings.clone()).await;
    assert_eq!(job(&app, id).await.status, JobStatus::Dead);
    assert_eq!(sends(&app, id).await, 0);
    assert_eq!(
        to(&sink, "ada@example.com"),
        0,
        "nothing reached the SMTP sink"
    );

    let unknown = app
        .client
        .post(app.url(&format!("/api/v1/unsubscribe/{}/all", "x".repeat(43))))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
