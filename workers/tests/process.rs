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
