//! Redis stops and comes back: readiness follows it without an API restart,
//! and workers pick up new jobs by themselves. Uses a Redis server of its
//! own, so the shared one is never disturbed.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use marquee_core::jobs::{self, JobStatus};
use marquee_core::testing::{PrivateRedis, TestContext};
use marquee_worker::{Registry, testing::InProcessWorker};
use secrecy::SecretString;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready_status(app: &TestApp, status: u16, timeout: Duration) -> reqwest::Response {
    let deadline = Instant::now() + timeout;
    loop {
        let response = app.get("/health/ready").await;
        if response.status().as_u16() == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "/health/ready never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run_a_job(app: &TestApp, timeout: Duration) {
    let response = app
        .client
        .post(app.url("/api/v1/system/noop"))
        .bearer_auth(admin_token(app).await)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        let job = jobs::find(&app.ctx.pool, id).await.unwrap().unwrap();
        if job.status == JobStatus::Succeeded {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job not run within {timeout:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readiness_and_workers_follow_redis_down_and_back_up() {
    let port = free_port();
    let mut redis = PrivateRedis::start_on(port);
    let mut ctx = TestContext::new().await;
    ctx.settings.redis.url = SecretString::from(format!("redis://127.0.0.1:{port}"));
    let app = TestApp::spawn_with(ctx).await;
    let worker = InProcessWorker::start(&app.ctx, Registry::standard());

    wait_ready_status(&app, 200, Duration::from_secs(10)).await;
    run_a_job(&app, Duration::from_secs(15)).await;

    redis.stop();
    let down = wait_ready_status(&app, 503, Duration::from_secs(10)).await;
    let body = problem(down, 503).await;
    assert_eq!(body["detail"], "redis down");

    let _redis = PrivateRedis::start_on(redis.port);
    wait_ready_status(&app, 200, Duration::from_secs(20)).await;
    // The worker was not restarted by anyone; it must reconnect on its own.
    run_a_job(&app, Duration::from_secs(30)).await;
    worker.stop().await.unwrap();
}
