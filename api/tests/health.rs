mod common;

use common::*;
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
async fn job_totals_and_prometheus_metrics() {
    let app = TestApp::spawn().await;
    for body in [
        serde_json::json!({}),
        serde_json::json!({"permanent": true}),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/system/noop"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    marquee_worker::testing::drain(
        &app.ctx,
        marquee_worker::Registry::standard(),
        std::time::Duration::from_secs(20),
    )
    .await;
    let totals: serde_json::Value = app.get("/health/metrics").await.json().await.unwrap();
    assert_eq!(totals["executed"], 2);
    assert_eq!(totals["succeeded"], 1);
    assert_eq!(totals["failed"], 1);
    assert_eq!(totals["queues"][0]["queue"], "system");

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"marquee_queue_depth{queue="system",state="ready"} 0"#),
        "{text}"
    );
}
