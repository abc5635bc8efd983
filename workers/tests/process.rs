//! Real `marquee-worker` processes: killed mid-job, and stopped gracefully.

mod common;

use std::time::{Duration, Instant};

use common::*;
use marquee_core::jobs::{JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;

#[tokio::test]
async fn job_of_a_killed_worker_is_rerun_by_another_process_within_60s() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            sleep_ms: 3_000,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;

    let mut first = spawn_worker(&ctx, "doomed");
    wait_for(
        &ctx,
        job.id,
        Duration::from_secs(20),
        is_status(JobStatus::Running),
    )
    .await;
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    let killed_at = Instant::now();

    let mut second = spawn_worker(&ctx, "survivor");
    let done = wait_for(
        &ctx,
        job.id,
        Duration::from_secs(60),
        is_status(JobStatus::Succeeded),
    )
    .await;
    let recovered_in = killed_at.elapsed();
    second.kill().ok();
    second.wait().ok();

    assert!(
        recovered_in < Duration::from_secs(60),
        "recovered in {recovered_in:?}"
    );
    assert_eq!(done.attempts, 2, "the lost attempt counts");
    assert!(done.worker.unwrap().starts_with("survivor"));
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_job_finish_and_exits_zero() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            sleep_ms: 2_000,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;

    let mut worker = spawn_worker(&ctx, "graceful");
    wait_for(
        &ctx,
        job.id,
        Duration::from_secs(20),
        is_status(JobStatus::Running),
    )
    .await;
    terminate(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(30)).await;

    assert!(status.success(), "exit status {status:?}");
    let done = record(&ctx, job.id).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
}

#[test]
fn worker_with_zero_concurrency_exits_naming_the_key() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-worker"))
        .env("MARQUEE__WORKER__CONCURRENCY", "0")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("worker.concurrency"), "{stderr}");
}

#[tokio::test]
async fn a_worker_serves_prometheus_metrics_on_its_port() {
    let ctx = TestContext::new().await;
    enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    enqueue_committed(
        &ctx,
        &Noop {
            permanent: true,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-worker"));
    command
        .args(["--queues", "system", "--metrics-port", &port.to_string()])
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            secrecy::ExposeSecret::expose_secret(&ctx.settings.database.url),
        )
        .env("MARQUEE__REDIS__KEY_PREFIX", &ctx.settings.redis.key_prefix)
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut worker = command.spawn().unwrap();
    marquee_worker::testing::wait_until_drained(&ctx, Duration::from_secs(20)).await;
    let body = reqwest_get(port).await;
    worker.kill().ok();
    worker.wait().ok();
    assert!(
        body.contains(r#"marquee_jobs_total{queue="system",outcome="succeeded"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"marquee_jobs_total{queue="system",outcome="dead"} 1"#),
        "{body}"
    );
    assert!(
        body.contains("marquee_job_duration_seconds_bucket"),
        "{body}"
    );
    assert!(
        body.contains(r#"marquee_queue_depth{queue="system",state="ready"} 0"#),
        "{body}"
    );
}

async fn reqwest_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn metrics_answer_quickly_while_redis_is_unreachable() {
    let ctx = TestContext::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-worker"));
    command
        .args(["--queues", "system", "--metrics-port", &port.to_string()])
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            secrecy::ExposeSecret::expose_secret(&ctx.settings.database.url),
        )
        // Nothing listens on port 1: every Redis call fails or hangs.
        .env("MARQUEE__REDIS__URL", "redis://127.0.0.1:1")
        .env("MARQUEE__REDIS__KEY_PREFIX", &ctx.settings.redis.key_prefix)
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut worker = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "no metrics listener");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let body = reqwest_get(port).await;
        assert!(body.starts_with("HTTP/1.0 200"), "{body}");
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "a scrape took {:?}",
            started.elapsed()
        );
    }
    worker.kill().ok();
    worker.wait().ok();
}
