//! `just bench`: no-op job throughput, enqueue -> succeeded, through the
//! real path (PostgreSQL outbox -> Redis -> one `marquee-worker` process ->
//! ledger). Prints a table and the figures for docs/BENCHMARKS.md.
//!
//! Then runs the peers (BullMQ, graphile-worker; `benches/peers/`) with the
//! same job count and concurrency and prints our ratios to them, and the
//! CPU each process spent per job while draining (see `support/cpu.rs`).
//!
//! Each concurrency runs BENCH_ROUNDS rounds (default 3), alternating
//! Marquee and the peers, and reports the median of each figure.
//! BENCH_JOBS (default 20000) and BENCH_CONCURRENCY (default "50,500") tune
//! it; BENCH_FETCH_BATCH overrides the worker's `fetch_batch` (default
//! concurrency / 2, within 50..=500). BENCH_AFTER_MIGRATE_SQL runs on the
//! fresh database after the migrations, to price a schema change (say, an
//! index dropped) without a rebuild. BENCH_WORKER_THREADS sets the
//! worker's tokio threads (`TOKIO_WORKER_THREADS`) and no other process's.

use std::time::{Duration, Instant};

use marquee_core::config::{Environment, Settings, TaskMetadata, config_dir};
use marquee_core::jobs::{self, Noop, Producer};
use marquee_core::testing::delete_prefix;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

const CHUNK: usize = 1_000;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/marquee.rs"]
mod marquee;
#[path = "support/peers.rs"]
mod peers;

use marquee::{WorkerProcess, fresh_database, spawn_worker, wait_all_done};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs_total: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let concurrencies: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "50,500".to_owned())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let peers = peers::ready();
    // As the bench and its worker load it (config files, MARQUEE__* overrides).
    let metadata = match Settings::load_from(&config_dir()?, Environment::Test)?
        .redis
        .task_metadata
    {
        TaskMetadata::Full => "full",
        TaskMetadata::Lean => "lean",
    };
    println!(
        "no-op jobs: {jobs_total} per phase, one worker process (release build); peers with the same jobs and concurrency; \
         median of {rounds} alternated rounds; task metadata {metadata} (redis.task_metadata)"
    );
    println!("| queue | concurrency | enqueue jobs/s | drain backlog jobs/s | end to end jobs/s |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for concurrency in concurrencies {
        // Rounds alternate Marquee and each peer, and each figure is the
        // median of its rounds: this shared machine swings by a tenth
        // between runs minutes apart, on both sides.
        let mut ours = Vec::new();
        let mut theirs: Vec<Vec<peers::PeerRun>> =
            peers::PEERS.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            ours.push(run(jobs_total, concurrency).await?);
            for (at, name) in peers.iter().flat_map(|_| peers::PEERS.iter().enumerate()) {
                theirs[at].extend(peers::run(name, jobs_total, concurrency));
            }
        }
        let rate = |phase: &Phase| jobs_total as f64 / phase.took.as_secs_f64();
        let ours_e2e: Vec<f64> = ours.iter().map(|r| rate(&r.end_to_end)).collect();
        let typical = &ours[median_at(&ours_e2e)];
        let figures = (
            median(ours.iter().map(|r| rate(&r.enqueue))),
            median(ours.iter().map(|r| rate(&r.drain))),
            median(ours_e2e.iter().copied()),
        );
        println!(
            "| Marquee | {concurrency} | {:.0} | {:.0} | {:.0} |",
            figures.0, figures.1, figures.2
        );
        let mut cpu_lines = vec![format!("Marquee {}", typical.drain.cpu)];
        let mut spread = vec![format!("Marquee end to end {}", listed(&ours_e2e))];
        for runs in theirs.iter().filter(|runs| !runs.is_empty()) {
            let drains: Vec<f64> = runs.iter().map(|p| p.drain_per_s).collect();
            let peer = &runs[median_at(&drains)];
            let (enqueue, drain, end_to_end) = (
                median(runs.iter().map(|p| p.enqueue_per_s)),
                median(drains.iter().copied()),
                median(runs.iter().map(|p| p.end_to_end_per_s)),
            );
            println!(
                "| {} {} | {concurrency} | {enqueue:.0} | {drain:.0} | {end_to_end:.0} |",
                peer.peer, peer.version
            );
            spread.push(format!("{} drain {}", peer.peer, listed(&drains)));
            if !peer.drain_cpu_us_per_job.is_empty() {
                let used = peer
                    .drain_cpu_us_per_job
                    .iter()
                    .map(|(name, us)| (name.as_str(), *us))
                    .collect();
                cpu_lines.push(format!("{} {}", peer.peer, cpu::format_per_job(&used)));
            }
            ratios.push(format!(
                "c={concurrency}: Marquee end to end / {} processed (drain) = {:.2}x; \
                 end to end / end to end = {:.2}x; enqueue / enqueue = {:.2}x",
                peer.peer,
                figures.2 / drain,
                figures.2 / end_to_end,
                figures.0 / enqueue,
            ));
        }
        ratios.push(format!(
            "c={concurrency}: jobs/s of each round: {}",
            spread.join("; ")
        ));
        ratios.push(format!(
            "c={concurrency}: CPU per job while draining (median round), µs by process: {}",
            cpu_lines.join("; ")
        ));
        ratios.push(format!(
            "c={concurrency}: Marquee CPU per job (median round), µs by process: enqueue {}; end to end {}",
            typical.enqueue.cpu, typical.end_to_end.cpu
        ));
    }
    for line in ratios {
        println!("{line}");
    }
    println!(
        "enqueue: outbox insert ({CHUNK} rows/tx) + commit + Redis push, worker stopped (peers: bulk add in {CHUNK}s)"
    );
    println!("drain: worker started on that backlog, until every row is succeeded in the ledger");
    println!(
        "CPU per job: user + system time of each process name (/proc) over a phase, divided by the jobs (noop_throughput: this bench, the enqueuer)"
    );
    println!("end to end: worker running while the same number is enqueued, until all succeeded");
    Ok(())
}

/// The median of `values` (the upper one of an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Where the median of `values` is.
fn median_at(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order[values.len() / 2]
}

/// `a / b / c`, whole jobs/s.
fn listed(values: &[f64]) -> String {
    let rounded: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    rounded.join(" / ")
}

/// One configuration's phases.
struct Run {
    enqueue: Phase,
    drain: Phase,
    end_to_end: Phase,
}

/// How long a phase took, and its CPU per job by process (see
/// `support/cpu.rs`).
struct Phase {
    took: Duration,
    cpu: String,
}

/// Runs `work` as one phase of `jobs` jobs.
async fn phase<T>(
    jobs: usize,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Phase)> {
    let started = Instant::now();
    let before = cpu::snapshot();
    let done = work.await?;
    let took = started.elapsed();
    let cpu = cpu::per_job(&before, &cpu::snapshot(), jobs);
    Ok((done, Phase { took, cpu }))
}

async fn run(jobs_total: usize, concurrency: usize) -> anyhow::Result<Run> {
    let mut settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    settings.database.url =
        SecretString::from("postgres://postgres@127.0.0.1:5432/marquee_bench".to_owned());
    settings.redis.key_prefix = format!("bench:{}:{concurrency}", std::process::id());
    let pool = fresh_database(&settings).await?;
    let redis = marquee_core::redis::connect(&settings.redis)?;
    let producer = Producer::new(pool.clone(), redis, settings.redis.key_prefix.clone())
        .with_task_metadata(settings.redis.task_metadata);

    let ((), enqueue) = phase(jobs_total, enqueue_all(&pool, &producer, jobs_total)).await?;
    let (worker, drain) = phase(jobs_total, async {
        let worker = WorkerProcess(spawn_worker(&settings, "system", concurrency));
        wait_all_done(&pool, jobs_total, Duration::from_secs(300)).await?;
        Ok(worker)
    })
    .await?;
    let ((), end_to_end) = phase(jobs_total, async {
        enqueue_all(&pool, &producer, jobs_total).await?;
        wait_all_done(&pool, jobs_total * 2, Duration::from_secs(300)).await?;
        Ok(())
    })
    .await?;
    if let Some(mib) = marquee_core::testing::peak_rss_mib(worker.0.id()) {
        println!(
            "worker peak RSS (VmHWM) at concurrency {concurrency}, {jobs_total}-job backlog then end to end: {mib:.0} MiB"
        );
    }
    drop(worker);
    pool.close().await;
    delete_prefix(
        settings.redis.url.expose_secret(),
        &settings.redis.key_prefix,
    )
    .await?;
    Ok(Run {
        enqueue,
        drain,
        end_to_end,
    })
}

async fn enqueue_all(pool: &PgPool, producer: &Producer, total: usize) -> anyhow::Result<()> {
    let batch = vec![Noop::default(); CHUNK];
    for start in (0..total).step_by(CHUNK) {
        let n = CHUNK.min(total - start);
        let mut tx = pool.begin().await?;
        let written = jobs::enqueue_many(&mut tx, &batch[..n]).await?;
        tx.commit().await?;
        producer.dispatch(&written).await;
    }
    Ok(())
}
