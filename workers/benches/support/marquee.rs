//! The Marquee side of the job benches: a fresh database, worker
//! processes from the release build, and waiting for the ledger.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee_core::config::{RedisMode, Settings};
use secrecy::ExposeSecret;
use sqlx::PgPool;

/// Dynamic SQL only because `CREATE DATABASE` takes no bind parameters.
#[allow(clippy::disallowed_methods)]
pub async fn fresh_database(settings: &Settings) -> anyhow::Result<PgPool> {
    let admin = PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query("DROP DATABASE IF EXISTS marquee_bench WITH (FORCE)")
        .execute(&admin)
        .await?;
    sqlx::query("CREATE DATABASE marquee_bench")
        .execute(&admin)
        .await?;
    let pool = marquee_core::db::connect_url(settings.database.url.expose_secret(), 8).await?;
    marquee_core::db::migrate(&pool).await?;
    // For pricing schema changes without a rebuild (e.g. an index dropped).
    if let Ok(sql) = std::env::var("BENCH_AFTER_MIGRATE_SQL") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await?;
    }
    Ok(pool)
}

/// Waits until every enqueued job has finished. Reads the per-minute
/// history counters, which the worker adds to in the statement that records
/// each outcome: a handful of rows. Polling the ledger itself cost the
/// system under test: a `count(*)` every 20 ms scanned the whole table, and
/// even an `EXISTS` over the open-jobs index took ~3 ms a probe once the
/// index had filled with dead entries, a sixth of a core at 50 probes/s.
/// The ledger is counted once at the end, to check. Returns how many
/// times it polled (each a transaction of the caller's).
pub async fn wait_all_done(
    pool: &PgPool,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + timeout;
    let mut polls = 0;
    loop {
        polls += 1;
        let succeeded: i64 = sqlx::query_scalar!(
            r#"SELECT COALESCE(sum(processed - failed), 0)::bigint AS "n!" FROM queue_minutes"#
        )
        .fetch_one(pool)
        .await?;
        if succeeded as usize >= expected {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{succeeded} of {expected} jobs succeeded after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done: i64 =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs WHERE status = 'succeeded'"#)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(
        done as usize == expected,
        "{done} succeeded in the ledger, expected {expected}"
    );
    Ok(polls)
}

/// A worker process on `queues` (comma-separated) with `concurrency`, on
/// the database and Redis (standalone or cluster) of `settings`.
pub fn spawn_worker(settings: &Settings, queues: &str, concurrency: usize) -> Child {
    // Next to this bench's executable (`<target>/release/deps/…`), so a
    // CARGO_TARGET_DIR outside the workspace works too.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("marquee-worker")))
        .expect("the bench runs from <target>/release/deps");
    let mut command = Command::new(bin);
    if let Ok(threads) = std::env::var("BENCH_WORKER_THREADS") {
        command.env("TOKIO_WORKER_THREADS", threads);
    }
    command
        .args([
            "--queues",
            queues,
            "--concurrency",
            &concurrency.to_string(),
        ])
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            settings.database.url.expose_secret(),
        )
        .env("MARQUEE__DATABASE__MAX_CONNECTIONS", "8")
        .env(
            "MARQUEE__WORKER__FETCH_BATCH",
            std::env::var("BENCH_FETCH_BATCH")
                .unwrap_or_else(|_| (concurrency / 2).clamp(50, 500).to_string()),
        )
        .env("MARQUEE__REDIS__KEY_PREFIX", &settings.redis.key_prefix)
        .env("MARQUEE__REDIS__URL", settings.redis.url.expose_secret())
        .env(
            "MARQUEE__REDIS__MODE",
            match settings.redis.mode {
                RedisMode::Standalone => "standalone",
                RedisMode::Cluster => "cluster",
            },
        )
        .env("MARQUEE__LOG__FILTER", "warn")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("target/release/marquee-worker: run `just bench`, which builds it")
}

/// Stops the worker (SIGTERM, then wait) however the bench ends, so a
/// failed run never leaves a worker behind.
pub struct WorkerProcess(pub Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
