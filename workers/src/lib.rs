//! `marquee-worker`: consumes job queues from Redis and runs their handlers.
//! Scale by running more processes; each registers under a unique name.

mod batch;
pub mod email;
pub mod handlers;
mod registry;
mod runner;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::ConnectionManager;
use apalis_redis::RedisStorage;
use marquee_core::jobs::{JobRef, Producer, redis_queue};
use marquee_core::{Settings, db, redis::queue_namespace};

pub use registry::{JobContext, Registry};
pub use runner::Runner;

/// A worker process's identity: host, pid and a random suffix, because
/// apalis-redis refuses a name that heartbeated recently (a restarted
/// process must not collide with its former self).
pub fn unique_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned());
    let suffix: u16 = rand::random();
    format!("{host}-{}-{suffix:04x}", std::process::id())
}

/// Consumes `settings.worker.queues` until `shutdown` resolves, then lets
/// in-flight jobs finish (up to `worker.shutdown_timeout_seconds`).
pub async fn run(
    settings: Settings,
    registry: Registry,
    name: String,
    shutdown: impl Future<Output = std::io::Result<()>> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database).await?;
    let redis = marquee_core::redis::connect(&settings.redis)?;
    let producer = Producer::new(
        pool.clone(),
        redis.clone(),
        settings.redis.key_prefix.clone(),
    );
    let runner = Runner::new(pool, producer, registry, &settings, &name)?;
    let worker = settings.worker.clone();
    let metrics = marquee_core::metrics::install();
    if worker.metrics_port != 0 {
        let address = format!("{}:{}", worker.metrics_host, worker.metrics_port);
        let endpoint = metrics_endpoint(
            metrics,
            redis.clone(),
            settings.redis.key_prefix.clone(),
            worker.queues.clone(),
        );
        let listener = poem::listener::TcpListener::bind(address.clone());
        tokio::spawn(async move {
            if let Err(error) = poem::Server::new(listener).run(endpoint).await {
                tracing::error!(%error, %address, "metrics listener failed");
            }
        });
    }
    tracing::info!(worker.name = %name, queues = ?worker.queues, concurrency = worker.concurrency, "worker starting");

    let mut monitor = Monitor::new()
        .shutdown_timeout(Duration::from_secs(worker.shutdown_timeout_seconds))
        // A worker whose backend failed (Redis gone) is rebuilt, under a new
        // name, and picks up where it left off once Redis answers again.
        .should_restart(|ctx, error| {
            tracing::warn!(worker.name = %ctx.name(), %error, "worker stopped; restarting");
            true
        });
    for queue in worker.queues.clone() {
        let config = apalis_redis::Config::default()
            .queue(queue_namespace(&settings.redis.key_prefix, &queue))
            .heartbeat_interval(worker.heartbeat())
            .missed_heartbeats(worker.missed_heartbeats)
            .batch_size(worker.fetch_batch)
            // Leases cost an LREM over the whole active list per task
            // (quadratic in the backlog) and buy nothing here: orphans are
            // found through inflight sets and heartbeats, and the ledger
            // refuses to rerun finished jobs.
            .lock_tasks(false)
            .emit_events(false);
        let (redis, runner, name, worker) =
            (redis.clone(), runner.clone(), name.clone(), worker.clone());
        tokio::spawn(promote_due_forever(
            redis.clone(),
            config.clone(),
            worker.poll_interval_ms,
        ));
        monitor = monitor.register(move |restarts| {
            let backend = RedisStorage::<JobRef>::new(redis.clone())
                .with_config(config.clone())
                .poll_with_interval(Duration::from_millis(worker.poll_interval_ms))
                .before_start(move |_| restart_backoff(restarts));
            WorkerBuilder::new(format!("{name}:{queue}:{restarts}"))
                .backend(backend)
                .concurrency(worker.concurrency)
                .parallelize(tokio::spawn)
                .data(runner.clone())
                .build(deliver)
        });
    }
    monitor.run_with_signal(shutdown).await?;
    tracing::info!(worker.name = %name, "worker stopped");
    Ok(())
}

/// Waits before a restarted worker starts again (0.1 s, doubling, at most
/// 5 s), so a Redis outage does not turn into a hot restart loop.
fn restart_backoff<E>(restarts: usize) -> impl Future<Output = Result<(), E>> + Send + 'static {
    let delay = Duration::from_millis(100u64.saturating_mul(1 << restarts.min(6)))
        .min(Duration::from_secs(5));
    async move {
        if restarts > 0 {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }
}

/// Keeps due retries flowing from the scheduled set to the active list in
/// safe chunks (see `redis_queue`); runs for the life of the process.
async fn promote_due_forever(
    mut redis: ConnectionManager,
    config: apalis_redis::Config,
    every_ms: u64,
) {
    let mut every = tokio::time::interval(Duration::from_millis(every_ms.max(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(error) = redis_queue::promote_due(&mut redis, &config).await {
            tracing::debug!(%error, "promoting due tasks failed; retrying");
        }
    }
}

/// `GET /metrics`: this worker's counters and its queues' depths.
fn metrics_endpoint(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    redis: ConnectionManager,
    key_prefix: String,
    queues: Vec<String>,
) -> impl poem::Endpoint {
    poem::Route::new().at(
        "/metrics",
        poem::get(poem::endpoint::make(move |_| {
            let (handle, redis, key_prefix, queues) = (
                handle.clone(),
                redis.clone(),
                key_prefix.clone(),
                queues.clone(),
            );
            async move {
                marquee_core::metrics::sample_queue_depths(&redis, &key_prefix, &queues).await;
                poem::Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body(handle.render())
            }
        })),
    )
}

/// The apalis task function: every queue's jobs go through the runner.
async fn deliver(job: JobRef, runner: Data<Arc<Runner>>) -> Result<(), BoxDynError> {
    runner.run(job).await.map_err(Into::into)
}
