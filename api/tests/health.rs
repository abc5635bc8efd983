mod common;

use common::*;
use marquee_core::auth::Role;
use marquee_core::testing::TestContext;
use secrecy::SecretString;

#[tokio::test]
async fn ping_answers_pong_and_live_answers() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/ping").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "pong"})
    );
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn ready_when_postgres_and_redis_answer() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["checks"],
        serde_json::json!({"postgres": "ok", "redis": "ok"})
    );
}

#[tokio::test]
async fn not_ready_names_redis_when_it_is_unreachable() {
    let mut ctx = TestContext::new().await;
    ctx.settings.redis.url = SecretString::from("redis://127.0.0.1:1");
    let app = TestApp::spawn_with(ctx).await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.headers()["retry-after"], "5");
    let body = problem(response, 503).await;
    assert_eq!(body["detail"], "redis down");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(
        body["checks"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("down"),
        "{body}"
    );
}

#[tokio::test]
async fn openapi_document_is_openapi_3_and_docs_render() {
    let app = TestApp::spawn().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        spec["openapi"]
    );
    for path in [
        "/health/live",
        "/health/ready",
        "/health/ping",
        "/api/v1/system/noop",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "Swagger UI page"
    );
}

#[tokio::test]
async fn job_totals_are_for_admins_and_cached() {
    let app = TestApp::spawn().await;
    let admin = with_role(&app, "admin@example.com", Role::Admin).await;
    for body in [
        serde_json::json!({}),
        serde_json::json!({"permanent": true}),
    ] {
        let response = call(
            &app,
            reqwest::Method::POST,
            "/api/v1/system/noop",
            Some(&admin),
            Some(body),
        )
        .await;
        assert_eq!(response.status(), 202);
    }
    marquee_worker::testing::drain(
        &app.ctx,
        marquee_worker::Registry::standard(),
        std::time::Duration::from_secs(20),
    )
    .await;
    let totals = json_of(
        call(
            &app,
            reqwest::Method::GET,
            "/health/metrics",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    // The admin's welcome email is a job too, on the email queue.
    let system = totals["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "system")
        .expect("the system queue")
        .clone();
    assert_eq!(system["executed"], 2, "{totals}");
    assert_eq!(system["succeeded"], 1);
    assert_eq!(system["failed"], 1);
    assert!(totals["executed"].as_i64().unwrap() >= 2, "{totals}");

    // A job finished behind the cache's back: within the cache window the
    // figures are the cached ones, so requests do not reach the database.
    sqlx::query!(
        "INSERT INTO jobs (id, kind, queue, payload, status)
         VALUES ($1, 'noop', 'system', '{}', 'dead')",
        uuid::Uuid::now_v7(),
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    for _ in 0..3 {
        let again = json_of(
            call(
                &app,
                reqwest::Method::GET,
                "/health/metrics",
                Some(&admin),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(again, totals);
    }
}

#[tokio::test]
async fn job_totals_are_401_anonymous_and_403_for_people_who_are_not_admins() {
    let app = TestApp::spawn().await;
    problem(app.get("/health/metrics").await, 401).await;
    let user = with_role(&app, "user@example.com", Role::User).await;
    let organizer = organizer(&app, "org@example.com").await;
    for token in [&user, &organizer] {
        let response = call(
            &app,
            reqwest::Method::GET,
            "/health/metrics",
            Some(token),
            None,
        )
        .await;
        problem(response, 403).await;
    }
}

#[tokio::test]
async fn the_noop_diagnostic_is_for_admins_only() {
    let app = TestApp::spawn().await;
    let body = serde_json::json!({});
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/system/noop",
        None,
        Some(body.clone()),
    )
    .await;
    problem(response, 401).await;
    let user = with_role(&app, "user@example.com", Role::User).await;
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/system/noop",
        Some(&user),
        Some(body),
    )
    .await;
    problem(response, 403).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE queue = 'system'").await,
        0
    );
}

#[tokio::test]
async fn prometheus_metrics_are_not_served_on_the_public_listener() {
    let app = TestApp::spawn().await;
    problem(app.get("/metrics").await, 404).await;
}
