//! The outbox: a job exists only if its transaction committed, runs once,
//! and survives a Redis outage at commit time.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop, Producer};
use marquee_core::testing::TestContext;
use marquee_worker::testing::drain;

#[tokio::test]
async fn rolled_back_job_never_runs_and_committed_job_runs_exactly_once() {
    let ctx = TestContext::new().await;

    let mut tx = ctx.pool.begin().await.unwrap();
    let rolled_back = jobs::enqueue(&mut tx, &Noop::default()).await.unwrap();
    tx.rollback().await.unwrap();

    let committed = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    assert_eq!(
        record(&ctx, committed.id).await.status,
        JobStatus::Dispatched
    );

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;

    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the committed job runs once, the other never"
    );
    assert!(
        jobs::find(&ctx.pool, rolled_back.id)
            .await
            .unwrap()
            .is_none()
    );
    let job = record(&ctx, committed.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.dispatches, 1);
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn job_committed_while_redis_is_unreachable_is_relayed_and_runs_once() {
    let ctx = TestContext::new().await;
    // Nothing listens on port 1: every push fails.
    let unreachable = marquee_core::redis::connect_url("redis://127.0.0.1:1").unwrap();
    let broken = Producer::new(
        ctx.pool.clone(),
        unreachable,
        ctx.settings.redis.key_prefix.clone(),
    );

    let mut tx = ctx.pool.begin().await.unwrap();
    let job = jobs::enqueue(&mut tx, &Noop::default()).await.unwrap();
    tx.commit().await.unwrap();
    broken.dispatch(std::slice::from_ref(&job)).await;

    let stuck = record(&ctx, job.id).await;
    assert_eq!(stuck.status, JobStatus::Queued);
    assert!(stuck.dispatched_at.is_none());

    let relayed = jobs::relay_once(&ctx.pool, &producer(&ctx), Duration::ZERO, 100, &[])
        .await
        .unwrap()
        .pushed;
    assert_eq!(relayed, 1);
    let again = jobs::relay_once(&ctx.pool, &producer(&ctx), Duration::ZERO, 100, &[])
        .await
        .unwrap()
        .pushed;
    assert_eq!(again, 0, "a dispatched row is not pushed again");

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let done = record(&ctx, job.id).await;
    assert_eq!(
        (done.status, done.attempts, done.dispatches),
        (JobStatus::Succeeded, 1, 1)
    );
}

#[tokio::test]
async fn relay_leaves_fresh_rows_to_the_producer() {
    let ctx = TestContext::new().await;
    let mut tx = ctx.pool.begin().await.unwrap();
    jobs::enqueue(&mut tx, &Noop::default()).await.unwrap();
    tx.commit().await.unwrap();
    let relayed = jobs::relay_once(
        &ctx.pool,
        &producer(&ctx),
        Duration::from_secs(60),
        100,
        &[],
    )
    .await
    .unwrap()
    .pushed;
    assert_eq!(
        relayed, 0,
        "rows younger than the grace period belong to their producer"
    );
}

#[tokio::test]
async fn a_backlog_of_ten_thousand_due_tasks_drains_without_crashing_workers() {
    // apalis-redis's fetch promotes every due task with one Lua unpack,
    // which fails past ~8,000: workers would restart forever.
    let ctx = TestContext::new().await;
    let mut tx = ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(&mut tx, &vec![Noop::default(); 10_000])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let due_in_a_second = chrono::Utc::now() + chrono::Duration::seconds(1);
    let pushes: Vec<jobs::Push> = written
        .iter()
        .map(|job| jobs::Push {
            job_id: job.id,
            task_id: job.id,
            queue: job.queue.to_owned(),
            run_at: Some(due_in_a_second),
        })
        .collect();
    producer(&ctx).push_and_mark(&pushes).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(120)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 10_000);
}

#[tokio::test]
async fn a_pushed_job_is_recorded_by_its_claim_and_a_late_relay_push_runs_nothing_twice() {
    let ctx = TestContext::new().await;
    let mut tx = ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(&mut tx, &vec![Noop::default(); 200])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    producer(&ctx).dispatch(&written).await;
    // The push is not written back: no third write per job.
    let first = record(&ctx, written[0].id).await;
    assert_eq!(
        (first.status, first.dispatched_at, first.dispatches),
        (JobStatus::Queued, None, 0)
    );
    // The rows then wait past the relay's grace (a backlog): the relay pushes
    // them again, which Redis ignores for tasks it holds, and marks them.
    let relayed = jobs::relay_once(&ctx.pool, &producer(&ctx), Duration::ZERO, 1_000, &[])
        .await
        .unwrap()
        .pushed;
    assert_eq!(relayed, 200);
    let redis_tasks: usize = redis::cmd("LLEN")
        .arg(producer(&ctx).queue_config("system").active_jobs_list())
        .query_async(&mut ctx.redis())
        .await
        .unwrap();
    assert_eq!(redis_tasks, 200, "the second push queued nothing twice");

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(30)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 200);
    let done = record(&ctx, written[0].id).await;
    assert_eq!(
        (done.status, done.attempts, done.dispatches),
        (JobStatus::Succeeded, 1, 1)
    );
    assert!(done.dispatched_at.is_some());
}

#[tokio::test]
async fn a_job_the_producer_pushed_is_dispatched_once_by_its_claim() {
    let ctx = TestContext::new().await;
    let mut tx = ctx.pool.begin().await.unwrap();
    let job = jobs::enqueue(&mut tx, &Noop::default()).await.unwrap();
    tx.commit().await.unwrap();
    producer(&ctx).dispatch(std::slice::from_ref(&job)).await;
    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let done = record(&ctx, job.id).await;
    assert_eq!((done.attempts, done.dispatches), (1, 1));
    assert!(done.dispatched_at.is_some() && done.started_at >= done.dispatched_at);
}
