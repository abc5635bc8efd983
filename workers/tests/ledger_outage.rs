//! A PostgreSQL outage longer than apalis-redis's own retries (25 tries,
//! about 5 minutes) strands no job: the worker retries its ledger writes
//! itself, and a task apalis parked dead is requeued by the relay's re-push.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::testing::drain;

/// Real PostgreSQL failures, counted: the next 100 claim (a run) or outcome
/// writes of the ledger raise an error. A sequence counts them, because `nextval`
/// survives the rollback of the failing statement.
const FAIL_NEXT_100_LEDGER_WRITES: &str = "
CREATE SEQUENCE ledger_faults;
CREATE FUNCTION ledger_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('ledger_faults') <= 100 THEN
        RAISE EXCEPTION 'injected ledger failure';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_fault BEFORE UPDATE ON jobs FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status
          AND NEW.status IN ('succeeded', 'retrying', 'dead'))
    EXECUTE FUNCTION ledger_fault();
CREATE TRIGGER claim_fault BEFORE INSERT ON job_runs FOR EACH ROW
    EXECUTE FUNCTION ledger_fault();";

/// Installs [`FAIL_NEXT_100_LEDGER_WRITES`]. Several DDL statements in one
/// go, which only the simple protocol runs; the checked macros prepare a
/// single statement each.
#[allow(clippy::disallowed_methods)]
async fn inject_ledger_faults(ctx: &TestContext) {
    sqlx::raw_sql(FAIL_NEXT_100_LEDGER_WRITES)
        .execute(&ctx.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ledger_failing_more_often_than_apalis_retries_strands_no_job() {
    let mut ctx = TestContext::new().await;
    // The count matters, not the wall time: retry the writes quickly.
    ctx.settings.worker.ledger_retry_first_ms = 1;
    ctx.settings.worker.ledger_retry_max_ms = 10;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            enqueue_committed(&ctx, &Noop::default(), JobOptions::default())
                .await
                .id,
        );
    }
    inject_ledger_faults(&ctx).await;

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(60)).await;

    // The sequence exists only at run time, so the checked query reads it
    // through the catalog (null until the first `nextval`).
    let failed = sqlx::query_scalar!(
        r#"SELECT last_value AS "last_value!" FROM pg_sequences
         WHERE schemaname = current_schema() AND sequencename = 'ledger_faults'"#
    )
    .fetch_one(&ctx.pool)
    .await
    .unwrap();
    assert!(
        failed > 100,
        "all 100 injected failures were hit, got {failed}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3, "every job ran once");
    for id in ids {
        let job = record(&ctx, id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    }
    let config = producer(&ctx).queue_config("system");
    let dead: i64 = redis::cmd("SCARD")
        .arg(config.dead_jobs_set())
        .query_async(&mut ctx.redis())
        .await
        .unwrap();
    assert_eq!(dead, 0, "apalis never saw a failure");
}

#[tokio::test]
async fn a_task_apalis_parked_dead_is_requeued_by_the_relay_and_runs_once() {
    let ctx = TestContext::new().await;
    let job = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    // What apalis-redis leaves after a task's 25th failure: the id moved from
    // the queue to the dead set, its data still stored.
    let config = producer(&ctx).queue_config("system");
    let task = job.id.to_string();
    let mut redis = ctx.redis();
    redis::pipe()
        .lrem(config.active_jobs_list(), 0, &task)
        .sadd(config.dead_jobs_set(), &task)
        .hset_multiple(
            format!("{}:{task}", config.job_meta_hash()),
            &[("status", "Failed"), ("attempts", "25")],
        )
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    let stored: bool = redis::cmd("HEXISTS")
        .arg(config.job_data_hash())
        .arg(&task)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(stored, "apalis keeps a dead task's data");
    // The ledger still waits for it; long enough for the relay to re-push.
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
    let dead: bool = redis::cmd("SISMEMBER")
        .arg(config.dead_jobs_set())
        .arg(&task)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!dead, "the re-push took it out of the dead set");

    let (registry, runs) = counting_registry();
    drain(&ctx, registry, Duration::from_secs(20)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let done = record(&ctx, job.id).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
}
