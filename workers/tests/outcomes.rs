//! Outcomes: an attempt's outcome counts only while its run is the job's,
//! and outcome batches lock their rows in id order like every other batched
//! writer.

mod common;

use std::time::Duration;

use common::ledger::*;
use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use uuid::Uuid;

/// The attempt numbers and outcomes of the job's log.
async fn log(ctx: &TestContext, id: Uuid) -> Vec<(i64, String)> {
    record(ctx, id)
        .await
        .attempt_log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let outcome = a["outcome"].as_str().unwrap().to_owned();
            (a["attempt"].as_i64().unwrap(), outcome)
        })
        .collect()
}

/// w1 stalls in attempt 1 and w2 takes the job over, logging attempt 1 as
/// lost. Whatever w1 reports afterwards is dropped: recorded, it would
/// count attempt 1 twice, end w2's live run (dead, succeeded), or schedule
/// a retry whose delivery would start a second run beside w2's (retrying).
#[tokio::test]
async fn an_outcome_after_a_takeover_is_dropped() {
    for late in [JobStatus::Retrying, JobStatus::Dead, JobStatus::Succeeded] {
        let ctx = TestContext::new().await;
        let id = noop_job(&ctx).await;
        let (stalled, live) = taken_over(&ctx, id).await;
        assert!(
            !finish(&ctx, &stalled, "w1", late).await,
            "w1's late {late:?} is dropped"
        );
        let job = record(&ctx, id).await;
        assert_eq!(
            (job.status, job.attempts, job.worker.as_deref()),
            (JobStatus::Running, 2, Some("w2")),
            "w2's run is untouched after w1's late {late:?}"
        );
        assert_eq!(history(&ctx).await, (1, 1), "only the loss is counted");

        assert!(finish(&ctx, &live, "w2", JobStatus::Succeeded).await);
        let job = record(&ctx, id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 2));
        assert_eq!(log(&ctx, id).await, [(1, "lost".to_owned())]);
        assert_eq!(history(&ctx).await, (2, 1), "two attempts, one failed");
    }
}

/// w1 stalls, w2 takes the job over and gives its claim back before
/// starting it; then w1's handler returns. The job is waiting for the
/// delivered task again, not running: w1's outcome is dropped and the next
/// claim runs attempt 2.
#[tokio::test]
async fn an_outcome_after_a_takeover_given_back_is_dropped() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let (stalled, recovered) = taken_over(&ctx, id).await;
    release(&ctx, &recovered, "w2").await;
    assert!(!finish(&ctx, &stalled, "w1", JobStatus::Succeeded).await);
    let job = record(&ctx, id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 1));
    assert_eq!(log(&ctx, id).await, [(1, "lost".to_owned())]);
    assert_eq!(claim(&ctx, id, "w2").await.attempts, 2);
}

/// One worker stalls in attempt 1 and takes its own job over (the relay
/// pushed it again); both outcomes land in one batch. Only the live
/// attempt's is recorded, and the result says which, so the stalled one's
/// runner pushes no retry.
#[tokio::test]
async fn a_batch_with_both_attempts_of_a_job_records_the_live_one() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let stalled = claim(&ctx, id, "w1").await;
    let live = claim(&ctx, id, "w1").await;
    let batch = [
        outcome(&stalled, JobStatus::Retrying),
        outcome(&live, JobStatus::Succeeded),
    ];
    let recorded = jobs::finish_batch(&ctx.pool, &batch, "w1", SLOT)
        .await
        .unwrap();
    assert_eq!(
        recorded,
        [jobs::Recorded {
            id,
            claimed_at: live.claimed_at
        }]
    );
    let job = record(&ctx, id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 2));
    assert_eq!(log(&ctx, id).await, [(1, "lost".to_owned())]);
}

/// An outcome batch waits for rows an operator's cancel holds, and the
/// cancel for rows the batch holds, without either failing. The jobs and
/// their runs lie on disk in descending id order, the order a plan walking
/// either table would lock them in; the batch and the cancel must both
/// lock in ascending order for this to end.
#[tokio::test]
async fn an_outcome_batch_and_a_cancel_never_deadlock() {
    let ctx = TestContext::new().await;
    let mut ids: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let mut outcomes = Vec::new();
    for id in ids.iter().rev() {
        let options = JobOptions {
            id: Some(*id),
            ..JobOptions::default()
        };
        enqueue_committed(&ctx, &Noop::default(), options).await;
    }
    for id in ids.iter().rev() {
        outcomes.push(outcome(&claim(&ctx, *id, "w").await, JobStatus::Succeeded));
    }
    let (lowest, held, third) = (ids[0], ids[1], ids[2]);
    // Someone holds the second lowest; the outcome batch queues behind it.
    let mut holder = ctx.pool.begin().await.unwrap();
    sqlx::query!("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", held)
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let pool = ctx.pool.clone();
    let finishing =
        tokio::spawn(async move { jobs::finish_batch(&pool, &outcomes, "w", SLOT).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile an operator cancels the lowest and the third lowest.
    let (pool, producer) = (ctx.pool.clone(), producer(&ctx));
    let cancelling = tokio::spawn(async move { cancel(&pool, &producer, &[lowest, third]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.commit().await.unwrap();

    let cancelled = cancelling
        .await
        .unwrap()
        .expect("the cancel never deadlocks");
    assert!(
        cancelled.is_empty(),
        "running and then succeeded: not cancelled"
    );
    let recorded = finishing
        .await
        .unwrap()
        .expect("the outcomes never deadlock");
    assert_eq!(recorded.len(), 40);
    for id in [lowest, held, third] {
        assert_eq!(record(&ctx, id).await.status, JobStatus::Succeeded);
    }
}
