//! What a job leaves in Redis. Our apalis-redis (vendor/apalis-redis) reads
//! a task without a metadata hash as a fresh one and deletes a finished
//! task's hash. `redis.task_metadata = "lean"` (the default) leaves the hash
//! out; `"full"` still writes it, for workers of releases before the vendored
//! crate. Tasks pushed either way, or with a hash apalis rewrote after a
//! failed delivery, run once.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use marquee_core::config::TaskMetadata;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::testing::drain;
use redis::AsyncCommands;
use uuid::Uuid;

async fn meta_keys(ctx: &TestContext) -> Vec<String> {
    let config = producer(ctx).queue_config("system");
    let mut redis = ctx.redis();
    redis::cmd("KEYS")
        .arg(format!("{}:*", config.job_meta_hash()))
        .query_async(&mut redis)
        .await
        .unwrap()
}

async fn enqueue(ctx: &TestContext, n: usize, metadata: TaskMetadata) -> Vec<Uuid> {
    let mut written = Vec::new();
    let mut tx = ctx.pool.begin().await.unwrap();
    for _ in 0..n {
        let job = jobs::enqueue_with(&mut tx, &Noop::default(), JobOptions::default()).await;
        written.push(job.unwrap().unwrap());
    }
    tx.commit().await.unwrap();
    let producer = producer(ctx).with_task_metadata(metadata);
    producer.dispatch(&written).await;
    written.iter().map(|job| job.id).collect()
}

async fn drain_counting(ctx: &TestContext) -> usize {
    let (registry, runs) = counting_registry();
    drain(ctx, registry, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    runs.load(Ordering::SeqCst)
}

#[tokio::test]
async fn lean_pushes_write_no_metadata_and_finished_tasks_keep_none() {
    let ctx = TestContext::new().await;
    let ids = enqueue(&ctx, 20, TaskMetadata::Lean).await;
    assert_eq!(
        meta_keys(&ctx).await,
        Vec::<String>::new(),
        "a lean push writes none"
    );

    assert_eq!(drain_counting(&ctx).await, 20);
    let config = producer(&ctx).queue_config("system");
    let mut redis = ctx.redis();
    let done: i64 = redis.scard(config.done_jobs_set()).await.unwrap();
    let stored: i64 = redis.hlen(config.job_data_hash()).await.unwrap();
    assert_eq!((done, stored), (20, 20), "pruning removes these later");
    assert_eq!(meta_keys(&ctx).await, Vec::<String>::new());
    for id in ids {
        let job = record(&ctx, id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    }
}

/// The default writes what a worker of the release before needs to read a
/// task (it fails its whole fetch without `attempts`, `max_attempts` and
/// `status`), so a rolling deploy can run both.
#[tokio::test]
async fn full_pushes_write_the_metadata_older_workers_need_and_finishing_deletes_it() {
    let ctx = TestContext::new().await;
    let ids = enqueue(&ctx, 3, TaskMetadata::Full).await;
    let config = producer(&ctx).queue_config("system");
    let mut redis = ctx.redis();
    for id in &ids {
        let meta: std::collections::HashMap<String, String> = redis
            .hgetall(format!("{}:{id}", config.job_meta_hash()))
            .await
            .unwrap();
        assert_eq!(meta.get("attempts").map(String::as_str), Some("0"));
        assert_eq!(meta.get("max_attempts").map(String::as_str), Some("25"));
        assert_eq!(meta.get("status").map(String::as_str), Some("Pending"));
    }

    assert_eq!(drain_counting(&ctx).await, 3);
    assert_eq!(meta_keys(&ctx).await, Vec::<String>::new());
}

/// A lean task whose delivery failed (a claim given back) or that apalis
/// handed back on a stop has a partial hash: apalis's rewrite of the
/// failure, or only a status. Both are read, run once, and deleted.
#[tokio::test]
async fn lean_tasks_with_a_partial_hash_run_once() {
    let ctx = TestContext::new().await;
    let ids = enqueue(&ctx, 2, TaskMetadata::Lean).await;
    let config = producer(&ctx).queue_config("system");
    let meta = |id: Uuid| format!("{}:{id}", config.job_meta_hash());
    let mut redis = ctx.redis();
    redis::pipe()
        .hset_multiple(
            meta(ids[0]),
            &[
                ("attempts", "2"),
                ("status", "Failed"),
                ("result", "{\"Err\":\"handed back\"}"),
                ("done_at", "1764892800"),
            ],
        )
        .hset(meta(ids[1]), "status", "Pending")
        .query_async::<()>(&mut redis)
        .await
        .unwrap();

    assert_eq!(drain_counting(&ctx).await, 2, "each ran once");
    for id in ids {
        let job = record(&ctx, id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    }
    assert_eq!(meta_keys(&ctx).await, Vec::<String>::new());
}
