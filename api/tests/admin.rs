//! Roles: admin routes answer 403 to everyone else; a role change applies
//! on the next request; the CLI bootstraps the first admin; a password
//! change signs out every other session.

mod common;

use common::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn list_users(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/admin/users{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn make_admin(app: &TestApp, session: &Value) {
    sqlx::query!(
        "UPDATE users SET role = 'admin' WHERE id = $1",
        user_id(session),
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_user_on_an_admin_route_gets_403_and_no_token_gets_401() {
    let app = TestApp::spawn().await;
    let user = register(&app, "user@example.com").await;
    problem(list_users(&app, access_token(&user), "").await, 403).await;
    let patch = app
        .client
        .patch(app.url(&format!(
            "/api/v1/admin/users/{}",
            user["user"]["id"].as_str().unwrap()
        )))
        .bearer_auth(access_token(&user))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    problem(patch, 403).await;
    let role = sqlx::query_scalar!("SELECT role FROM users")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(role, "user", "a refused request changes nothing");
    problem(
        app.client
            .get(app.url("/api/v1/admin/users"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test]
async fn admin_lists_users_with_pagination_and_changes_roles_effective_at_once() {
    let app = TestApp::spawn().await;
    let admin = register(&app, "admin@example.com").await;
    make_admin(&app, &admin).await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(register(&app, &format!("u{i}@example.com")).await);
    }
    let page: Value = list_users(&app, access_token(&admin), "?page=2&per_page=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["email"], "u1@example.com");
    problem(
        list_users(&app, access_token(&admin), "?per_page=1000").await,
        422,
    )
    .await;

    // The user's token predates the change; the new role still applies at once.
    let promoted = &others[0];
    problem(list_users(&app, access_token(promoted), "").await, 403).await;
    let response = app
        .client
        .patch(app.url(&format!(
            "/api/v1/admin/users/{}",
            promoted["user"]["id"].as_str().unwrap()
        )))
        .bearer_auth(access_token(&admin))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "admin");
    assert_eq!(
        list_users(&app, access_token(promoted), "").await.status(),
        200
    );

    let unknown = app
        .client
        .patch(app.url(&format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4())))
        .bearer_auth(access_token(&admin))
        .json(&json!({"role": "organizer"}))
        .send()
        .await
        .unwrap();
    problem(unknown, 404).await;
    let bad_role = app
        .client
        .patch(app.url(&format!(
            "/api/v1/admin/users/{}",
            promoted["user"]["id"].as_str().unwrap()
        )))
        .bearer_auth(access_token(&admin))
        .json(&json!({"role": "emperor"}))
        .send()
        .await
        .unwrap();
    assert!(bad_role.status().is_client_error());
}

#[tokio::test]
async fn change_password_revokes_every_other_session() {
    let app = TestApp::spawn().await;
    let first = register(&app, "ada@example.com").await;
    let login = json!({"email": "ada@example.com", "password": "correct horse"});
    let second: Value = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let wrong = app
        .client
        .post(app.url("/api/v1/auth/change-password"))
        .bearer_auth(access_token(&first))
        .json(&json!({"current_password": "nope nope", "new_password": "battery staple"}))
        .send()
        .await
        .unwrap();
    problem(wrong, 403).await;
    let changed = app
        .client
        .post(app.url("/api/v1/auth/change-password"))
        .bearer_auth(access_token(&first))
        .json(&json!({"current_password": "correct horse", "new_password": "battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);

    let refresh = |session: &Value| json!({"refresh_token": session["refresh_token"]});
    let kept = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&refresh(&first))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200, "the caller's own session survives");
    let other = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&refresh(&second))
        .send()
        .await
        .unwrap();
    problem(other, 401).await;
    let old = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    problem(old, 401).await;
}

#[tokio::test]
async fn the_cli_bootstraps_an_admin() {
    let app = TestApp::spawn().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-api"))
        .args([
            "admin",
            "create-user",
            "--email",
            "Root@Example.com",
            "--role",
            "admin",
        ])
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env(
            "MARQUEE__DATABASE__URL",
            app.ctx.settings.database.url.expose_secret(),
        )
        .env("MARQUEE_ADMIN_PASSWORD", "a long admin password")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let login = json!({"email": "root@example.com", "password": "a long admin password"});
    let session: Value = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["role"], "admin");
    assert_eq!(
        list_users(&app, access_token(&session), "").await.status(),
        200
    );
}
