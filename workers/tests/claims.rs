//! Claims given back: a worker claims the jobs apalis hands it before they
//! get a handler permit, and gives back those still waiting when its run
//! ends (pause, SIGTERM, failure). A given-back claim must leave the job as
//! if it had never been claimed, touch no one else's claim, and never count
//! a lost attempt twice.

mod common;

use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop, Release};
use marquee_core::testing::TestContext;
use uuid::Uuid;

const SLOT: i16 = 0;

async fn claim(ctx: &TestContext, id: Uuid, worker: &str) -> i32 {
    let claimed = jobs::claim_batch(&ctx.pool, &[id], worker, SLOT)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{worker} claims the job");
    claimed[0].attempts
}

async fn release(ctx: &TestContext, id: Uuid, attempt: i32, worker: &str) {
    jobs::release_batch(&ctx.pool, &[Release { id, attempt }], worker)
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
    let id = enqueue_committed(&ctx, &Noop::default(), JobOptions::default())
        .await
        .id;
    assert_eq!(claim(&ctx, id, "w1").await, 1);
    assert_eq!(record(&ctx, id).await.status, JobStatus::Running);

    release(&ctx, id, 1, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!(job.status, JobStatus::Dispatched);
    assert_eq!(job.attempts, 0, "the attempt is uncounted");

    assert_eq!(
        claim(&ctx, id, "w1").await,
        1,
        "the next claim is attempt 1"
    );
    assert_eq!(record(&ctx, id).await.attempt_log, serde_json::json!([]));
    assert_eq!(history(&ctx).await, (0, 0), "nothing was lost");
}

#[tokio::test]
async fn a_release_touches_only_its_own_latest_claim() {
    let ctx = TestContext::new().await;
    let id = enqueue_committed(&ctx, &Noop::default(), JobOptions::default())
        .await
        .id;
    assert_eq!(claim(&ctx, id, "w1").await, 1);

    release(&ctx, id, 1, "w2").await;
    release(&ctx, id, 2, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts, job.worker.as_deref()),
        (JobStatus::Running, 1, Some("w1")),
        "another worker's release and a stale attempt change nothing"
    );

    jobs::finish_batch(
        &ctx.pool,
        &[jobs::Finish {
            id,
            status: JobStatus::Succeeded,
            error: None,
            retry_at: None,
        }],
        SLOT,
    )
    .await
    .unwrap();
    release(&ctx, id, 1, "w1").await;
    assert_eq!(
        record(&ctx, id).await.status,
        JobStatus::Succeeded,
        "a finished job stays finished"
    );
}

#[tokio::test]
async fn a_lost_attempt_given_back_is_counted_once() {
    let ctx = TestContext::new().await;
    let id = enqueue_committed(&ctx, &Noop::default(), JobOptions::default())
        .await
        .id;
    // w1 vanished mid-attempt; w2 gets the job again and logs the loss.
    assert_eq!(claim(&ctx, id, "w1").await, 1);
    assert_eq!(claim(&ctx, id, "w2").await, 2);
    assert_eq!(history(&ctx).await, (1, 1));

    // w2 stops before the job got a handler, and later claims it again.
    release(&ctx, id, 2, "w2").await;
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Retrying, 1),
        "after an attempt, a job given back waits as a retry"
    );
    assert_eq!(claim(&ctx, id, "w2").await, 2);

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
