//! What a job leaves in Redis. Our apalis-redis (vendor/apalis-redis) keeps
//! no metadata hash for a task that has not failed there: pushes leave it
//! out and a finished task's is deleted. Tasks the release before pushed,
//! with one, still run once.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use marquee_core::jobs::{JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::testing::drain;
use redis::AsyncCommands;

async fn meta_keys(ctx: &TestContext) -> Vec<String> {
    let config = producer(ctx).queue_config("system");
    let mut redis = ctx.redis();
    redis::cmd("KEYS")
        .arg(format!("{}:*", config.job_meta_hash()))
        .query_async(&mut redis)
        .await
        .unwrap()
}

#[tokio::test]
async fn finished_tasks_leave_their_data_and_done_entry_but_no_metadata() {
    let ctx = TestContext::new().await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            enqueue_committed(&ctx, &Noop::default(), JobOptions::default())
                .await
                .id,
        );
    }
    assert_eq!(
        meta_keys(&ctx).await,
        Vec::<String>::new(),
        "a push writes none"
    );

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 20);

    let config = producer(&ctx).queue_config("system");
    let mut redis = ctx.redis();
    let done: i64 = redis.scard(config.done_jobs_set()).await.unwrap();
    let stored: i64 = redis.hlen(config.job_data_hash()).await.unwrap();
    assert_eq!((done, stored), (20, 20), "pruning removes these later");
    assert_eq!(meta_keys(&ctx).await, Vec::<String>::new());
    for id in ids {
        assert_eq!(record(&ctx, id).await.status, JobStatus::Succeeded);
    }
}

/// In a rolling deploy, the API of the release before pushes tasks with a
/// full metadata hash, and apalis wrote a failed delivery's (a claim given
/// back) with its attempt count. Both are read, run once, and deleted.
#[tokio::test]
async fn tasks_pushed_with_metadata_by_the_release_before_run_once() {
    let ctx = TestContext::new().await;
    let fresh = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    let given_back = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    let config = producer(&ctx).queue_config("system");
    let mut redis = ctx.redis();
    let meta = |id: uuid::Uuid| format!("{}:{id}", config.job_meta_hash());
    redis::pipe()
        .hset_multiple(
            meta(fresh.id),
            &[
                ("attempts", "0"),
                ("max_attempts", "25"),
                ("status", "Pending"),
                ("idempotency_key", ""),
            ],
        )
        .hset_multiple(
            meta(given_back.id),
            &[
                ("attempts", "2"),
                ("max_attempts", "25"),
                ("status", "Failed"),
                ("result", "{\"Err\":\"handed back\"}"),
                ("done_at", "1764892800"),
            ],
        )
        .query_async::<()>(&mut redis)
        .await
        .unwrap();

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "each ran once");
    for id in [fresh.id, given_back.id] {
        let job = record(&ctx, id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    }
    assert_eq!(meta_keys(&ctx).await, Vec::<String>::new());
}
