//! One-time codes: password reset and email verification.

mod common;

use common::*;
use serde_json::{Value, json};

async fn register(app: &TestApp) -> Value {
    let body = json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"});
    app.client
        .post(app.url("/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn request_reset(app: &TestApp, email: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

async fn confirm(app: &TestApp, code: &str, password: &str) -> reqwest::Response {
    let body = json!({"email": "ada@example.com", "code": code, "new_password": password});
    app.client
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, password: &str) -> u16 {
    let body = json!({"email": "ada@example.com", "password": password});
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn a_reset_code_works_once_and_signs_out_every_session() {
    let app = TestApp::spawn().await;
    let session = register(&app).await;
    request_reset(&app, "ADA@example.com").await;
    let jobs = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs WHERE kind = 'send_code'"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "the code goes out through the outbox");
    let code = deliver_latest_code(&app).await;
    assert_eq!(code.len(), 6);

    assert_eq!(confirm(&app, &code, "battery staple").await.status(), 204);
    assert_eq!(login(&app, "battery staple").await, 200);
    assert_eq!(login(&app, "correct horse").await, 401);
    let refresh = json!({"refresh_token": session["refresh_token"]});
    problem(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&refresh)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    let again = confirm(&app, &code, "another password").await;
    problem(again, 422).await;
    assert_eq!(
        login(&app, "battery staple").await,
        200,
        "a spent code changes nothing"
    );
}

#[tokio::test]
async fn after_five_wrong_tries_even_the_right_code_is_refused() {
    let app = TestApp::spawn().await;
    register(&app).await;
    request_reset(&app, "ada@example.com").await;
    let code = deliver_latest_code(&app).await;
    for _ in 0..5 {
        problem(confirm(&app, &wrong(&code), "battery staple").await, 422).await;
    }
    let sixth = problem(confirm(&app, &code, "battery staple").await, 422).await;
    assert!(
        sixth["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too many"),
        "{sixth}"
    );
    assert_eq!(
        login(&app, "correct horse").await,
        200,
        "the password did not change"
    );
}

#[tokio::test]
async fn an_expired_or_superseded_code_is_refused() {
    let app = TestApp::spawn().await;
    register(&app).await;
    request_reset(&app, "ada@example.com").await;
    let first = deliver_latest_code(&app).await;
    request_reset(&app, "ada@example.com").await;
    let second = deliver_latest_code(&app).await;
    if first != second {
        problem(confirm(&app, &first, "battery staple").await, 422).await;
    }
    sqlx::query!("UPDATE one_time_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    problem(confirm(&app, &second, "battery staple").await, 422).await;
    assert_eq!(login(&app, "correct horse").await, 200);
}

#[tokio::test]
async fn reset_for_an_unknown_email_is_202_and_does_nothing() {
    let app = TestApp::spawn().await;
    request_reset(&app, "nobody@example.com").await;
    let rows = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM one_time_codes"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    let jobs = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!((rows, jobs), (0, 0));
    let body =
        json!({"email": "nobody@example.com", "code": "123456", "new_password": "battery staple"});
    let response = app
        .client
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(response, 422).await;
}

#[tokio::test]
async fn email_verification_with_a_code() {
    let app = TestApp::spawn().await;
    let session = register(&app).await;
    let token = session["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/auth/verify-email"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let code = deliver_latest_code(&app).await;
    let confirm = |code: String| {
        app.client
            .post(app.url("/api/v1/auth/verify-email/confirm"))
            .bearer_auth(token)
            .json(&json!({"code": code}))
            .send()
    };
    problem(confirm(wrong(&code)).await.unwrap(), 422).await;
    assert_eq!(confirm(code).await.unwrap().status(), 204);
    let me: Value = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
}

/// Runs a real worker writing mail into `dir`; returns the reset code of
/// the newest reset email.
async fn emailed_reset_code(app: &TestApp, dir: &std::path::Path) -> String {
    let mut settings = app.ctx.settings.clone();
    settings.email.file_dir = dir.to_owned();
    drain_with(app, settings).await;
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (modified, std::fs::read_to_string(p).unwrap())
        })
        .filter(|(_, mail)| mail.contains("password reset code"))
        .collect();
    mails.sort();
    let mail = &mails.last().expect("a reset email").1;
    let (_, after) = mail.split_once("password is ").expect("the code sentence");
    after.chars().take(6).collect()
}

/// A crash after the reset email went out but before the code's hash
/// committed: the job runs again, and the emailed code must still work.
#[tokio::test]
async fn the_emailed_reset_code_works_after_a_crash_between_send_and_commit() {
    let app = TestApp::spawn().await;
    register(&app).await;
    let mail = tempfile::tempdir().unwrap();
    request_reset(&app, "ada@example.com").await;
    let emailed = emailed_reset_code(&app, mail.path()).await;
    rerun_as_if_the_commit_was_lost(&app, "send_code", "one_time_codes").await;
    let mut settings = app.ctx.settings.clone();
    settings.email.file_dir = mail.path().to_owned();
    drain_with(&app, settings).await;
    assert_eq!(
        confirm(&app, &emailed, "battery staple").await.status(),
        204
    );
    assert_eq!(login(&app, "battery staple").await, 200);
}
