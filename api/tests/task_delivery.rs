//! Tasks end to end: API 202 → worker → a real SMTP server process.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::{SmtpSink, drain};
use serde_json::{Value, json};

async fn app_with_sink() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    (TestApp::spawn_with(ctx).await, sink)
}

async fn shop_key(app: &TestApp) -> String {
    let session = register(app, "dev@example.com").await;
    api_key(app, access_token(&session), json!(["email:send"])).await
}

async fn submit(app: &TestApp, key: &str, to: &str, idempotency: Option<&str>) -> String {
    let body = json!({"type": "message", "payload": {"to": to, "subject": "Your tickets", "text": "Row A", "html": "<b>Row A</b>"}});
    let mut request = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", key)
        .json(&body);
    if let Some(idempotency) = idempotency {
        request = request.header("idempotency-key", idempotency);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn task(app: &TestApp, key: &str, id: &str) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/tasks/{id}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn deliveries_to(sink: &SmtpSink, to: &str) -> Vec<String> {
    sink.messages()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {to}")))
        .collect()
}

#[tokio::test]
async fn a_message_is_delivered_with_the_right_headers() {
    let (app, sink) = app_with_sink().await;
    let key = shop_key(&app).await;
    let id = submit(&app, &key, "guest@example.com", None).await;
    drain(&app.ctx, Registry::standard(), Duration::from_secs(20)).await;

    let messages = deliveries_to(&sink, "guest@example.com");
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(message.contains("Subject: Your tickets"), "{message}");
    assert!(
        message.contains("From: Marquee <no-reply@marquee.local>"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Message-ID: <{id}@marquee.local>")),
        "{message}"
    );
    assert!(message.contains("multipart/alternative"), "{message}");
    let task = task(&app, &key, &id).await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_i64()),
        (Some("succeeded"), Some(1))
    );
}

#[tokio::test]
async fn an_idempotency_key_gives_one_delivery() {
    let (app, sink) = app_with_sink().await;
    let key = shop_key(&app).await;
    let ids: Vec<String> = futures::future::join_all(
        (0..5).map(|_| submit(&app, &key, "guest@example.com", Some("order-7"))),
    )
    .await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    drain(&app.ctx, Registry::standard(), Duration::from_secs(20)).await;
    assert_eq!(deliveries_to(&sink, "guest@example.com").len(), 1);
}

#[tokio::test]
async fn a_rejected_recipient_is_dead_with_the_error_shown() {
    let (app, sink) = app_with_sink().await;
    let key = shop_key(&app).await;
    let id = submit(&app, &key, "reject-me@example.com", None).await;
    drain(&app.ctx, Registry::standard(), Duration::from_secs(20)).await;
    let task = task(&app, &key, &id).await;
    assert_eq!(task["status"], "dead", "{task}");
    assert_eq!(task["attempts"], 1);
    assert!(
        task["last_error"].as_str().unwrap().contains("550"),
        "{task}"
    );
    assert!(deliveries_to(&sink, "reject-me@example.com").is_empty());
}
