//! `marquee-scheduler`: recurring work. Schedules only *produce* jobs into
//! the outbox; workers do the work. Every replica runs every schedule, and
//! a per-tick dedupe key in PostgreSQL makes each tick enqueue exactly once.
//! It also hosts the outbox relay.

mod relay;
mod ticks;

use std::future::Future;
use std::str::FromStr;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use marquee_core::jobs::Producer;
use marquee_core::{Settings, db};
use tokio::sync::watch;

pub use ticks::enqueue_for_tick;

/// Runs the schedules and the relay until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    name: String,
    shutdown: impl Future<Output = std::io::Result<()>> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database).await?;
    let redis = marquee_core::redis::connect(&settings.redis)?;
    marquee_core::redis::check_mode(&redis).await?;
    let producer = Producer::new(pool.clone(), redis, settings.redis.key_prefix.clone())
        .with_task_metadata(settings.redis.task_metadata);
    let metrics = marquee_core::metrics::install();
    if settings.scheduler.metrics_port != 0 {
        let address = format!(
            "{}:{}",
            settings.scheduler.metrics_host, settings.scheduler.metrics_port
        );
        let listener = poem::listener::TcpListener::bind(address.clone());
        let endpoint = poem::Route::new().at(
            "/metrics",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body(metrics.render())
            })),
        );
        tokio::spawn(async move {
            if let Err(error) = poem::Server::new(listener).run(endpoint).await {
                tracing::error!(%error, %address, "metrics listener failed");
            }
        });
    }
    let (stop, stopped) = watch::channel(false);
    let relay = tokio::spawn(relay::run(
        pool.clone(),
        producer.clone(),
        settings.clone(),
        stopped,
    ));

    let heartbeat = cron::Schedule::from_str(&settings.scheduler.heartbeat_cron)?;
    let prune = cron::Schedule::from_str(&settings.scheduler.prune_cron)?;
    let newsletters = cron::Schedule::from_str(&settings.scheduler.subscriptions_cron)?;
    let sweep = cron::Schedule::from_str(&settings.scheduler.hold_sweep_cron)?;
    let refund_sweep = cron::Schedule::from_str(&settings.scheduler.refund_sweep_cron)?;
    let stats_fold = cron::Schedule::from_str(&settings.scheduler.stats_fold_cron)?;
    let deps = ticks::TickDeps { pool, producer };
    tracing::info!(scheduler.name = %name, "scheduler starting");
    let (heartbeat_deps, heartbeat_name) = (deps.clone(), name.clone());
    let (newsletter_deps, newsletter_name) = (deps.clone(), name.clone());
    let (sweep_deps, sweep_name) = (deps.clone(), name.clone());
    let (refund_deps, refund_name) = (deps.clone(), name.clone());
    let (fold_deps, fold_name) = (deps.clone(), name.clone());
    let monitor = Monitor::new()
        .register(move |restarts| {
            WorkerBuilder::new(format!("{heartbeat_name}:heartbeat:{restarts}"))
                .backend(CronScheduler::new(heartbeat.clone()))
                .data(heartbeat_deps.clone())
                .build(ticks::heartbeat)
        })
        .register(move |restarts| {
            WorkerBuilder::new(format!("{newsletter_name}:subscriptions:{restarts}"))
                .backend(CronScheduler::new(newsletters.clone()))
                .data(newsletter_deps.clone())
                .build(ticks::subscriptions)
        })
        .register(move |restarts| {
            WorkerBuilder::new(format!("{sweep_name}:hold_sweep:{restarts}"))
                .backend(CronScheduler::new(sweep.clone()))
                .data(sweep_deps.clone())
                .build(ticks::hold_sweep)
        })
        .register(move |restarts| {
            WorkerBuilder::new(format!("{refund_name}:refund_sweep:{restarts}"))
                .backend(CronScheduler::new(refund_sweep.clone()))
                .data(refund_deps.clone())
                .build(ticks::refund_sweep)
        })
        .register(move |restarts| {
            WorkerBuilder::new(format!("{fold_name}:stats_fold:{restarts}"))
                .backend(CronScheduler::new(stats_fold.clone()))
                .data(fold_deps.clone())
                .build(ticks::stats_fold)
        })
        .register(move |restarts| {
            WorkerBuilder::new(format!("{name}:prune:{restarts}"))
                .backend(CronScheduler::new(prune.clone()))
                .data(deps.clone())
                .build(ticks::prune_queues)
        });
    let result = monitor
        .run_with_signal(async move {
            let result = shutdown.await;
            let _ = stop.send(true);
            result
        })
        .await;
    relay.await?;
    result?;
    tracing::info!("scheduler stopped");
    Ok(())
}
