//! Accounts and sessions: registration, sign-in, rotation with reuse
//! detection, sign-out, and every way an access token can be wrong.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn register(app: &TestApp, email: &str) -> Value {
    let response = post(
        app,
        "/api/v1/auth/register",
        json!({"email": email, "password": "correct horse", "name": "Ada"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn users(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn register_creates_a_user_signs_in_and_enqueues_the_welcome_email() {
    let app = TestApp::spawn().await;
    let session = register(&app, "  Ada@Example.COM ").await;
    assert_eq!(session["user"]["email"], "ada@example.com");
    assert_eq!(session["user"]["role"], "user");
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900);
    let response = me(&app, session["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["email"],
        "ada@example.com"
    );
    let welcomes = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM jobs WHERE kind = 'welcome_email' AND queue = 'email'"#
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(welcomes, 1);
}

#[tokio::test]
async fn a_role_in_the_body_never_grants_it() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "eve@example.com", "password": "correct horse", "name": "Eve", "role": "admin"});
    let response = post(&app, "/api/v1/auth/register", body).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["user"]["role"], "user");
    let raised = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users WHERE role <> 'user'"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(raised, 0);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_its_case() {
    let app = TestApp::spawn().await;
    register(&app, "ada@example.com").await;
    let again = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "ADA@example.com", "password": "another pass", "name": "A"}),
    )
    .await;
    problem(again, 409).await;
    assert_eq!(users(&app).await, 1);
    let jobs = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "no second welcome email");
}

#[tokio::test]
async fn weak_password_and_bad_fields_are_422_per_field_and_create_nothing() {
    let app = TestApp::spawn().await;
    let response = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "ada@example.com", "password": "short", "name": "Ada"}),
    )
    .await;
    let body = problem(response, 422).await;
    assert_eq!(
        body["errors"],
        json!([{"field": "password", "message": "must be 8-128 characters"}])
    );

    let response = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "nope", "password": "x".repeat(129), "name": " "}),
    )
    .await;
    let body = problem(response, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "name", "password"]);
    assert_eq!(users(&app).await, 0);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    register(&app, "ada@example.com").await;
    let wrong = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "ada@example.com", "password": "wrong horse"}),
    )
    .await;
    let unknown = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "bob@example.com", "password": "wrong horse"}),
    )
    .await;
    let wrong = problem(wrong, 401).await;
    let unknown = problem(unknown, 401).await;
    assert_eq!(wrong, unknown);
    let ok = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": " ADA@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let first = register(&app, "ada@example.com").await;
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let response = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        me(&app, second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Someone replays the spent token: refused, and the family dies.
    problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
        )
        .await,
        401,
    )
    .await;
    problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": second_refresh}),
        )
        .await,
        401,
    )
    .await;
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_rotates_at_most_once() {
    let app = TestApp::spawn().await;
    let session = register(&app, "ada@example.com").await;
    let token = session["refresh_token"].as_str().unwrap().to_owned();
    let attempts = (0..10).map(|_| {
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": token}),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::spawn().await;
    let session = register(&app, "ada@example.com").await;
    let token = session["refresh_token"].as_str().unwrap();
    let response = post(&app, "/api/v1/auth/logout", json!({"refresh_token": token})).await;
    assert_eq!(response.status(), 204);
    problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": token}),
        )
        .await,
        401,
    )
    .await;
}

fn sign(app: &TestApp, algorithm: Algorithm, claims: &Value) -> String {
    let secret = app
        .ctx
        .settings
        .jwt
        .secret
        .expose_secret()
        .as_bytes()
        .to_vec();
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_access_tokens_get_401() {
    let app = TestApp::spawn().await;
    let session = register(&app, "ada@example.com").await;
    let good = session["access_token"].as_str().unwrap();
    let sub = session["user"]["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64, kind: &str| json!({"sub": sub, "role": "admin", "iat": now - 10, "exp": exp, "jti": uuid::Uuid::new_v4(), "type": kind});

    let expired = sign(&app, Algorithm::HS256, &claims(now - 3600, "access"));
    let other_algorithm = sign(&app, Algorithm::HS512, &claims(now + 600, "access"));
    let refresh_type = sign(&app, Algorithm::HS256, &claims(now + 600, "refresh"));
    let mut tampered = good.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (_, rest) = good.split_once('.').unwrap();
    let payload = rest.split('.').next().unwrap();
    let alg_none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let refresh_as_access = session["refresh_token"].as_str().unwrap().to_owned();

    for (what, token) in [
        ("expired", expired),
        ("HS512", other_algorithm),
        ("type refresh", refresh_type),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("refresh token", refresh_as_access),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let response = me(&app, &token).await;
        assert_eq!(response.status(), 401, "{what} must be refused");
        problem(response, 401).await;
    }
    let missing = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    problem(missing, 401).await;
    assert_eq!(me(&app, good).await.status(), 200);
}

#[tokio::test]
async fn a_token_only_ever_shows_its_own_account() {
    let app = TestApp::spawn().await;
    let ada = register(&app, "ada@example.com").await;
    let bob = register(&app, "bob@example.com").await;
    for (session, email) in [(&ada, "ada@example.com"), (&bob, "bob@example.com")] {
        let body: Value = me(&app, session["access_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["email"], email);
    }
}
