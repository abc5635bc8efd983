//! `marquee-worker`: consumes job queues from Redis and runs their handlers.
//! Scale by running more processes; each registers under a unique name.

mod batch;
pub mod email;
pub mod handlers;
mod ledger_writes;
mod permits;
mod poll;
mod presence;
mod registry;
mod runner;
mod supervisor;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use marquee_core::jobs::{Producer, redis_queue};
use marquee_core::ops::WorkerInfo;
use marquee_core::redis::RedisConn;
use marquee_core::{Settings, db, redis::queue_namespace};
use tokio::sync::watch;

pub use permits::Permits;
pub use registry::{JobContext, Registry};
pub use runner::Runner;

use crate::presence::InFlight;
use crate::supervisor::QueueConsumer;

/// This machine's host name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned())
}

/// A worker process's identity: host, pid and a random suffix, because
/// apalis-redis refuses a name that heartbeated recently (a restarted
/// process must not collide with its former self).
pub fn unique_worker_name() -> String {
    let suffix: u16 = rand::random();
    format!("{}-{}-{suffix:04x}", host_name(), std::process::id())
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
    marquee_core::redis::check_mode(&redis).await?;
    let producer = Producer::new(
        pool.clone(),
        redis.clone(),
        settings.redis.key_prefix.clone(),
    )
    .with_task_metadata(settings.redis.task_metadata);
    let in_flight = Arc::new(InFlight::default());
    let runner = Runner::new(
        pool.clone(),
        producer,
        registry,
        &settings,
        &name,
        in_flight.clone(),
    )?;
    let worker = settings.worker.clone();
    let metrics = marquee_core::metrics::install();
    if worker.metrics_port != 0 {
        let address = format!("{}:{}", worker.metrics_host, worker.metrics_port);
        let listener = poem::listener::TcpListener::bind(address.clone());
        let endpoint = metrics_endpoint(
            metrics,
            pool.clone(),
            redis.clone(),
            settings.redis.key_prefix.clone(),
            worker.queues.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = poem::Server::new(listener).run(endpoint).await {
                tracing::error!(%error, %address, "metrics listener failed");
            }
        });
    }
    let info = WorkerInfo {
        name: name.clone(),
        host: host_name(),
        pid: std::process::id() as i32,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        queues: worker.queues.clone(),
        concurrency: worker.concurrency as i32,
    };
    let heartbeat = tokio::spawn(presence::heartbeat_forever(
        pool.clone(),
        info,
        in_flight,
        worker.heartbeat(),
        worker.heartbeat() * worker.missed_heartbeats as u32,
    ));
    let pauses =
        presence::watch_pauses(pool.clone(), Duration::from_millis(worker.pause_poll_ms)).await;
    tracing::info!(worker.name = %name, queues = ?worker.queues, concurrency = worker.concurrency, "worker starting");

    let (stop, stopping) = watch::channel(false);
    let mut consumers = tokio::task::JoinSet::new();
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
        // Which Redis list holds the queue's ready tasks: what an
        // autoscaler watches (deploy/k8s, KEDA), read off a live worker.
        metrics::gauge!(
            "marquee_worker_queue_info",
            "queue" => queue.clone(),
            "ready_list" => config.active_jobs_list(),
        )
        .set(1.0);
        tokio::spawn(promote_due_forever(
            redis.clone(),
            config.clone(),
            worker.poll_interval_ms,
        ));
        let consumer = QueueConsumer {
            queue,
            process: name.clone(),
            redis: redis.clone(),
            config,
            concurrency: worker.concurrency,
            pipeline: worker.pipeline,
            handlers: Arc::new(permits::Permits::new(worker.concurrency)),
            poll_interval: Duration::from_millis(worker.poll_interval_ms),
            runner: runner.clone(),
        };
        consumers.spawn(consumer.run(pauses.clone(), stopping.clone()));
    }
    shutdown.await?;
    tracing::info!(worker.name = %name, "stopping: letting jobs in flight finish");
    let _ = stop.send(true);
    let grace = Duration::from_secs(worker.shutdown_timeout_seconds);
    let drained = async { while consumers.join_next().await.is_some() {} };
    tokio::select! {
        () = drained => {}
        () = handed_back(&runner) => {
            // apalis-redis can wait out the whole grace for acknowledgements
            // of a stopped worker: tasks it did not acknowledge come back
            // to another worker, whose claim skips the finished jobs.
            consumers.abort_all();
            tracing::info!(worker.name = %name, "every job finished or went back; not waiting for apalis's acknowledgements");
        }
        () = tokio::time::sleep(grace) => {
            tracing::warn!(worker.name = %name, "jobs still running after the shutdown timeout; they will be re-run elsewhere");
        }
    }
    heartbeat.abort();
    if let Err(error) = marquee_core::ops::workers::stopped(&pool, &name).await {
        tracing::warn!(%error, "could not mark the worker stopped; it will show as gone when its heartbeat lapses");
    }
    tracing::info!(worker.name = %name, "worker stopped");
    Ok(())
}

/// Resolves once the runner has held no delivery for half a second: every
/// job this process was handed has finished, or given its claim back, and
/// recorded it in the ledger.
async fn handed_back(runner: &Runner) {
    let mut idle = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        idle = if runner.held() == 0 { idle + 1 } else { 0 };
        if idle >= 5 {
            return;
        }
    }
}

/// Keeps due retries flowing from the scheduled set to the active list in
/// safe chunks (see `redis_queue`); runs for the life of the process.
async fn promote_due_forever(mut redis: RedisConn, config: apalis_redis::Config, every_ms: u64) {
    let mut every = tokio::time::interval(Duration::from_millis(every_ms.max(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(error) = redis_queue::promote_due(&mut redis, &config).await {
            tracing::debug!(%error, "promoting due tasks failed; retrying");
        }
    }
}

/// `GET /metrics`: this worker's counters, and its queues' depths and
/// latencies, each sampled within `metrics::SAMPLE_TIMEOUT` (a store that is
/// away leaves the previous values, it never hangs the scrape).
fn metrics_endpoint(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    pool: sqlx::PgPool,
    redis: RedisConn,
    key_prefix: String,
    queues: Vec<String>,
) -> impl poem::Endpoint {
    poem::Route::new().at(
        "/metrics",
        poem::get(poem::endpoint::make(move |_| {
            let (handle, pool, redis, key_prefix, queues) = (
                handle.clone(),
                pool.clone(),
                redis.clone(),
                key_prefix.clone(),
                queues.clone(),
            );
            async move {
                tokio::join!(
                    marquee_core::metrics::sample_queue_depths(&redis, &key_prefix, &queues),
                    marquee_core::metrics::sample_queue_latencies(&pool, &queues),
                );
                poem::Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body(handle.render())
            }
        })),
    )
}
