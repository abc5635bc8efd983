//! Claims given back: a worker claims the jobs apalis hands it before they
//! get a handler permit, and gives back those still waiting when its run
//! ends (pause, SIGTERM, failure) or that waited too long. A given-back
//! claim must leave the job waiting for the task that was delivered, touch
//! no other claim, and never count a lost attempt twice.

mod common;

use common::ledger::*;
use common::*;
use marquee_core::jobs::{self, JobStatus, Release};
use marquee_core::testing::TestContext;

#[tokio::test]
async fn a_claim_given_back_leaves_the_job_waiting_as_before() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let first = claim(&ctx, id, "w1").await;
    assert_eq!(first.attempts, 1);
    assert_eq!(record(&ctx, id).await.status, JobStatus::Running);

    release(&ctx, &first, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!(job.status, JobStatus::Queued, "it waits for a push again");
    assert_eq!(job.dispatched_at, None);
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
        claimed_at: first.claimed_at - chrono::Duration::microseconds(1),
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

    assert!(finish(&ctx, &newer, "w1", JobStatus::Succeeded).await);
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
    let first = claim(&ctx, id, "w1").await;
    assert!(finish(&ctx, &first, "w1", JobStatus::Retrying).await);
    let second = claim(&ctx, id, "w1").await;
    assert_eq!(second.attempts, 2);
    assert_eq!(record(&ctx, id).await.status, JobStatus::Running);
    release(&ctx, &second, "w1").await;
    let job = record(&ctx, id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Retrying, 1));
    assert!(
        job.dispatched_at.is_none(),
        "it waits for the relay's push: a no-op while Redis holds its task, the way back if Redis lost it"
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
        (JobStatus::Queued, 1),
        "it waits for the task of attempt 1 again, not a retry's"
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

/// A job is either cancelled or running, never both: cancels and claims of
/// the same 40 jobs race from 16 tasks. A claim writes only a run, so a
/// cancel must see every run that committed before it took the row's lock.
#[tokio::test]
async fn cancels_racing_claims_never_cancel_a_running_job() {
    let ctx = TestContext::new().await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(noop_job(&ctx).await);
    }
    let producer = producer(&ctx);
    let mut racers = tokio::task::JoinSet::new();
    for racer in 0..16 {
        let (pool, producer) = (ctx.pool.clone(), producer.clone());
        // Each racer works through the jobs in its own order.
        let mut mine = ids.clone();
        mine.rotate_left(racer * 5 % ids.len());
        racers.spawn(async move {
            let mut claimed = Vec::new();
            for chunk in mine.chunks(4) {
                if racer % 2 == 0 {
                    let worker = format!("w{racer}");
                    for c in jobs::claim_batch(&pool, chunk, &worker, SLOT)
                        .await
                        .unwrap()
                        .claimed
                    {
                        claimed.push(c.id);
                    }
                } else {
                    cancel(&pool, &producer, chunk).await.unwrap();
                }
            }
            claimed
        });
    }
    let mut claimed_ever = std::collections::HashSet::new();
    while let Some(claimed) = racers.join_next().await {
        claimed_ever.extend(claimed.unwrap());
    }

    let mut cancelled = 0;
    for id in &ids {
        let job = record(&ctx, *id).await;
        let runs = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM job_runs WHERE job_id = $1"#,
            id
        )
        .fetch_one(&ctx.pool)
        .await
        .unwrap();
        match job.status {
            JobStatus::Cancelled => {
                cancelled += 1;
                assert_eq!(runs, 0, "a cancelled job has no run");
            }
            JobStatus::Running => {
                assert_eq!(runs, 1);
                assert!(claimed_ever.contains(id));
            }
            other => panic!("job {id} is {other:?}"),
        }
    }
    // Both sides won some races, or the test raced nothing.
    assert!(
        cancelled > 0 && cancelled < ids.len(),
        "{cancelled} cancelled"
    );
}

/// The race above, made certain: a claim holds the row's lock and has
/// written its run when a cancel arrives; the cancel waits for the lock and
/// must then see the run, although its first statement began before the
/// claim committed.
#[tokio::test]
async fn a_cancel_that_waited_for_a_claim_sees_its_run() {
    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let mut claim = ctx.pool.begin().await.unwrap();
    sqlx::query!("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", id)
        .fetch_one(&mut *claim)
        .await
        .unwrap();
    sqlx::query!(
        "INSERT INTO job_runs (job_id, queue, attempt, worker, started_at)
         VALUES ($1, 'system', 1, 'w1', now())",
        id
    )
    .execute(&mut *claim)
    .await
    .unwrap();
    let (pool, producer) = (ctx.pool.clone(), producer(&ctx));
    let cancel = tokio::spawn(async move { cancel(&pool, &producer, &[id]).await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !cancel.is_finished(),
        "the cancel waits for the claim's lock"
    );
    claim.commit().await.unwrap();
    assert!(cancel.await.unwrap().is_empty(), "nothing was cancelled");
    assert_eq!(record(&ctx, id).await.status, JobStatus::Running);
}

/// Redis lost its data while w1 ran the job, and the relay pushed it again:
/// the second delivery must not take over a run whose worker is alive. It
/// is busy (delivered again later) until w1 is gone or has finished.
#[tokio::test]
async fn a_duplicate_of_a_job_a_live_worker_runs_is_busy_not_taken_over() {
    use marquee_core::ops::workers::{self, WorkerInfo};
    use std::time::Duration;

    let ctx = TestContext::new().await;
    let id = noop_job(&ctx).await;
    let info = WorkerInfo {
        name: "w1".to_owned(),
        host: "here".to_owned(),
        pid: 1,
        version: "test".to_owned(),
        queues: vec!["system".to_owned()],
        concurrency: 1,
    };
    workers::register(&ctx.pool, &info, Duration::from_secs(60))
        .await
        .unwrap();
    let first = claim(&ctx, id, "w1").await;

    for worker in ["w2", "w1"] {
        let again = jobs::claim_batch(&ctx.pool, &[id], worker, SLOT)
            .await
            .unwrap();
        assert!(again.claimed.is_empty(), "{worker} must not take it over");
        assert_eq!(again.busy, [id]);
    }
    let job = record(&ctx, id).await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Running, 1),
        "still w1's attempt 1"
    );
    assert_eq!(job.attempt_log, serde_json::json!([]));

    // w1 stops (or its registry row expires): its run was abandoned.
    workers::stopped(&ctx.pool, "w1").await.unwrap();
    let recovered = claim(&ctx, id, "w2").await;
    assert_eq!(recovered.attempts, 2, "the lost attempt counts");
    assert_ne!(recovered.claimed_at, first.claimed_at);

    // w2 was killed and came back under the same name: the run of its
    // earlier life is abandoned, not busy.
    let w2 = WorkerInfo {
        name: "w2".to_owned(),
        ..info
    };
    workers::register(&ctx.pool, &w2, Duration::from_secs(60))
        .await
        .unwrap();
    let again = claim(&ctx, id, "w3").await;
    assert_eq!(again.attempts, 3, "taken over from w2's earlier life");
}
