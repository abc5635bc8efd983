//! Newsletters through the API: content types, subscribe/unsubscribe tasks,
//! the once-per-period digest delivered to a real SMTP server, and the
//! unsubscribe link.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use marquee_core::jobs::Producer;
use marquee_core::subscriptions::enqueue_digests;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use serde_json::{Value, json};

const CONTENTS: &str = "/api/v1/subscription-contents";

/// A subscriber row: the address and whether it still receives issues.
#[derive(Debug, PartialEq)]
struct Subscriber {
    address: String,
    active: bool,
}

async fn owner_key(app: &TestApp, email: &str) -> String {
    let session = register(app, email).await;
    api_key(app, access_token(&session), json!(["subscriptions"])).await
}

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn create_news(app: &TestApp, key: &str) {
    let body = json!({"content_type": "news", "subject": "This week", "text": "Hello", "html": "<p>Hello</p>"});
    let response = send(app, key, reqwest::Method::POST, CONTENTS, Some(body)).await;
    assert_eq!(response.status(), 201);
}

async fn task(app: &TestApp, key: &str, kind: &str, payload: Value) -> reqwest::Response {
    let body = json!({"type": kind, "payload": payload});
    send(app, key, reqwest::Method::POST, "/api/v1/tasks", Some(body)).await
}

#[tokio::test]
async fn content_types_are_created_read_replaced_and_deleted_by_their_owner_only() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;

    let again = json!({"content_type": "news", "subject": "x", "text": "y"});
    problem(
        send(&app, &key, reqwest::Method::POST, CONTENTS, Some(again)).await,
        409,
    )
    .await;

    let one: Value = send(
        &app,
        &key,
        reqwest::Method::GET,
        &format!("{CONTENTS}/news"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (one["subject"].as_str(), one["subscribers"].as_i64()),
        (Some("This week"), Some(0))
    );

    let replacement = json!({"subject": "Next week", "text": "Bye"});
    let response = send(
        &app,
        &key,
        reqwest::Method::PUT,
        &format!("{CONTENTS}/news"),
        Some(replacement),
    )
    .await;
    assert_eq!(response.status(), 200);
    let list: Value = send(&app, &key, reqwest::Method::GET, CONTENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        (list[0]["subject"].as_str(), list[0]["html"].as_str()),
        (Some("Next week"), Some(""))
    );

    let other = owner_key(&app, "rival@example.com").await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = send(&app, &other, method, &format!("{CONTENTS}/news"), None).await;
        problem(response, 404).await;
    }
    let hijack = json!({"subject": "Hijacked", "text": "x"});
    let response = send(
        &app,
        &other,
        reqwest::Method::PUT,
        &format!("{CONTENTS}/news"),
        Some(hijack),
    )
    .await;
    problem(response, 404).await;
    let subject = sqlx::query_scalar!("SELECT subject FROM subscription_contents")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(subject, "Next week", "the rival's PUT changed nothing");
    let list: Value = send(&app, &other, reqwest::Method::GET, CONTENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));

    let response = send(
        &app,
        &key,
        reqwest::Method::DELETE,
        &format!("{CONTENTS}/news"),
        None,
    )
    .await;
    assert_eq!(response.status(), 204);
    let response = send(
        &app,
        &key,
        reqwest::Method::GET,
        &format!("{CONTENTS}/news"),
        None,
    )
    .await;
    problem(response, 404).await;
    let missing = json!({"subject": "x", "text": "y"});
    let response = send(
        &app,
        &key,
        reqwest::Method::PUT,
        &format!("{CONTENTS}/news"),
        Some(missing),
    )
    .await;
    problem(response, 404).await;
}

#[tokio::test]
async fn invalid_content_types_get_422_naming_each_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    let bad = json!({"content_type": "Bad Name", "subject": "", "text": ""});
    let body = problem(
        send(&app, &key, reqwest::Method::POST, CONTENTS, Some(bad)).await,
        422,
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["content_type", "subject", "text"]);

    create_news(&app, &key).await;
    let mismatch = json!({"content_type": "other", "subject": "x", "text": "y"});
    let response = send(
        &app,
        &key,
        reqwest::Method::PUT,
        &format!("{CONTENTS}/news"),
        Some(mismatch),
    )
    .await;
    let body = problem(response, 422).await;
    assert_eq!(body["errors"][0]["field"], "content_type");
    let stored = count(
        &app,
        "SELECT count(*) FROM subscription_contents WHERE subject = 'This week'",
    )
    .await;
    assert_eq!(stored, 1, "the failed PUT changed nothing");
}

#[tokio::test]
async fn a_key_without_the_subscriptions_scope_gets_403() {
    let app = TestApp::spawn().await;
    let session = register(&app, "shop@example.com").await;
    let key = api_key(&app, access_token(&session), json!(["email:send"])).await;
    let body = json!({"content_type": "news", "subject": "x", "text": "y"});
    problem(
        send(&app, &key, reqwest::Method::POST, CONTENTS, Some(body)).await,
        403,
    )
    .await;
    let payload = json!({"to": "a@example.com", "content_type": "news", "frequency": "@daily"});
    problem(task(&app, &key, "subscribe", payload).await, 403).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE kind = 'subscribe'").await,
        0
    );
}

#[tokio::test]
async fn subscribe_tasks_are_validated_against_the_owners_content_types() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;

    let unknown = json!({"to": "a@example.com", "content_type": "gossip", "frequency": "@daily"});
    let body = problem(task(&app, &key, "subscribe", unknown).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "payload.content_type");

    let bad = json!({"to": "nope", "content_type": "news", "frequency": "@yearly"});
    let body = problem(task(&app, &key, "subscribe", bad).await, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["payload.to", "payload.frequency"]);

    // Another owner's content type of the same name does not count.
    let rival = owner_key(&app, "rival@example.com").await;
    let payload = json!({"to": "a@example.com", "content_type": "news"});
    problem(task(&app, &rival, "unsubscribe", payload).await, 422).await;
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 0);
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// The newsletter issues the sink received (not the owner's welcome email).
fn issues(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .into_iter()
        .filter(|m| m.contains("List-Unsubscribe:"))
        .collect()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test]
async fn each_period_is_sent_once_and_the_unsubscribe_link_stops_further_issues() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    let settings = app.ctx.settings.clone();
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;
    for (to, frequency) in [
        ("daily@example.com", "@daily"),
        ("weekly@example.com", "@weekly"),
    ] {
        let payload = json!({"to": to, "content_type": "news", "frequency": frequency});
        assert_eq!(task(&app, &key, "subscribe", payload).await.status(), 202);
    }
    drain_with(&app, settings.clone()).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM subscribers WHERE active").await,
        2
    );

    let producer = Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        settings.redis.key_prefix.clone(),
    );
    // Monday 10:00 and 10:30 are the same day and week; four schedulers
    // ticking at once, and again later, still make one issue each.
    let monday = at("2026-11-16T10:00:00Z");
    let ticks = (0..4).map(|_| enqueue_digests(&app.ctx.pool, &producer, monday));
    let enqueued: usize = futures::future::join_all(ticks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(enqueued, 4, "one digest per frequency");
    enqueue_digests(&app.ctx.pool, &producer, at("2026-11-16T10:30:00Z"))
        .await
        .unwrap();
    drain_with(&app, settings.clone()).await;
    let messages = issues(&sink);
    assert_eq!(messages.len(), 2, "one issue per subscriber");
    let daily = messages
        .iter()
        .find(|m| m.contains("To: daily@example.com"))
        .unwrap();
    assert!(daily.contains("Subject: This week"), "{daily}");
    assert_eq!(
        header(daily, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let link = header(daily, "List-Unsubscribe").unwrap();
    let token = link
        .trim_matches(['<', '>'])
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(daily.contains(&token), "the body carries the link too");

    // Tuesday: a new day (daily gets its issue), the same week (weekly does not).
    enqueue_digests(&app.ctx.pool, &producer, at("2026-11-17T08:00:00Z"))
        .await
        .unwrap();
    drain_with(&app, settings.clone()).await;
    let to_daily = |messages: &[String]| {
        messages
            .iter()
            .filter(|m| m.contains("To: daily@example.com"))
            .count()
    };
    assert_eq!((issues(&sink).len(), to_daily(&issues(&sink))), (3, 2));

    // Opening the link (as a mail scanner does) asks and changes nothing.
    let active = || count(&app, "SELECT count(*) FROM subscribers WHERE active");
    let before = active().await;
    for _ in 0..2 {
        let response = app.get(&format!("/api/v1/unsubscribe/{token}")).await;
        assert_eq!(response.status(), 200);
        let page = response.text().await.unwrap();
        assert!(page.contains("Stop receiving <b>news</b>?"), "{page}");
        assert!(page.contains(&format!("action=\"/api/v1/unsubscribe/{token}\"")));
    }
    assert_eq!(active().await, before, "a GET unsubscribes nobody");
    // The page's button POSTs.
    let path = format!("/api/v1/unsubscribe/{token}");
    for _ in 0..2 {
        let response = app.client.post(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "a second click is fine");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("unsubscribed from <b>news</b>")
        );
    }
    assert_eq!(active().await, before - 1);
    assert!(
        app.get(&path)
            .await
            .text()
            .await
            .unwrap()
            .contains("already unsubscribed"),
        "the link then says so"
    );
    assert_eq!(
        app.get("/api/v1/unsubscribe/not-a-token").await.status(),
        404
    );

    enqueue_digests(&app.ctx.pool, &producer, at("2026-11-24T08:00:00Z"))
        .await
        .unwrap();
    drain_with(&app, settings).await;
    let messages = issues(&sink);
    assert_eq!(
        to_daily(&messages),
        2,
        "no issue after the unsubscribe link"
    );
    assert_eq!(
        messages.len(),
        4,
        "the weekly subscriber got next week's issue"
    );

    // RFC 8058 one-click: the mail client POSTs to the same link.
    let weekly = messages
        .iter()
        .rfind(|m| m.contains("To: weekly@example.com"))
        .unwrap();
    let link = header(weekly, "List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>']);
    let path = &link[link.find("/api/v1/unsubscribe/").unwrap()..];
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(active().await, 0);
}

#[tokio::test]
async fn an_unsubscribe_task_wins_over_an_older_subscribe_applied_late() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;
    let payload = json!({"to": "a@example.com", "content_type": "news", "frequency": "@daily"});
    assert_eq!(task(&app, &key, "subscribe", payload).await.status(), 202);
    let payload = json!({"to": "a@example.com", "content_type": "news"});
    assert_eq!(task(&app, &key, "unsubscribe", payload).await.status(), 202);
    // Apply them newest first, as two workers racing might.
    let tasks = sqlx::query!("SELECT seq, type AS kind FROM tasks ORDER BY seq DESC")
        .fetch_all(&app.ctx.pool)
        .await
        .unwrap();
    let owner = sqlx::query_scalar!("SELECT owner_id FROM tasks LIMIT 1")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    for task in &tasks {
        let subscribe = task.kind == "subscribe";
        let change = marquee_core::subscriptions::SubscriptionPayload::parse(
            "a@example.com",
            "news",
            subscribe.then_some("@daily"),
            subscribe,
        )
        .unwrap();
        assert!(
            marquee_core::subscriptions::apply(&app.ctx.pool, owner, task.seq, &change)
                .await
                .unwrap()
        );
    }
    let active = sqlx::query_scalar!("SELECT active FROM subscribers")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert!(!active, "the later unsubscribe stands");
}

#[tokio::test]
async fn nul_characters_and_impossible_names_are_refused_without_a_500() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    let bad = json!({"content_type": "news", "subject": "a\u{0}b", "text": "x"});
    let body = problem(
        send(&app, &key, reqwest::Method::POST, CONTENTS, Some(bad)).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "subject");
    let payload =
        json!({"to": "a@example.com", "content_type": "news", "frequency": "@daily", "x": "\u{0}"});
    let body = problem(task(&app, &key, "subscribe", payload).await, 422).await;
    // The boundary names the field inside the payload.
    assert_eq!(body["errors"][0]["field"], "payload.x");
    for (path, status) in [
        (format!("{CONTENTS}/a%00b"), 422),
        (format!("{CONTENTS}/NoSuch"), 404),
    ] {
        problem(
            send(&app, &key, reqwest::Method::GET, &path, None).await,
            status,
        )
        .await;
        problem(
            send(&app, &key, reqwest::Method::DELETE, &path, None).await,
            status,
        )
        .await;
    }
    assert_eq!(app.get("/api/v1/unsubscribe/a%00b").await.status(), 422);
    assert_eq!(
        count(&app, "SELECT count(*) FROM subscription_contents").await,
        0
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 0);
}

#[tokio::test]
async fn a_retried_fan_out_adds_no_second_issue() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;
    for n in 0..3 {
        let payload = json!({"to": format!("fan{n}@example.com"), "content_type": "news", "frequency": "@daily"});
        assert_eq!(task(&app, &key, "subscribe", payload).await.status(), 202);
    }
    drain_with(&app, app.ctx.settings.clone()).await;
    let producer = Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    );
    let digest = marquee_core::subscriptions::SendDigest {
        frequency: marquee_core::subscriptions::Frequency::Daily,
        period_start: at("2026-11-16T00:00:00Z"),
    };
    let fan_out = marquee_core::subscriptions::fan_out;
    assert_eq!(fan_out(&app.ctx.pool, &producer, &digest).await.unwrap(), 3);
    assert_eq!(
        fan_out(&app.ctx.pool, &producer, &digest).await.unwrap(),
        0,
        "a rerun adds nothing"
    );
    // A new subscriber since the first run is all a rerun adds.
    let payload = json!({"to": "late@example.com", "content_type": "news", "frequency": "@daily"});
    assert_eq!(task(&app, &key, "subscribe", payload).await.status(), 202);
    drain_with(&app, app.ctx.settings.clone()).await;
    assert_eq!(fan_out(&app.ctx.pool, &producer, &digest).await.unwrap(), 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'send_newsletter'"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn addresses_are_one_subscription_whatever_their_case() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app, "shop@example.com").await;
    create_news(&app, &key).await;
    let payload = json!({"to": "Ada@Example.com", "content_type": "news", "frequency": "@daily"});
    assert_eq!(task(&app, &key, "subscribe", payload).await.status(), 202);
    let payload = json!({"to": "ada@example.COM", "content_type": "news"});
    assert_eq!(task(&app, &key, "unsubscribe", payload).await.status(), 202);
    drain_with(&app, app.ctx.settings.clone()).await;
    let rows = sqlx::query_as!(Subscriber, "SELECT address, active FROM subscribers")
        .fetch_all(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![Subscriber {
            address: "ada@example.com".to_owned(),
            active: false
        }]
    );
}
