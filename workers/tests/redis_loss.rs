//! Redis losing tasks (restart without persistence) loses no job, and
//! finished jobs' data does not pile up in Redis.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::drain;

async fn forget_everything(ctx: &TestContext) {
    let mut redis = ctx.redis();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", ctx.settings.redis.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut redis)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_job_redis_lost_is_pushed_again_and_runs_once() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    forget_everything(&ctx).await; // Redis restarted without persistence
    sqlx::query!("UPDATE jobs SET dispatched_at = now() - interval '1 hour'")
        .execute(&ctx.pool)
        .await
        .unwrap();

    let repushed = jobs::repush_stale(
        &ctx.pool,
        &producer(&ctx),
        Duration::from_secs(60),
        Duration::from_secs(60),
        100,
        &[],
    )
    .await
    .unwrap()
    .pushed;
    assert_eq!(repushed, 1);
    let again = jobs::repush_stale(
        &ctx.pool,
        &producer(&ctx),
        Duration::from_secs(60),
        Duration::from_secs(60),
        100,
        &[],
    )
    .await
    .unwrap()
    .pushed;
    assert_eq!(again, 0, "re-pushed at most once per period");

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(record(&ctx, job.id).await.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn re_pushing_a_task_redis_still_has_does_not_run_it_twice() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    sqlx::query!("UPDATE jobs SET dispatched_at = now() - interval '1 hour'")
        .execute(&ctx.pool)
        .await
        .unwrap();
    let repushed = jobs::repush_stale(
        &ctx.pool,
        &producer(&ctx),
        Duration::from_secs(60),
        Duration::from_secs(60),
        100,
        &[],
    )
    .await
    .unwrap()
    .pushed;
    assert_eq!(repushed, 1);

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(record(&ctx, job.id).await.attempts, 1);
}

#[tokio::test]
async fn finished_jobs_are_pruned_from_redis_but_kept_in_the_ledger() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(
        &ctx,
        &Noop {
            fail_attempts: 1,
            ..Noop::default()
        },
        JobOptions::default(),
    )
    .await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    let config = producer(&ctx).queue_config("system");
    let mut redis = ctx.redis();
    let stored: i64 = redis::cmd("HLEN")
        .arg(config.job_data_hash())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        stored, 2,
        "both attempts' tasks are in Redis before pruning"
    );

    let pruned = jobs::prune_finished(&ctx.pool, &producer(&ctx), Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(pruned.pruned, 1);
    let stored: i64 = redis::cmd("HLEN")
        .arg(config.job_data_hash())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let record = record(&ctx, job.id).await;
    assert_eq!(record.status, JobStatus::Succeeded);
    assert_eq!(
        jobs::prune_finished(&ctx.pool, &producer(&ctx), Duration::ZERO, 100)
            .await
            .unwrap()
            .checked,
        0
    );
}
