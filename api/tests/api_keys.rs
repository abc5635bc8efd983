//! API keys: shown once, stored hashed, listed without secrets, revoked at
//! once, accepted as Bearer or X-API-Key, acting for their owner only.

mod common;

use common::*;
use serde_json::{Value, json};

async fn signed_in(app: &TestApp, email: &str) -> String {
    access_token(&register(app, email).await).to_owned()
}

async fn create_key(app: &TestApp, token: &str, scopes: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "billing app", "scopes": scopes}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_key_is_shown_once_stored_hashed_and_works_as_bearer_or_header() {
    let app = TestApp::spawn().await;
    let token = signed_in(&app, "dev@example.com").await;
    let response = create_key(&app, &token, json!(["email:send", "otp"])).await;
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    let secret = key["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("mk_") && secret.len() > 40, "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));
    let stored = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM api_keys WHERE key_hash = sha256($1::bytea)"#,
        secret.as_bytes(),
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "stored as its SHA-256 only");

    let via_bearer: Value = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_bearer["email"], "dev@example.com");
    assert_eq!(via_bearer["via"], "api_key");
    assert_eq!(via_bearer["scopes"], json!(["email:send", "otp"]));
    let via_header = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), 200);

    let listed: Value = app
        .client
        .get(app.url("/api/v1/api-keys"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("secret").is_none(),
        "no secrets in lists: {listed}"
    );
    assert!(
        listed[0]["last_used_at"].is_string(),
        "use is recorded: {listed}"
    );
}

#[tokio::test]
async fn a_revoked_key_gets_401_on_its_next_call() {
    let app = TestApp::spawn().await;
    let token = signed_in(&app, "dev@example.com").await;
    let key: Value = create_key(&app, &token, json!(["otp"]))
        .await
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().unwrap();
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let revoke = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    problem(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    problem(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header("x-api-key", secret)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test]
async fn keys_belong_to_their_owner_and_cannot_do_what_only_people_do() {
    let app = TestApp::spawn().await;
    let ada = signed_in(&app, "ada@example.com").await;
    let bob = signed_in(&app, "bob@example.com").await;
    let key: Value = create_key(&app, &ada, json!(["otp"]))
        .await
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().unwrap();
    let id = key["id"].as_str().unwrap();

    // Bob can neither see nor revoke Ada's key.
    let bobs: Value = app
        .client
        .get(app.url("/api/v1/api-keys"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bobs, json!([]));
    let steal = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    problem(steal, 404).await;
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A key cannot mint keys or change the password: 403, nothing changes.
    problem(create_key(&app, secret, json!(["otp"])).await, 403).await;
    let change = app
        .client
        .post(app.url("/api/v1/auth/change-password"))
        .bearer_auth(secret)
        .json(&json!({"current_password": "correct horse", "new_password": "battery staple"}))
        .send()
        .await
        .unwrap();
    problem(change, 403).await;
    let keys = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM api_keys"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test]
async fn unknown_or_missing_scopes_are_422_per_field() {
    let app = TestApp::spawn().await;
    let token = signed_in(&app, "dev@example.com").await;
    let body = problem(
        create_key(&app, &token, json!(["email:send", "root"])).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "scopes");
    problem(create_key(&app, &token, json!([])).await, 422).await;
    let keys = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM api_keys"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0);
}

#[tokio::test]
async fn openapi_lists_both_security_schemes() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["ApiKeyAuth"]["name"], "X-API-Key");
}
