//! `just bench`: does throughput grow with worker processes? A backlog of
//! no-op jobs over three queues is drained by 1, 2 and 4 `marquee-worker`
//! processes on the machine's standalone Redis, then by 4 on a 3-master
//! Redis Cluster started here, with the three queues on three different
//! masters. Also measures what one job costs Redis and PostgreSQL, the
//! inputs of the capacity model in docs/SCALING.md.
//!
//! BENCH_JOBS (default 100000) and BENCH_CONCURRENCY (per worker, default
//! 50) tune it.

use std::time::{Duration, Instant};

use marquee_core::config::{Environment, RedisMode, Settings, config_dir};
use marquee_core::jobs::{self, Noop, Producer, queues};
use marquee_core::redis::queue_namespace;
use marquee_core::testing::{PrivateCluster, delete_keys, redis_7_installed};
use secrecy::SecretString;
use sqlx::PgPool;

// Shared with noop_throughput, which uses all of it.
#[allow(dead_code)]
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/marquee.rs"]
mod marquee;

use marquee::{WorkerProcess, fresh_database, spawn_worker, wait_all_done};

const CHUNK: usize = 1_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env_or("BENCH_JOBS", 100_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 50);
    println!(
        "scaling: {jobs} no-op jobs over 3 queues, drained by N worker processes \
         (concurrency {concurrency} each, release build); {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| Redis | workers | drain jobs/s | vs 1 worker | efficiency | CPU µs/job by process |"
    );
    println!("|---|---|---|---|---|---|");
    let mut base = None;
    let mut costs = Vec::new();
    for workers in [1, 2, 4] {
        let run = drain(&standalone()?, None, jobs, workers, concurrency).await?;
        let one = *base.get_or_insert(run.rate);
        report("standalone", workers, &run, one);
        costs.push(run);
    }
    if redis_7_installed() {
        let cluster = tokio::task::spawn_blocking(|| PrivateCluster::start(3, 0)).await?;
        let settings = on_cluster(&cluster)?;
        let run = drain(&settings, Some(&cluster), jobs, 4, concurrency).await?;
        report("cluster, 3 masters", 4, &run, base.unwrap_or(run.rate));
        costs.push(run);
    } else {
        println!("(no Redis 7: the cluster run is skipped)");
    }
    for run in &costs {
        println!(
            "per job, {} worker(s) on {}: enqueue: Redis CPU {:.1} µs, PostgreSQL CPU {:.0} µs; \
             run: Redis CPU {:.1} µs, PostgreSQL {:.3} transactions and {:.0} µs CPU, worker {:.0} µs CPU",
            run.workers,
            run.redis,
            run.enqueue_redis_us,
            run.enqueue_pg_us,
            run.redis_us,
            run.pg_tx,
            run.pg_us,
            run.worker_us
        );
    }
    match pgbench() {
        Some((tps, us)) => println!(
            "pgbench (TPC-B-like, scale 10, 8 clients, 15 s) on the same PostgreSQL: {tps:.0} TPS, \
             {us:.0} µs of PostgreSQL CPU a transaction"
        ),
        None => println!("(pgbench not found: no PostgreSQL calibration)"),
    }
    println!(
        "drain: the backlog is enqueued with no worker running; then N workers start and the clock runs until the ledger has every job succeeded"
    );
    Ok(())
}

fn standalone() -> anyhow::Result<Settings> {
    let mut settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    settings.database.url =
        SecretString::from("postgres://postgres@127.0.0.1:5432/marquee_bench".to_owned());
    settings.redis.key_prefix = format!("bench:{}", std::process::id());
    Ok(settings)
}

fn on_cluster(cluster: &PrivateCluster) -> anyhow::Result<Settings> {
    let mut settings = standalone()?;
    settings.redis.mode = RedisMode::Cluster;
    settings.redis.urls = cluster.urls().into_iter().map(SecretString::from).collect();
    settings.redis.url = settings.redis.urls[0].clone();
    Ok(settings)
}

/// Three queues, on three different masters when there is a cluster.
fn spread(settings: &Settings, cluster: Option<&PrivateCluster>) -> Vec<&'static str> {
    let Some(cluster) = cluster else {
        return vec![queues::EMAIL, queues::OTP, queues::SYSTEM];
    };
    let mut seen = Vec::new();
    let mut chosen = Vec::new();
    for queue in queues::ALL {
        let key = format!(
            "{}:active",
            queue_namespace(&settings.redis.key_prefix, queue)
        );
        let master = cluster.master_of(&key);
        if !seen.contains(&master) {
            seen.push(master);
            chosen.push(queue);
        }
    }
    chosen
}

struct Drained {
    enqueue_redis_us: f64,
    enqueue_pg_us: f64,
    redis: &'static str,
    workers: usize,
    rate: f64,
    cpu: String,
    redis_us: f64,
    pg_us: f64,
    worker_us: f64,
    pg_tx: f64,
}

fn report(redis: &str, workers: usize, run: &Drained, one: f64) {
    let speedup = run.rate / one;
    println!(
        "| {redis} | {workers} | {:.0} | {speedup:.2}x | {:.0}% | {} |",
        run.rate,
        100.0 * speedup / workers as f64,
        run.cpu
    );
}

async fn drain(
    settings: &Settings,
    cluster: Option<&PrivateCluster>,
    jobs: usize,
    workers: usize,
    concurrency: usize,
) -> anyhow::Result<Drained> {
    let pool = fresh_database(settings).await?;
    let mut redis = marquee_core::redis::connect(&settings.redis)?;
    let producer = Producer::new(
        pool.clone(),
        redis.clone(),
        settings.redis.key_prefix.clone(),
    );
    let queues = spread(settings, cluster);
    let before = cpu::snapshot();
    enqueue(&pool, &producer, &queues, jobs).await?;
    let enqueued = cpu::per_job_by_name(&before, &cpu::snapshot(), jobs);

    let transactions = committed(&pool).await?;
    let before = cpu::snapshot();
    let started = Instant::now();
    let running: Vec<WorkerProcess> = (0..workers)
        .map(|_| WorkerProcess(spawn_worker(settings, &queues.join(","), concurrency)))
        .collect();
    let polls = wait_all_done(&pool, jobs, Duration::from_secs(600)).await?;
    let took = started.elapsed();
    let used = cpu::per_job_by_name(&before, &cpu::snapshot(), jobs);
    // Stopped workers' backends flush their statistics as they exit.
    drop(running);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Each poll of the ledger is a transaction of the bench's own, and so
    // are the final count and the two readings.
    let pg_tx = (committed(&pool).await? - transactions - polls as i64 - 3) as f64 / jobs as f64;
    pool.close().await;
    delete_keys(&mut redis, &settings.redis.key_prefix).await?;
    let of = |name: &str| used.get(name).copied().unwrap_or(0.0);
    Ok(Drained {
        enqueue_redis_us: enqueued.get("redis-server").copied().unwrap_or(0.0),
        enqueue_pg_us: enqueued.get("postgres").copied().unwrap_or(0.0),
        redis: if cluster.is_some() {
            "cluster"
        } else {
            "standalone"
        },
        workers,
        rate: jobs as f64 / took.as_secs_f64(),
        cpu: cpu::format_per_job(&used.iter().map(|(k, v)| (k.as_str(), *v)).collect()),
        redis_us: of("redis-server"),
        pg_us: of("postgres"),
        worker_us: of("marquee-worker"),
        pg_tx,
    })
}

/// pgbench's TPC-B-like run against a scratch database: its TPS and the
/// PostgreSQL CPU per transaction, to express a job's cost in the unit
/// people size PostgreSQL by.
fn pgbench() -> Option<(f64, f64)> {
    let init = |args: &[&str]| {
        std::process::Command::new("pgbench")
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc", sql])
            .output()
            .ok()
    };
    psql("DROP DATABASE IF EXISTS marquee_pgbench");
    psql("CREATE DATABASE marquee_pgbench")?;
    init(&["-i", "-q", "-s", "10", "marquee_pgbench"])?;
    let pgbench = std::process::Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-U", "postgres"])
        .args(["-c", "8", "-j", "2", "-T", "15", "-n", "marquee_pgbench"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // CPU is read while pgbench's backends live: an exited process takes
    // its CPU time out of /proc.
    std::thread::sleep(Duration::from_secs(3));
    let before = cpu::snapshot();
    std::thread::sleep(Duration::from_secs(10));
    let after = cpu::snapshot();
    let output = pgbench.wait_with_output().ok()?;
    psql("DROP DATABASE IF EXISTS marquee_pgbench");
    let text = String::from_utf8_lossy(&output.stdout);
    let tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps ="))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()?;
    let used = cpu::per_job_by_name(&before, &after, (tps * 10.0) as usize);
    Some((tps, used.get("postgres").copied().unwrap_or(0.0)))
}

/// Transactions committed in the bench database so far.
async fn committed(pool: &PgPool) -> anyhow::Result<i64> {
    // The statistics are flushed at the end of each transaction of a
    // backend, and read from a snapshot: clear it so this reads them now.
    sqlx::query!("SELECT pg_stat_clear_snapshot()")
        .execute(pool)
        .await?;
    let n = sqlx::query_scalar!(
        r#"SELECT xact_commit AS "n!" FROM pg_stat_database WHERE datname = current_database()"#
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// `total` no-op jobs, a third on each queue, committed and pushed.
async fn enqueue(
    pool: &PgPool,
    producer: &Producer,
    queues: &[&'static str],
    total: usize,
) -> anyhow::Result<()> {
    let batch = vec![Noop::default(); CHUNK];
    for (n, start) in (0..total).step_by(CHUNK).enumerate() {
        let queue = queues[n % queues.len()];
        let mut tx = pool.begin().await?;
        let mut written = jobs::enqueue_many(&mut tx, &batch[..CHUNK.min(total - start)]).await?;
        let ids: Vec<uuid::Uuid> = written.iter().map(|job| job.id).collect();
        // A noop is the system queue's; the worker runs it from any queue.
        sqlx::query!("UPDATE jobs SET queue = $1 WHERE id = ANY($2)", queue, &ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for job in &mut written {
            job.queue = queue;
        }
        producer.dispatch(&written).await;
    }
    Ok(())
}
