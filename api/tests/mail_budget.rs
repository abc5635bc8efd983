//! Mail from our From address: only verified accounts send `message` tasks
//! or create keys, a few keys each, and one task budget per account whichever
//! token or key submits.

mod common;

use common::*;
use marquee_core::rate_limit::Rule;
use marquee_core::testing::TestContext;
use serde_json::{Value, json};

fn message() -> Value {
    json!({"type": "message", "payload": {"to": "guest@example.com", "subject": "Hi", "text": "Hello"}})
}

/// POST /tasks with a person's token (`Bearer`) or an API key.
async fn submit(app: &TestApp, credential: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/tasks"))
        .bearer_auth(credential)
        .json(&message())
        .send()
        .await
        .unwrap()
}

async fn create_key(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "app", "scopes": ["email:send"]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_and_two_keys_of_one_account_share_one_task_budget() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.tasks_per_user = Rule {
        limit: 3,
        period_seconds: 3600,
    };
    let app = TestApp::spawn_with(ctx).await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session).to_owned();
    let first = api_key(&app, &token, json!(["email:send"])).await;
    let second = api_key(&app, &token, json!(["email:send"])).await;
    for credential in [&token, &first, &second] {
        assert_eq!(submit(&app, credential).await.status(), 202);
    }
    // The budget is spent: every credential of the account is refused.
    for credential in [&first, &token, &second] {
        let limited = submit(&app, credential).await;
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        problem(limited, 429).await;
    }
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 3);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'send_message'"
        )
        .await,
        3
    );
    // Another account has its own budget.
    let other = access_token(&register(&app, "other@example.com").await).to_owned();
    assert_eq!(submit(&app, &other).await.status(), 202);
}

#[tokio::test]
async fn keys_past_the_cap_are_409_and_write_no_row() {
    let mut ctx = TestContext::new().await;
    ctx.settings.auth.max_api_keys_per_user = 2;
    let app = TestApp::spawn_with(ctx).await;
    let token = access_token(&register(&app, "dev@example.com").await).to_owned();
    assert_eq!(create_key(&app, &token).await.status(), 201);
    assert_eq!(create_key(&app, &token).await.status(), 201);
    let refused = problem(create_key(&app, &token).await, 409).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("revoke one"),
        "{refused}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM api_keys").await, 2);
    // Revoking one frees a place.
    let keys: Value = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/api-keys",
        Some(&token),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let id = keys[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/api-keys/{id}");
    assert_eq!(
        call(&app, reqwest::Method::DELETE, &path, Some(&token), None)
            .await
            .status(),
        204
    );
    assert_eq!(create_key(&app, &token).await.status(), 201);
}

#[tokio::test]
async fn concurrent_key_creations_cannot_pass_the_cap_together() {
    let mut ctx = TestContext::new().await;
    ctx.settings.auth.max_api_keys_per_user = 3;
    let app = TestApp::spawn_with(ctx).await;
    let token = access_token(&register(&app, "dev@example.com").await).to_owned();
    let statuses = futures::future::join_all((0..8).map(|_| create_key(&app, &token))).await;
    let created = statuses.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 3);
    assert!(
        statuses
            .iter()
            .all(|r| [201, 409].contains(&r.status().as_u16()))
    );
    assert_eq!(count(&app, "SELECT count(*) FROM api_keys").await, 3);
}

#[tokio::test]
async fn an_unverified_account_sends_nothing_and_creates_no_key_until_verified() {
    let app = TestApp::spawn().await;
    let session = register_unverified(&app, "new@example.com").await;
    let token = access_token(&session).to_owned();

    let refused = problem(submit(&app, &token).await, 403).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("verify your email address"),
        "{refused}"
    );
    let refused = problem(create_key(&app, &token).await, 403).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("verify-email"),
        "{refused}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM api_keys").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'send_message'"
        )
        .await,
        0
    );

    // The real flow: ask for a code, the email job draws it, confirm it.
    let asked = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/verify-email",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(asked.status(), 202);
    let code = deliver_latest_code(&app).await;
    let confirmed = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/verify-email/confirm",
        Some(&token),
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(confirmed.status(), 204);

    assert_eq!(submit(&app, &token).await.status(), 202);
    let key = json_of(create_key(&app, &token).await, 201).await;
    assert_eq!(
        submit(&app, key["secret"].as_str().unwrap()).await.status(),
        202
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 2);
}

#[tokio::test]
async fn a_key_made_while_the_check_was_off_cannot_send_for_an_unverified_account() {
    let mut ctx = TestContext::new().await;
    ctx.settings.auth.require_verified_email = false;
    let open = TestApp::spawn_with(ctx).await;
    let token = access_token(&register_unverified(&open, "new@example.com").await).to_owned();
    let key = api_key(&open, &token, json!(["email:send", "otp"])).await;
    // The same database behind an API that requires verification.
    let mut settings = open.ctx.settings.clone();
    settings.auth.require_verified_email = true;
    let strict = marquee_api::AppState::with_pool(settings, open.ctx.pool.clone()).unwrap();
    let server = marquee_api::Server::bind(strict).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let response = open
        .client
        .post(format!("{base}/api/v1/tasks"))
        .header("x-api-key", &key)
        .json(&message())
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    // An OTP mails an address the caller chose too: also refused.
    let otp = json!({"type": "otp", "payload": {"to": "guest@example.com"}});
    let response = open
        .client
        .post(format!("{base}/api/v1/tasks"))
        .header("x-api-key", &key)
        .json(&otp)
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    assert_eq!(count(&open, "SELECT count(*) FROM tasks").await, 0);
}

#[tokio::test]
async fn closed_installations_may_let_unverified_accounts_send() {
    let mut ctx = TestContext::new().await;
    ctx.settings.auth.require_verified_email = false;
    let app = TestApp::spawn_with(ctx).await;
    let token = access_token(&register_unverified(&app, "new@example.com").await).to_owned();
    assert_eq!(submit(&app, &token).await.status(), 202);
    let key = json_of(create_key(&app, &token).await, 201).await;
    assert_eq!(
        submit(&app, key["secret"].as_str().unwrap()).await.status(),
        202
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 2);
}

/// Not only `message`: an OTP, a subscribe (newsletters follow) and a
/// newsletter's content all put the caller's words in someone's mailbox.
#[tokio::test]
async fn an_unverified_account_mails_nobody_through_otps_or_newsletters() {
    let app = TestApp::spawn().await;
    let session = register_unverified(&app, "new@example.com").await;
    let token = access_token(&session).to_owned();
    let tasks = [
        json!({"type": "otp", "payload": {"to": "victim@example.org"}}),
        json!({"type": "subscribe", "payload": {"to": "victim@example.org", "content_type": "spam", "frequency": "@daily"}}),
    ];
    for body in tasks {
        let response = call(
            &app,
            reqwest::Method::POST,
            "/api/v1/tasks",
            Some(&token),
            Some(body),
        )
        .await;
        problem(response, 403).await;
    }
    let content =
        json!({"content_type": "spam", "subject": "BUY NOW", "text": "http://evil.example"});
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/subscription-contents",
        Some(&token),
        Some(content),
    )
    .await;
    problem(response, 403).await;
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM otps").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM subscription_contents").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE queue <> 'email'").await,
        0,
        "only the welcome email was queued"
    );
}
