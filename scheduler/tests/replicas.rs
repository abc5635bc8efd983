//! Two scheduler processes: every tick and every relayed row is dispatched
//! exactly once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use marquee_core::jobs::{self, Noop};
use marquee_core::testing::TestContext;
use secrecy::ExposeSecret;

/// How many ledger rows were dispatched how many times.
#[derive(Debug, PartialEq)]
struct Dispatched {
    dispatches: i32,
    rows: i64,
}

fn spawn_scheduler(ctx: &TestContext) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marquee-scheduler"));
    command
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            ctx.settings.database.url.expose_secret(),
        )
        .env("MARQUEE__REDIS__KEY_PREFIX", &ctx.settings.redis.key_prefix)
        .env("MARQUEE__SCHEDULER__HEARTBEAT_CRON", "* * * * * *")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        );
    if std::env::var_os("TEST_LOG").is_none() {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command.spawn().expect("spawn marquee-scheduler")
}

#[tokio::test]
async fn two_schedulers_enqueue_each_tick_once_and_relay_each_row_once() {
    let ctx = TestContext::new().await;
    // 300 rows whose producer "died" before pushing them.
    let mut tx = ctx.pool.begin().await.unwrap();
    for _ in 0..300 {
        jobs::enqueue(&mut tx, &Noop::default()).await.unwrap();
    }
    sqlx::query!("UPDATE jobs SET updated_at = now() - interval '1 minute'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut replicas = [spawn_scheduler(&ctx), spawn_scheduler(&ctx)];
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    for replica in &mut replicas {
        replica.kill().ok();
        replica.wait().ok();
    }

    let relayed = sqlx::query_as!(
        Dispatched,
        r#"SELECT dispatches, count(*) AS "rows!" FROM jobs WHERE dedupe_key IS NULL
         GROUP BY dispatches"#,
    )
    .fetch_all(&ctx.pool)
    .await
    .unwrap();
    assert_eq!(
        relayed,
        vec![Dispatched {
            dispatches: 1,
            rows: 300
        }],
        "every stuck row pushed exactly once"
    );

    let ticks = sqlx::query!(
        r#"SELECT id, dedupe_key AS "dedupe_key!", dispatches FROM jobs
         WHERE dedupe_key LIKE 'cron:heartbeat:%' ORDER BY dedupe_key"#,
    )
    .fetch_all(&ctx.pool)
    .await
    .unwrap();
    assert!(
        ticks.len() >= 3,
        "a tick per second for 4.5 s, got {ticks:?}"
    );
    let seconds: Vec<u64> = ticks
        .iter()
        .map(|tick| {
            tick.dedupe_key
                .strip_prefix("cron:heartbeat:")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        seconds.windows(2).all(|w| w[1] == w[0] + 1),
        "one job per tick, no gaps: {seconds:?}"
    );
    // A tick's push is recorded by the claim of the worker that runs it, or
    // by the relay once the job has waited past its grace (no worker runs
    // here): never twice. Redis holds each task once.
    assert!(
        ticks.iter().all(|tick| tick.dispatches <= 1),
        "each tick pushed once: {ticks:?}"
    );
    let producer = jobs::Producer::new(
        ctx.pool.clone(),
        ctx.redis(),
        ctx.settings.redis.key_prefix.clone(),
    );
    let queued: Vec<String> = redis::cmd("LRANGE")
        .arg(producer.queue_config("system").active_jobs_list())
        .arg(0)
        .arg(-1)
        .query_async(&mut ctx.redis())
        .await
        .unwrap();
    for tick in &ticks {
        let id = tick.id.to_string();
        assert_eq!(
            queued.iter().filter(|task| **task == id).count(),
            1,
            "{} is queued in Redis once",
            tick.dedupe_key
        );
    }
    // Other schedules (housekeeping at :00 and :30) may have queued jobs too;
    // none of anything is queued twice.
    let distinct: std::collections::HashSet<&String> = queued.iter().collect();
    assert_eq!(distinct.len(), queued.len(), "nothing queued twice");
    assert!(queued.len() >= 300 + ticks.len());
}

#[tokio::test]
async fn enqueue_for_tick_refuses_a_second_job_for_the_same_tick() {
    let ctx = TestContext::new().await;
    let producer = jobs::Producer::new(
        ctx.pool.clone(),
        ctx.redis(),
        ctx.settings.redis.key_prefix.clone(),
    );
    let first =
        marquee_scheduler::enqueue_for_tick(&ctx.pool, &producer, "t", 42, &Noop::default())
            .await
            .unwrap();
    let second =
        marquee_scheduler::enqueue_for_tick(&ctx.pool, &producer, "t", 42, &Noop::default())
            .await
            .unwrap();
    let next = marquee_scheduler::enqueue_for_tick(&ctx.pool, &producer, "t", 43, &Noop::default())
        .await
        .unwrap();
    assert_eq!((first, second, next), (true, false, true));
}
