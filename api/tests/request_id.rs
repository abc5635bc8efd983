//! X-Request-Id is accepted or generated, echoed, and carried into jobs.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::jobs::{self, JobStatus};
use marquee_worker::{Registry, testing::drain};

#[tokio::test]
async fn request_id_is_echoed_and_carried_into_the_job() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/system/noop"))
        .bearer_auth(admin_token(&app).await)
        .header("x-request-id", "req-abc-123")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().parse().unwrap();

    drain(&app.ctx, Registry::standard(), Duration::from_secs(20)).await;
    let job = jobs::find(&app.ctx.pool, id).await.unwrap().unwrap();
    assert_eq!(job.request_id.as_deref(), Some("req-abc-123"));
    assert_eq!(job.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one() {
    let app = TestApp::spawn().await;
    let generated = app.get("/health/ping").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let response = app
        .client
        .get(app.url("/health/ping"))
        .header("x-request-id", "a b c")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "a b c");
}

#[tokio::test]
async fn errors_carry_the_request_id_too() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "r-404")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "r-404");
    problem(response, 404).await;
}
