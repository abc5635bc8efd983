//! OTPs for applications: emailed by the worker, verified true exactly once.

mod common;

use common::*;
use serde_json::{Value, json};

async fn key_with_otp_scope(app: &TestApp) -> String {
    let session = register(app, "dev@example.com").await;
    api_key(app, access_token(&session), json!(["otp"])).await
}

async fn request_otp(app: &TestApp, key: &str, length: u32) {
    let body = json!({"type": "otp", "payload": {"to": "Guest@Example.com", "length": length, "purpose": "login"}});
    let response = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

async fn verify(app: &TestApp, key: &str, code: &str) -> bool {
    let body = json!({"to": "guest@example.com", "code": code, "purpose": "login"});
    let response = app
        .client
        .post(app.url("/api/v1/otp/verify"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["verified"]
        .as_bool()
        .unwrap()
}

/// Runs a worker (file transport into `dir`) until the ledger is drained;
/// returns the newest email's OTP.
async fn deliver(app: &TestApp, dir: &std::path::Path, length: usize) -> String {
    let mut settings = app.ctx.settings.clone();
    settings.email.file_dir = dir.to_owned();
    drain_with(app, settings).await;
    let mut newest: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                std::fs::metadata(&p).unwrap().modified().unwrap(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .filter(|(_, mail)| mail.contains("Your verification code"))
        .collect();
    newest.sort();
    let mail = &newest.last().expect("an OTP email").1;
    let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap();
    let code = subject.rsplit(' ').next().unwrap().trim().to_owned();
    assert_eq!(code.len(), length, "{subject}");
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    code
}

fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}

#[tokio::test]
async fn verify_succeeds_once_then_returns_false() {
    let app = TestApp::spawn().await;
    let key = key_with_otp_scope(&app).await;
    let mail = tempfile::tempdir().unwrap();
    request_otp(&app, &key, 8).await;
    let code = deliver(&app, mail.path(), 8).await;
    assert!(verify(&app, &key, &code).await);
    assert!(!verify(&app, &key, &code).await, "a used OTP is refused");
}

#[tokio::test]
async fn the_sixth_wrong_try_is_locked_even_with_the_right_code() {
    let app = TestApp::spawn().await;
    let key = key_with_otp_scope(&app).await;
    let mail = tempfile::tempdir().unwrap();
    request_otp(&app, &key, 6).await;
    let code = deliver(&app, mail.path(), 6).await;
    for _ in 0..5 {
        assert!(!verify(&app, &key, &wrong(&code)).await);
    }
    assert!(
        !verify(&app, &key, &code).await,
        "locked after 5 wrong tries"
    );
}

#[tokio::test]
async fn an_expired_or_replaced_otp_is_refused() {
    let app = TestApp::spawn().await;
    let key = key_with_otp_scope(&app).await;
    let mail = tempfile::tempdir().unwrap();
    request_otp(&app, &key, 6).await;
    let first = deliver(&app, mail.path(), 6).await;
    request_otp(&app, &key, 6).await;
    let second = deliver(&app, mail.path(), 6).await;
    if first != second {
        assert!(
            !verify(&app, &key, &first).await,
            "a new OTP voids the previous one"
        );
    }
    sqlx::query!("UPDATE otps SET expires_at = now() - interval '1 second'")
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    assert!(!verify(&app, &key, &second).await, "expired");
}

#[tokio::test]
async fn otp_needs_the_otp_scope_and_valid_fields() {
    let app = TestApp::spawn().await;
    let session = register(&app, "dev@example.com").await;
    let key = api_key(&app, access_token(&session), json!(["email:send"])).await;
    let otp = json!({"type": "otp", "payload": {"to": "guest@example.com"}});
    problem(
        app.client
            .post(app.url("/api/v1/tasks"))
            .header("x-api-key", &key)
            .json(&otp)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let check = json!({"to": "guest@example.com", "code": "123456"});
    problem(
        app.client
            .post(app.url("/api/v1/otp/verify"))
            .header("x-api-key", key)
            .json(&check)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    let token = session["access_token"].as_str().unwrap();
    let bad = json!({"type": "otp", "payload": {"to": "nope", "length": 3, "ttl_seconds": 5}});
    let body = problem(
        app.client
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(token)
            .json(&bad)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["payload.to", "payload.length", "payload.ttl_seconds"]
    );
    let otps = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM otps"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(otps, 0);
}

/// A crash after the email went out but before the code's hash committed
/// leaves the job to run again. The code in the mailbox must be the one that
/// verifies: the retry may not draw a different one.
#[tokio::test]
async fn the_emailed_code_verifies_after_a_crash_between_send_and_commit() {
    let app = TestApp::spawn().await;
    let key = key_with_otp_scope(&app).await;
    let mail = tempfile::tempdir().unwrap();
    request_otp(&app, &key, 6).await;
    let emailed = deliver(&app, mail.path(), 6).await;
    rerun_as_if_the_commit_was_lost(&app, "issue_otp", "otps").await;
    let mut settings = app.ctx.settings.clone();
    settings.email.file_dir = mail.path().to_owned();
    drain_with(&app, settings).await;
    assert!(
        verify(&app, &key, &emailed).await,
        "the code in the mailbox verifies"
    );
}
