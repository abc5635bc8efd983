//! Shared by the worker tests.
#![allow(dead_code)]

pub mod ledger;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use marquee_core::jobs::{self, Enqueued, Job, JobOptions, JobRecord, JobStatus, Producer};
use marquee_core::testing::TestContext;
use marquee_worker::{JobContext, Registry, handlers};
use uuid::Uuid;

pub fn producer(ctx: &TestContext) -> Producer {
    Producer::new(
        ctx.pool.clone(),
        ctx.redis(),
        ctx.settings.redis.key_prefix.clone(),
    )
}

/// Enqueues in a committed transaction and dispatches, as an API handler does.
pub async fn enqueue_committed<J: Job>(
    ctx: &TestContext,
    job: &J,
    options: JobOptions,
) -> Enqueued {
    let mut tx = ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_with(&mut tx, job, options)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    producer(ctx).dispatch(std::slice::from_ref(&written)).await;
    // The producer's push is not written back (the claim records it). Tests
    // that then age or count dispatches need the row as the relay leaves a
    // job that waited past its grace: pushed (again, harmlessly) and marked.
    // A worker that took the job first marks it when the job ends, which
    // under a loaded test run can take longer than a push.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = record(ctx, written.id).await;
        if row.dispatched_at.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the relay never marked the row: {row:?}"
        );
        jobs::relay_once(&ctx.pool, &producer(ctx), Duration::ZERO, 100, &[])
            .await
            .unwrap();
    }
    written
}

pub async fn record(ctx: &TestContext, id: Uuid) -> JobRecord {
    jobs::find(&ctx.pool, id)
        .await
        .unwrap()
        .expect("job row exists")
}

/// The standard noop handler, counting how often it really ran.
pub fn counting_registry() -> (Registry, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let registry = Registry::default().on(move |job: jobs::Noop, ctx: JobContext| {
        counter.fetch_add(1, Ordering::SeqCst);
        handlers::noop::run(job, ctx)
    });
    (registry, runs)
}

/// Polls the ledger until `predicate` holds for the job.
pub async fn wait_for(
    ctx: &TestContext,
    id: Uuid,
    timeout: Duration,
    predicate: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let deadline = Instant::now() + timeout;
    loop {
        let job = record(ctx, id).await;
        if predicate(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}; job is {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn is_status(status: JobStatus) -> impl Fn(&JobRecord) -> bool {
    move |job| job.status == status
}

/// A real `marquee-worker` process on this test's database and namespace.
pub fn spawn_worker(ctx: &TestContext, name: &str) -> Child {
    spawn_worker_with(ctx, name, "system", &[])
}

/// Like [`spawn_worker`], on `queues` (comma-separated) with extra settings
/// as `MARQUEE__…` variables.
pub fn spawn_worker_with(
    ctx: &TestContext,
    name: &str,
    queues: &str,
    env: &[(&str, String)],
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marquee-worker"));
    command
        .args(["--queues", queues, "--name", name])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(ctx.process_env());
    if std::env::var_os("TEST_LOG").is_none() {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command.spawn().expect("spawn marquee-worker")
}

/// Sends SIGTERM, as an orchestrator does on scale-down.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit, killing it after `timeout`.
pub async fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("process did not exit within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
