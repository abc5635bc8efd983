//! Claims given back: a worker claims the jobs apalis hands it before they
//! get a handler permit, and gives back those still waiting when its run
//! ends (pause, SIGTERM, failure) or that waited too long. A given-back
//! claim must leave the job waiting for the task that was delivered, touch
//! no other claim, and never count a lost attempt twice.

mod common;

use common::*;
use marquee_core::jobs::{self, Claimed, JobOptions, JobStatus, Noop, Release};
use marquee_core::testing::TestContext;
use uuid::Uuid;

const SLOT: i16 = 0;

async fn noop_job(ctx: &TestContext) -> Uuid {
    enqueue_committed(ctx, &Noop::default(), JobOptions::default())
        .await
        .id
}

async fn claim(ctx: &TestContext, id: Uuid, worker: &str) -> Claimed {
    let mut claimed = jobs::claim_batch(&ctx.pool, &[id], worker, SLOT)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{worker} claims the job");
    claimed.remove(0)
}

async fn release(ctx: &TestContext, claimed: &Claimed, worker: &str) {
    jobs::release_batch(&ctx.pool, &[Release::from(claimed)], worker)
        .await
        .unwrap();
}

async fn finish(ctx: &TestContext, id: Uuid, status: JobStatus) {
    jobs::finish_batch(
        &ctx.pool,
        &[jobs::Finish {
            id,
            status,
            error: (status != JobStatus::Succeeded).then(|| "boom".to_owned()),
            retry_at: (status == JobStatus::Retrying).then(chrono::Utc::now),
        }],
        SLOT,
    )
    .await
    .unwrap();
}

/// (processed, failed) in the minute history, all slots.
async fn history(ctx: &TestContext) -> (i64, i64) {
    let row = sqlx::query!(
        r#"SELECT COALESCE(sum(processed), 0)::int8 AS "processed!",
                  COALESCE(sum(failed), 0)::int8 AS "failed!"
           FROM queue_minutes"#
    )
    .fetch_one(&ctx.pool)
    .await
    .unwrap();
    (row.processed, row.failed)
}

#[tokio::test]
async fn a_claim_given_back_leaves_the_job_waiting_as_before() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let first = claim(&ctx, id, "w1").await;
    assert_eq!(first.attempts, 1);
    assert_eq!(record(&ctx, id).await.status, JobStatus::Running);

    release(&ctx, &first, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!(job.status, JobStatus::Dispatched);
    assert_eq!(job.attempts, 0, "the attempt is uncounted");

    let next = claim(&ctx, id, "w1").await;
    assert_eq!(next.attempts, 1, "the next claim is attempt 1");
    release(&ctx, &first, "w1").await;
    assert_eq!(
        record(&ctx, id).await.status,
        JobStatus::Running,
        "the first claim, given back twice, leaves the second (same worker, same attempt) alone"
    );
    assert_eq!(record(&ctx, id).await.attempt_log, serde_json::json!([]));
    assert_eq!(history(&ctx).await, (0, 0), "nothing was lost");
}

#[tokio::test]
async fn a_release_touches_only_its_own_latest_claim() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let first = claim(&ctx, id, "w1").await;
    let stale = Release {
        attempt: 2,
        ..Release::from(&first)
    };
    jobs::release_batch(&ctx.pool, &[stale], "w1")
        .await
        .unwrap();
    release(&ctx, &first, "w2").await;
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts, job.worker.as_deref()),
        (JobStatus::Running, 1, Some("w1")),
        "another worker's release and a stale attempt change nothing"
    );

    // The same worker, two deliveries of the job: releasing the older
    // claim leaves the newer one running.
    let newer = claim(&ctx, id, "w1").await;
    release(&ctx, &first, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Running, newer.attempts)
    );

    finish(&ctx, id, JobStatus::Succeeded).await;
    release(&ctx, &newer, "w1").await;
    assert_eq!(
        record(&ctx, id).await.status,
        JobStatus::Succeeded,
        "a finished job stays finished"
    );
}

#[tokio::test]
async fn a_retry_given_back_waits_as_a_retry_of_the_same_attempt() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    claim(&ctx, id, "w1").await;
    finish(&ctx, id, JobStatus::Retrying).await;
    let second = claim(&ctx, id, "w1").await;
    assert!(second.was_retrying);
    release(&ctx, &second, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Retrying, 1));
    assert!(
        job.dispatched_at.is_some(),
        "its task is in Redis: the relay waits before pushing it again"
    );
    assert_eq!(claim(&ctx, id, "w1").await.attempts, 2);
}

#[tokio::test]
async fn a_lost_attempt_given_back_is_counted_once() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    // w1 vanished mid-attempt; w2 gets the job again and logs the loss.
    assert_eq!(claim(&ctx, id, "w1").await.attempts, 1);
    let recovered = claim(&ctx, id, "w2").await;
    assert_eq!(recovered.attempts, 2);
    assert_eq!(history(&ctx).await, (1, 1));

    // w2 stops before the job got a handler, and later claims it again.
    release(&ctx, &recovered, "w2").await;
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Dispatched, 1),
        "it waits for the task that was delivered (attempt 1's), not a retry's"
    );
    assert_eq!(claim(&ctx, id, "w2").await.attempts, 2);

    let log = record(&ctx, id).await.attempt_log;
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["lost"], "the lost attempt is logged once");
    assert_eq!(history(&ctx).await, (1, 1), "and counted once");
}

#[tokio::test]
async fn a_success_after_a_loss_is_listed_as_its_own_attempt() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    // w1 stalls in attempt 1; w2 takes the job over (logging attempt 1 as
    // lost) and gives its claim back; then w1's handler succeeds.
    claim(&ctx, id, "w1").await;
    let recovered = claim(&ctx, id, "w2").await;
    release(&ctx, &recovered, "w2").await;
    finish(&ctx, id, JobStatus::Succeeded).await;

    let detail = marquee_core::ops::jobs::detail(&ctx.pool, id)
        .await
        .unwrap()
        .unwrap();
    let outcomes: Vec<(i32, &str)> = detail
        .attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [(1, "lost"), (1, "succeeded")],
        "the success is listed even though the lost entry has its number"
    );
}
