//! Limits kept in Redis: the 11th login for an email within a minute is 429.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn the_eleventh_login_within_a_minute_is_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let register = json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"});
    assert_eq!(
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&register)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let wrong = json!({"email": "ada@example.com", "password": "wrong horse"});
    for attempt in 1..=10 {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    // Even the right password is refused now: that is the point.
    let right = json!({"email": "ADA@example.com", "password": "correct horse"});
    let limited = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=6).contains(&retry_after),
        "one slot frees every 6 s, got {retry_after}"
    );
    problem(limited, 429).await;

    // Another email from the same client is not affected.
    let other = json!({"email": "bob@example.com", "password": "whatever1"});
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn limits_are_shared_by_every_api_replica() {
    let first = TestApp::spawn().await;
    let second = first.spawn_replica().await;
    let wrong = json!({"email": "ada@example.com", "password": "wrong horse"});
    for attempt in 0..10 {
        let url = if attempt % 2 == 0 {
            first.url("/api/v1/auth/login")
        } else {
            second.url("/api/v1/auth/login")
        };
        let response = first.client.post(url).json(&wrong).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = first
        .client
        .post(first.url("/api/v1/auth/login"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    problem(response, 429).await;
}

#[tokio::test]
async fn each_api_key_has_its_own_request_limit() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.rate_limits.per_api_key = marquee_core::rate_limit::Rule {
        limit: 3,
        period_seconds: 60,
    };
    let app = TestApp::spawn_with(ctx).await;
    let session = register(&app, "dev@example.com").await;
    let token = access_token(&session);
    let mut secrets = Vec::new();
    for _ in 0..2 {
        secrets.push(api_key(&app, token, json!(["otp"])).await);
    }
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("x-api-key", &secrets[0])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let limited = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("x-api-key", &secrets[0])
        .send()
        .await
        .unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;
    let other_key = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&secrets[1])
        .send()
        .await
        .unwrap();
    assert_eq!(other_key.status(), 200, "limits are per key");
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A key sent as `Bearer` gets the same 429 as one in `X-API-Key` (the
/// "missing X-API-Key" 401 used to hide it), and routes for people refuse a
/// key with 403 without spending its budget.
#[tokio::test]
async fn a_bearer_key_over_its_limit_is_429_and_people_routes_do_not_count() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.rate_limits.per_api_key = marquee_core::rate_limit::Rule {
        limit: 2,
        period_seconds: 60,
    };
    let app = TestApp::spawn_with(ctx).await;
    let session = register(&app, "dev@example.com").await;
    let secret = api_key(&app, access_token(&session), json!(["otp"])).await;
    for attempt in 1..=5 {
        let response = app
            .client
            .get(app.url("/api/v1/bookings"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "people only, attempt {attempt}");
    }
    for _ in 0..2 {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the 403s spent nothing");
    }
    let limited = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;
    let wrong = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth("mk_not-a-key")
        .send()
        .await
        .unwrap();
    problem(wrong, 401).await;
}
