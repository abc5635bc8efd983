//! Guessing one-time codes across many accounts: limits per client IP on
//! reset requests and on every code check, and a global budget of failed
//! checks that successful ones do not spend, exported as metrics.

mod common;

use common::*;
use marquee_core::rate_limit::Rule;
use marquee_core::testing::TestContext;
use serde_json::{Value, json};

fn per_hour(limit: u32) -> Rule {
    Rule {
        limit,
        period_seconds: 3600,
    }
}

async fn post(app: &TestApp, path: &str, forwarded: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", forwarded)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn reset_confirm(
    app: &TestApp,
    email: &str,
    code: &str,
    forwarded: &str,
) -> reqwest::Response {
    let body = json!({"email": email, "code": code, "new_password": "brand new horse"});
    post(app, "/api/v1/auth/password-reset/confirm", forwarded, body).await
}

async fn verify_confirm(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    call(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/verify-email/confirm",
        Some(token),
        Some(json!({"code": code})),
    )
    .await
}

async fn password_hash(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar!("SELECT password_hash FROM users WHERE email = $1", email)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

/// The value of one Prometheus series in this process's render.
fn metric(series: &str) -> f64 {
    let render = marquee_core::metrics::install().render();
    render
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn rotating_forwarded_for_does_not_escape_the_per_ip_limit_on_code_checks() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.code_verify_per_ip = per_hour(3);
    let app = TestApp::spawn_with(ctx).await;
    let session = register_unverified(&app, "ada@example.com").await;
    for n in 0..3 {
        let response = reset_confirm(
            &app,
            &format!("victim{n}@example.com"),
            "000000",
            &format!("203.0.113.{n}"),
        )
        .await;
        problem(response, 422).await;
    }
    // Another account, another forged address: the same client, refused
    // before its code is even looked at.
    let limited = reset_confirm(&app, "victim9@example.com", "000000", "198.51.100.9").await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;
    // Email verification shares the budget.
    assert_eq!(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/verify-email",
            Some(access_token(&session)),
            None
        )
        .await
        .status(),
        202
    );
    let code = deliver_latest_code(&app).await;
    problem(
        verify_confirm(&app, access_token(&session), &code).await,
        429,
    )
    .await;
    let verified =
        sqlx::query_scalar!(r#"SELECT email_verified_at IS NOT NULL AS "verified!" FROM users"#)
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    assert!(!verified, "the refused check changed nothing");
}

#[tokio::test]
async fn reset_requests_are_limited_per_ip_whatever_the_email() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.password_reset_per_ip = per_hour(2);
    let app = TestApp::spawn_with(ctx).await;
    for n in 0..3 {
        register_unverified(&app, &format!("user{n}@example.com")).await;
    }
    for n in 0..2 {
        let body = json!({"email": format!("user{n}@example.com")});
        let response = post(
            &app,
            "/api/v1/auth/password-reset",
            &format!("203.0.113.{n}"),
            body,
        )
        .await;
        assert_eq!(response.status(), 202);
    }
    let body = json!({"email": "user2@example.com"});
    problem(
        post(&app, "/api/v1/auth/password-reset", "203.0.113.2", body).await,
        429,
    )
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM one_time_codes").await, 2);
}

#[tokio::test]
async fn verification_codes_are_emailed_a_few_times_an_hour_per_account() {
    let app = TestApp::spawn().await;
    let token = access_token(&register_unverified(&app, "ada@example.com").await).to_owned();
    let limit = app.ctx.settings.rate_limits.verify_email_per_user.limit;
    for _ in 0..limit {
        let response = call(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/verify-email",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(response.status(), 202);
    }
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/verify-email",
        Some(&token),
        None,
    )
    .await;
    problem(response, 429).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM one_time_codes").await,
        i64::from(limit)
    );
}

#[tokio::test]
async fn the_global_limit_counts_failed_guesses_across_accounts_but_not_successes() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.code_failures_global = per_hour(3);
    let app = TestApp::spawn_with(ctx).await;
    let refused_before = metric("marquee_code_guesses_refused_total{limit=\"global\"}");
    let failed_before = metric("marquee_code_guesses_failed_total{purpose=\"password_reset\"}");
    for name in ["ada", "bob"] {
        register_unverified(&app, &format!("{name}@example.com")).await;
    }
    let carol = access_token(&register_unverified(&app, "carol@example.com").await).to_owned();

    // Two failed guesses, on two accounts, from two addresses.
    let body = json!({"email": "ada@example.com"});
    assert_eq!(
        post(&app, "/api/v1/auth/password-reset", "1.1.1.1", body)
            .await
            .status(),
        202
    );
    let ada_code = deliver_latest_code(&app).await;
    let wrong = format!("{:06}", (ada_code.parse::<u32>().unwrap() + 1) % 1_000_000);
    problem(
        reset_confirm(&app, "ada@example.com", &wrong, "1.1.1.1").await,
        422,
    )
    .await;
    problem(
        reset_confirm(&app, "bob@example.com", "123456", "2.2.2.2").await,
        422,
    )
    .await;

    // A successful verification does not spend the budget...
    let asked = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/verify-email",
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(asked.status(), 202);
    let code = deliver_latest_code(&app).await;
    assert_eq!(verify_confirm(&app, &carol, &code).await.status(), 204);
    // ...so a third failure is still checked (an unknown email fails alike).
    problem(
        reset_confirm(&app, "nobody@example.com", "123456", "3.3.3.3").await,
        422,
    )
    .await;

    // The budget is spent: every check is refused, even the right code.
    let ada_hash = password_hash(&app, "ada@example.com").await;
    let limited = reset_confirm(&app, "ada@example.com", &ada_code, "4.4.4.4").await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;
    assert_eq!(password_hash(&app, "ada@example.com").await, ada_hash);
    let used: i64 = count(
        &app,
        "SELECT count(*) FROM one_time_codes WHERE used_at IS NOT NULL",
    )
    .await;
    assert_eq!(used, 1, "only carol's code was spent");

    assert!(metric("marquee_code_guesses_refused_total{limit=\"global\"}") >= refused_before + 1.0);
    assert!(
        metric("marquee_code_guesses_failed_total{purpose=\"password_reset\"}")
            >= failed_before + 3.0
    );
}
