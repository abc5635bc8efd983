//! Access ends with the session: after logout, refresh-token reuse, a password
//! change or reset, the old access token gets 401 at once on every replica,
//! and a reset or change revokes API keys.

mod common;

use common::*;
use marquee_core::auth::codes;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

/// `GET /auth/me` on `base` (the app or a replica) with a bearer token.
async fn me_at(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The status of `token` on the app and on the replica.
async fn on_both(app: &TestApp, replica: &Replica, token: &str) -> (u16, u16) {
    (
        me_at(&app.client, &app.base, token).await,
        me_at(&replica.client, &replica.base, token).await,
    )
}

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    json_of(
        call(
            app,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await,
        200,
    )
    .await
}

/// A key used both ways: `Bearer mk_…` and `X-API-Key`.
async fn key_status(app: &TestApp, key: &str) -> (u16, u16) {
    let bearer = me_at(&app.client, &app.base, key).await;
    let header = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (bearer, header)
}

#[tokio::test]
async fn logout_refuses_the_access_token_at_once_on_every_replica() {
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let session = register(&app, "ada@example.com").await;
    let token = access_token(&session);
    // Both replicas have now cached the session as live.
    assert_eq!(on_both(&app, &replica, token).await, (200, 200));

    let logout = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": session["refresh_token"]})),
    )
    .await;
    assert_eq!(logout.status(), 204);
    assert_eq!(on_both(&app, &replica, token).await, (401, 401));
    problem(
        call(&app, Method::GET, "/api/v1/auth/me", Some(token), None).await,
        401,
    )
    .await;

    // PostgreSQL is the truth: with the Redis entries gone it still refuses.
    let mut redis = app.ctx.redis();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:session:*", app.ctx.settings.redis.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the revocation is shared through Redis");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(on_both(&app, &replica, token).await, (401, 401));
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_sessions_access_tokens() {
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let first = register(&app, "ada@example.com").await;
    let refresh = json!({"refresh_token": first["refresh_token"]});
    let second = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(refresh.clone()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        on_both(&app, &replica, access_token(&second)).await,
        (200, 200)
    );

    problem(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(refresh),
        )
        .await,
        401,
    )
    .await;
    for token in [access_token(&first), access_token(&second)] {
        assert_eq!(on_both(&app, &replica, token).await, (401, 401));
    }
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_every_api_key() {
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let mine = register(&app, "ada@example.com").await;
    let mine = access_token(&mine).to_owned();
    let other = login(&app, "ada@example.com", "correct horse").await;
    let other = access_token(&other).to_owned();
    let key = api_key(&app, &mine, json!(["otp"])).await;
    assert_eq!(on_both(&app, &replica, &other).await, (200, 200));
    assert_eq!(key_status(&app, &key).await, (200, 200));

    let change = call(
        &app,
        Method::POST,
        "/api/v1/auth/change-password",
        Some(&mine),
        Some(json!({"current_password": "correct horse", "new_password": "battery staple"})),
    )
    .await;
    assert_eq!(change.status(), 204);
    assert_eq!(on_both(&app, &replica, &other).await, (401, 401));
    assert_eq!(
        on_both(&app, &replica, &mine).await,
        (200, 200),
        "the session that changed it stays signed in"
    );
    assert_eq!(key_status(&app, &key).await, (401, 401));
    let keys = json_of(
        call(&app, Method::GET, "/api/v1/api-keys", Some(&mine), None).await,
        200,
    )
    .await;
    assert_eq!(keys, json!([]));
}

/// What the email job does: draw the latest code.
async fn deliver_latest_code(app: &TestApp) -> String {
    let id = sqlx::query_scalar!("SELECT id FROM one_time_codes ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    let mut conn = app.ctx.pool.acquire().await.unwrap();
    let pepper = app.ctx.settings.jwt.secret.expose_secret().as_bytes();
    codes::issue(&mut conn, id, pepper)
        .await
        .unwrap()
        .expect("a pending code")
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_every_api_key() {
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let session = register(&app, "ada@example.com").await;
    let token = access_token(&session).to_owned();
    let keys = [
        api_key(&app, &token, json!(["email:send"])).await,
        api_key(&app, &token, json!(["otp", "subscriptions"])).await,
    ];
    assert_eq!(on_both(&app, &replica, &token).await, (200, 200));
    for key in &keys {
        assert_eq!(key_status(&app, key).await, (200, 200));
    }

    let request = json!({"email": "ada@example.com"});
    let asked = call(
        &app,
        Method::POST,
        "/api/v1/auth/password-reset",
        None,
        Some(request),
    )
    .await;
    assert_eq!(asked.status(), 202);
    let code = deliver_latest_code(&app).await;
    let body = json!({"email": "ada@example.com", "code": code, "new_password": "battery staple"});
    let reset = call(
        &app,
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(body),
    )
    .await;
    assert_eq!(reset.status(), 204);

    assert_eq!(on_both(&app, &replica, &token).await, (401, 401));
    for key in &keys {
        assert_eq!(key_status(&app, key).await, (401, 401));
    }
    let live =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM api_keys WHERE revoked_at IS NULL"#)
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    assert_eq!(live, 0);
    // Signing in again works, and a new key can be made.
    let fresh = login(&app, "ada@example.com", "battery staple").await;
    let key = api_key(&app, access_token(&fresh), json!(["otp"])).await;
    assert_eq!(key_status(&app, &key).await, (200, 200));
}

/// A key asked for by a session that a password change or reset revokes
/// while the request waits must not be created: the creation waits for the
/// user row that the change holds, then sees the session revoked.
#[tokio::test]
async fn a_key_asked_for_while_the_password_changes_is_not_created() {
    let app = TestApp::spawn().await;
    let session = register(&app, "ada@example.com").await;
    let token = access_token(&session).to_owned();
    let user: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    // The password change's transaction: it holds the user row...
    let mut change = app.ctx.pool.begin().await.unwrap();
    sqlx::query_scalar!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user)
        .fetch_one(&mut *change)
        .await
        .unwrap();
    let creation = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/api/v1/api-keys");
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": "stolen", "scopes": ["email:send"]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    loop {
        let waiting = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query ILIKE '%FROM users%FOR UPDATE%'"#,
        )
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // ...while it revokes every session of the account, then commits.
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1",
        user,
    )
    .execute(&mut *change)
    .await
    .unwrap();
    change.commit().await.unwrap();
    assert_eq!(creation.await.unwrap(), 401, "the session ended first");
    let keys = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM api_keys WHERE user_id = $1"#,
        user,
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(keys, 0, "no key outlives the session that asked for it");
}
