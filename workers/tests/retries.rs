//! Our retry policy: attempts counted in the ledger, backoff between them,
//! dead after max attempts or at once on a permanent error.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::jobs::{JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::drain;

#[tokio::test]
async fn fails_twice_then_succeeds_on_the_third_attempt() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            fail_attempts: 2,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;
    drain(&ctx, Registry::standard(), Duration::from_secs(30)).await;
    let done = record(&ctx, job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 3);
    assert_eq!(
        done.last_error.as_deref(),
        Some("noop asked to fail attempt 2")
    );
    assert_eq!(done.dispatches, 3, "each attempt was pushed once");
}

#[tokio::test]
async fn always_failing_job_is_dead_after_max_attempts_with_its_last_error() {
    let ctx = TestContext::new().await;
    let options = JobOptions {
        max_attempts: Some(3),
        ..JobOptions::default()
    };
    let job = enqueue_committed(
        &ctx,
        &Noop {
            fail_attempts: 100,
            ..Noop::default()
        },
        options,
    )
    .await;
    drain(&ctx, Registry::standard(), Duration::from_secs(30)).await;
    let dead = record(&ctx, job.id).await;
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.attempts, 3);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("noop asked to fail attempt 3")
    );
    assert!(dead.finished_at.is_some());
}

#[tokio::test]
async fn permanent_error_is_dead_after_one_attempt() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            permanent: true,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    let dead = record(&ctx, job.id).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
    assert_eq!(
        dead.last_error.as_deref(),
        Some("noop asked to fail permanently")
    );
}

#[tokio::test]
async fn unknown_job_kind_is_dead_not_retried() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    drain(&ctx, Registry::default(), Duration::from_secs(20)).await;
    let dead = record(&ctx, job.id).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
    assert!(dead.last_error.unwrap().contains("no handler"));
}

#[tokio::test]
async fn the_next_attempt_waits_for_its_backoff() {
    let mut ctx = TestContext::new().await;
    ctx.settings.jobs.backoff_base_ms = 2_000;
    ctx.settings.jobs.backoff_max_ms = 2_000;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            fail_attempts: 1,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;
    let worker = marquee_worker::testing::InProcessWorker::start(&ctx, Registry::standard());
    let retrying = wait_for(
        &ctx,
        job.id,
        Duration::from_secs(10),
        is_status(JobStatus::Retrying),
    )
    .await;
    let retry_at = retrying
        .run_at
        .expect("a retrying job knows when it runs next");
    // Measured from the failed attempt's end as the ledger wrote it, which
    // comes after the worker chose `retry_at` by the outcome batch's round
    // trip (`updated_at` is later still: the retry's push renews it); so
    // the 1-2 s backoff shows here as a bit less under load.
    let failed_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(retrying.attempt_log[0]["finished_at"].clone())
            .expect("the failed attempt is logged with its end");
    let backoff = retry_at - failed_at;
    assert!(
        backoff >= chrono::Duration::milliseconds(500),
        "backoff with jitter is 1-2 s, got {backoff}"
    );
    let done = wait_for(
        &ctx,
        job.id,
        Duration::from_secs(10),
        is_status(JobStatus::Succeeded),
    )
    .await;
    worker.stop().await.unwrap();
    assert!(
        done.started_at.unwrap() >= retry_at,
        "attempt 2 started {:?}, before {retry_at}",
        done.started_at
    );
    assert_eq!(done.attempts, 2);
}
