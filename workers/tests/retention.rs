//! Storage stays bounded: after 100,000 jobs and the housekeeping pass,
//! Redis holds about what it held before, and ledger rows past their
//! retention are gone (a task keeps its outcome when its job row goes).

mod common;

use std::time::Duration;

use common::producer;
use marquee_core::jobs::{self, Noop, PruneQueues};
use marquee_core::testing::{PrivateRedis, TestContext};
use marquee_worker::Registry;
use marquee_worker::testing::{InProcessWorker, wait_until_drained};
use secrecy::SecretString;

async fn enqueue(ctx: &TestContext, jobs: &[Noop]) {
    let producer = producer(ctx);
    for chunk in jobs.chunks(10_000) {
        let mut tx = ctx.pool.begin().await.unwrap();
        let written = jobs::enqueue_many(&mut tx, chunk).await.unwrap();
        tx.commit().await.unwrap();
        for pushed in written.chunks(1_000) {
            producer.dispatch(pushed).await;
        }
    }
}

/// `SELECT count(*) AS "n!" ...` checked at build time.
macro_rules! count {
    ($ctx:expr, $sql:literal) => {
        sqlx::query_scalar!($sql)
            .fetch_one(&$ctx.pool)
            .await
            .unwrap()
    };
}

#[tokio::test]
async fn after_a_hundred_thousand_jobs_and_housekeeping_redis_is_back_where_it_started() {
    let redis = PrivateRedis::start();
    let mut ctx = TestContext::new().await;
    ctx.settings.redis.url = SecretString::from(redis.url());
    ctx.settings.jobs.prune_after_seconds = 1;
    ctx.settings.worker.queues = vec!["system".to_owned()];
    ctx.settings.worker.concurrency = 200;
    ctx.settings.worker.fetch_batch = 200;
    let worker = InProcessWorker::start(&ctx, Registry::standard());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = redis.used_memory();

    enqueue(&ctx, &vec![Noop::default(); 100_000]).await;
    wait_until_drained(&ctx, Duration::from_secs(300)).await;
    let loaded = redis.used_memory();
    assert!(
        loaded > before + 10_000_000,
        "100,000 finished jobs' data sit in Redis: {before} -> {loaded}"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let prune = common::enqueue_committed(&ctx, &PruneQueues {}, Default::default()).await;
    wait_until_drained(&ctx, Duration::from_secs(120)).await;
    worker.stop().await.unwrap();
    let unpruned = count!(
        ctx,
        r#"SELECT count(*) AS "n!" FROM jobs WHERE pruned_at IS NULL AND status = 'succeeded'"#
    );
    assert!(
        unpruned <= 1,
        "only the prune job itself may wait: {unpruned}"
    );
    let after = redis.used_memory();
    eprintln!(
        "redis used_memory: {before} before, {loaded} with 100,000 finished jobs, {after} after housekeeping"
    );
    assert!(
        after - before < 3_000_000,
        "Redis used_memory {before} before, {loaded} loaded, {after} after housekeeping"
    );
    assert_eq!(
        common::record(&ctx, prune.id).await.status,
        jobs::JobStatus::Succeeded
    );
}

#[tokio::test]
async fn rows_past_their_retention_go_and_tasks_keep_their_outcome() {
    let mut ctx = TestContext::new().await;
    ctx.settings.jobs.max_dead_jobs = 3;
    ctx.settings.worker.queues = vec!["system".to_owned()];
    let ok = vec![Noop::default(); 20];
    let bad = vec![
        Noop {
            permanent: true,
            ..Noop::default()
        };
        6
    ];
    enqueue(&ctx, &[ok, bad].concat()).await;
    let worker = InProcessWorker::start(&ctx, Registry::standard());
    wait_until_drained(&ctx, Duration::from_secs(30)).await;
    // Half the succeeded jobs finished (and were pruned) eight days ago; one
    // of them is a task an application follows. Two dead ones died 91 days ago.
    sqlx::query!(
        "WITH old AS (SELECT id FROM jobs WHERE status = 'succeeded' ORDER BY id LIMIT 10)
         UPDATE jobs SET finished_at = now() - interval '8 days', pruned_at = now() - interval '8 days'
         WHERE id IN (SELECT id FROM old)",
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    sqlx::query!(
        "WITH old AS (SELECT id FROM jobs WHERE status = 'dead' ORDER BY id LIMIT 2)
         UPDATE jobs SET finished_at = now() - interval '91 days', pruned_at = now() - interval '91 days'
         WHERE id IN (SELECT id FROM old)",
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    sqlx::query!("UPDATE jobs SET pruned_at = now() WHERE pruned_at IS NULL AND status = 'dead'")
        .execute(&ctx.pool)
        .await
        .unwrap();
    let owner = uuid::Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'app@example.com', 'App', 'x')",
        owner
    )
        .execute(&ctx.pool)
        .await
        .unwrap();
    sqlx::query!(
        "INSERT INTO tasks (id, owner_id, type, payload)
         SELECT id, $1, 'message', '{}' FROM jobs WHERE finished_at < now() - interval '7 days' AND status = 'succeeded' LIMIT 1",
        owner
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    let task = sqlx::query_scalar!("SELECT id FROM tasks")
        .fetch_one(&ctx.pool)
        .await
        .unwrap();

    common::enqueue_committed(&ctx, &PruneQueues {}, Default::default()).await;
    wait_until_drained(&ctx, Duration::from_secs(30)).await;
    worker.stop().await.unwrap();

    assert_eq!(
        count!(
            ctx,
            r#"SELECT count(*) AS "n!" FROM jobs WHERE finished_at < now() - interval '7 days'"#
        ),
        0
    );
    // 10 recent succeeded noops and the prune job stay; of 6 dead, the two
    // past 90 days went, and the cap of 3 took the oldest of the rest.
    assert_eq!(
        count!(
            ctx,
            r#"SELECT count(*) AS "n!" FROM jobs WHERE status = 'succeeded'"#
        ),
        11
    );
    assert_eq!(
        count!(
            ctx,
            r#"SELECT count(*) AS "n!" FROM jobs WHERE status = 'dead'"#
        ),
        3
    );
    let kept = marquee_core::tasks::find(&ctx.pool, owner, task)
        .await
        .unwrap()
        .expect("the task is still there");
    assert_eq!((kept.status.as_str(), kept.attempts), ("succeeded", 1));
    assert!(kept.finished_at.is_some());
}

/// A job for the `email` queue, which this test's worker does not serve:
/// its tasks stay queued in Redis.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Parked {}

impl jobs::Job for Parked {
    const KIND: &'static str = "parked";
    const QUEUE: &'static str = "email";
}

#[tokio::test]
async fn cancelled_jobs_still_queued_do_not_hold_up_housekeeping_of_the_rest() {
    let mut ctx = TestContext::new().await;
    ctx.settings.jobs.prune_after_seconds = 0;
    ctx.settings.worker.queues = vec!["system".to_owned()];
    // 1,500 jobs cancelled while their tasks wait in a queue nobody serves;
    // they finished first, so housekeeping meets them first.
    let mut tx = ctx.pool.begin().await.unwrap();
    let parked = jobs::enqueue_many(&mut tx, &vec![Parked::default(); 1_500])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    producer(&ctx).dispatch(&parked).await;
    let ids: Vec<uuid::Uuid> = parked.iter().map(|j| j.id).collect();
    let cancelled = marquee_core::ops::actions::apply(
        &ctx.pool,
        &producer(&ctx),
        marquee_core::ops::actions::Action::Cancel,
        &ids,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.len(), 1_500);

    enqueue(&ctx, &vec![Noop::default(); 2_000]).await;
    let worker = InProcessWorker::start(&ctx, Registry::standard());
    wait_until_drained(&ctx, Duration::from_secs(60)).await;
    common::enqueue_committed(&ctx, &PruneQueues {}, Default::default()).await;
    wait_until_drained(&ctx, Duration::from_secs(60)).await;
    worker.stop().await.unwrap();

    assert_eq!(
        count!(
            ctx,
            r#"SELECT count(*) AS "n!" FROM jobs WHERE kind = 'noop' AND pruned_at IS NULL"#
        ),
        0,
        "every finished noop is pruned in one pass"
    );
    assert_eq!(
        count!(
            ctx,
            r#"SELECT count(*) AS "n!" FROM jobs WHERE kind = 'parked' AND pruned_at IS NULL"#
        ),
        1_500,
        "the queued ones wait for delivery"
    );
}
