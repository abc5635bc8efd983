//! Every error is problem+json; bad bodies are 400/422, never 500.

mod common;

use common::*;

#[tokio::test]
async fn unknown_route_is_a_problem_404() {
    let app = TestApp::spawn().await;
    problem(app.get("/api/v1/nothing-here").await, 404).await;
}

#[tokio::test]
async fn wrong_method_is_a_problem_405() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url("/health/ping"))
        .send()
        .await
        .unwrap();
    problem(response, 405).await;
}

#[tokio::test]
async fn malformed_json_is_a_problem_400_and_enqueues_nothing() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/system/noop"))
        .bearer_auth(admin_token(&app).await)
        .header("content-type", "application/json")
        .body("{\"sleep_ms\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
    assert_eq!(job_count(&app).await, 0);
}

#[tokio::test]
async fn wrongly_typed_or_out_of_range_fields_are_4xx_problems() {
    let app = TestApp::spawn().await;
    for body in [
        r#"{"sleep_ms": "soon"}"#,
        r#"{"max_attempts": 0}"#,
        r#"[1, 2]"#,
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/system/noop"))
            .bearer_auth(admin_token(&app).await)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{body} gave {status}");
        problem(response, status).await;
    }
    assert_eq!(job_count(&app).await, 0);
}

#[tokio::test]
async fn missing_content_type_is_a_problem_not_plain_text() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/system/noop"))
        .bearer_auth(admin_token(&app).await)
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "got {status}");
    problem(response, status).await;
}

async fn job_count(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}
