//! Tasks: submit message work with an API key or a token, follow it, and
//! get exactly one task per Idempotency-Key.

mod common;

use common::*;
use serde_json::{Value, json};

async fn key(app: &TestApp, token: &str, scopes: Value) -> String {
    api_key(app, token, scopes).await
}

fn message() -> Value {
    json!({"type": "message", "payload": {"to": "guest@example.com", "subject": "Your tickets", "text": "See you there"}})
}

async fn submit(
    app: &TestApp,
    key: &str,
    body: &Value,
    idempotency: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", key)
        .json(body);
    if let Some(idempotency) = idempotency {
        request = request.header("idempotency-key", idempotency);
    }
    request.send().await.unwrap()
}

async fn tasks(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM tasks"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_task_is_accepted_and_followed_by_its_owner_only() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let secret = key(&app, &token, json!(["email:send"])).await;
    let response = submit(&app, &secret, &message(), None).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    let id = accepted["id"].as_str().unwrap();

    let task: Value = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["type"], "message");
    assert_eq!(task["max_attempts"], 5);
    assert!(
        ["queued", "dispatched"].contains(&task["status"].as_str().unwrap()),
        "{task}"
    );

    let stranger = register(&app, "eve@example.com").await;
    let stranger = access_token(&stranger);
    let other = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}")))
        .bearer_auth(stranger)
        .send()
        .await
        .unwrap();
    problem(other, 404).await;
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_and_nothing_is_queued() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let otp_only = key(&app, &token, json!(["otp"])).await;
    problem(submit(&app, &otp_only, &message(), None).await, 403).await;
    assert_eq!(tasks(&app).await, 0);
    let jobs =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs WHERE kind = 'send_message'"#)
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn the_same_idempotency_key_gives_one_task_and_another_body_is_409() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let secret = key(&app, &token, json!(["email:send"])).await;
    let body = message();
    let requests = (0..8).map(|_| submit(&app, &secret, &body, Some("order-42")));
    let responses = futures::future::join_all(requests).await;
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 202);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one task for one key: {ids:?}");
    assert_eq!(tasks(&app).await, 1);

    let mut different = message();
    different["payload"]["subject"] = json!("Something else");
    problem(
        submit(&app, &secret, &different, Some("order-42")).await,
        409,
    )
    .await;
    assert_eq!(tasks(&app).await, 1);
}

#[tokio::test]
async fn invalid_tasks_are_422_with_one_error_per_field() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let secret = key(&app, &token, json!(["email:send"])).await;
    let body = json!({"type": "message", "max_attempts": 30, "payload": {"to": "not-an-address", "subject": ""}});
    let problem_body = problem(submit(&app, &secret, &body, None).await, 422).await;
    let fields: Vec<&str> = problem_body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "max_attempts",
            "payload.to",
            "payload.subject",
            "payload.text"
        ]
    );
    let huge = json!({"type": "message", "payload": {"to": "a@b.co", "subject": "x", "html": "x".repeat(300 * 1024)}});
    problem(submit(&app, &secret, &huge, None).await, 422).await;
    problem(
        submit(&app, &secret, &json!({"type": "fax", "payload": {}}), None).await,
        422,
    )
    .await;
    assert_eq!(tasks(&app).await, 0);
}

#[tokio::test]
async fn a_submitted_message_is_delivered_by_the_worker() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let response = app
        .client
        .post(app.url("/api/v1/tasks"))
        .bearer_auth(&token)
        .json(&message())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        202,
        "people may submit with their token too"
    );
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The test config's file transport writes each email as an .eml file.
    let mut settings = app.ctx.settings.clone();
    let mail_dir = tempfile::tempdir().unwrap();
    settings.email.file_dir = mail_dir.path().to_owned();
    drain_with(&app, settings).await;
    let task: Value = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["status"], "succeeded", "{task}");
    let files: Vec<String> = std::fs::read_dir(mail_dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.contains("Subject: Your tickets") && f.contains("guest@example.com")),
        "{files:?}"
    );
}

#[tokio::test]
async fn a_key_older_than_a_day_is_free_again_and_every_task_has_its_job() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let secret = key(&app, &token, json!(["email:send"])).await;
    let first: Value = submit(&app, &secret, &message(), Some("daily"))
        .await
        .json()
        .await
        .unwrap();
    sqlx::query!("UPDATE tasks SET created_at = now() - interval '25 hours'")
        .execute(&app.ctx.pool)
        .await
        .unwrap();

    let mut other = message();
    other["payload"]["subject"] = json!("Tomorrow's tickets");
    let second = submit(&app, &secret, &other, Some("daily")).await;
    assert_eq!(second.status(), 202, "a key past its day is not a conflict");
    let second: Value = second.json().await.unwrap();
    assert_ne!(first["id"], second["id"]);
    let again: Value = submit(&app, &secret, &other, Some("daily"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], second["id"], "the key now names the new task");

    let orphans = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM tasks t LEFT JOIN jobs j ON j.id = t.id WHERE j.id IS NULL"#
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!((tasks(&app).await, orphans), (2, 0));
}

#[tokio::test]
async fn replays_and_refusals_spend_no_budget() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.rate_limits.tasks_per_user = marquee_core::rate_limit::Rule {
        limit: 2,
        period_seconds: 3600,
    };
    let app = TestApp::spawn_with(ctx).await;
    let session = register(&app, "dev@example.com").await;
    let secret = key(&app, access_token(&session), json!(["email:send"])).await;
    assert_eq!(
        submit(&app, &secret, &message(), Some("once"))
            .await
            .status(),
        202
    );
    for _ in 0..3 {
        assert_eq!(
            submit(&app, &secret, &message(), Some("once"))
                .await
                .status(),
            202
        );
    }
    assert_eq!(
        submit(&app, &secret, &message(), None).await.status(),
        202,
        "one cell was left"
    );
    problem(submit(&app, &secret, &message(), None).await, 429).await;

    // An unverified account is told so every time, never 429.
    let unverified = register_unverified(&app, "new@example.com").await;
    for _ in 0..3 {
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(access_token(&unverified))
            .json(&message())
            .send()
            .await
            .unwrap();
        problem(response, 403).await;
    }
}
