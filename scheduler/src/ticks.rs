//! Cron tick handlers: each turns a tick into one job.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;
use marquee_core::jobs::{self, Job, JobOptions, Noop, Producer, PruneQueues};
use sqlx::PgPool;

/// What tick handlers need.
#[derive(Clone)]
pub struct TickDeps {
    /// The outbox lives here.
    pub pool: PgPool,
    /// Pushes after commit.
    pub producer: Producer,
}

/// How long a tick keeps trying while PostgreSQL is out of reach: a short
/// outage delays a tick instead of losing it.
const TICK_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Enqueues `job` for the tick at `tick_timestamp` unless some replica
/// already did: the dedupe key `cron:<schedule>:<timestamp>` is unique in
/// the ledger. Returns whether this call enqueued it. While PostgreSQL is
/// unavailable it tries again, for up to [`TICK_RETRY_FOR`].
pub async fn enqueue_for_tick<J: Job>(
    pool: &PgPool,
    producer: &Producer,
    schedule: &str,
    tick_timestamp: u64,
    job: &J,
) -> anyhow::Result<bool> {
    let options = JobOptions {
        dedupe_key: Some(format!("cron:{schedule}:{tick_timestamp}")),
        ..JobOptions::default()
    };
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(250);
    let written = loop {
        let attempt = async {
            let mut tx = pool.begin().await?;
            let written = jobs::enqueue_with(&mut tx, job, options.clone()).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(written)
        }
        .await;
        match attempt {
            Err(error)
                if marquee_core::db::is_unavailable(&error)
                    && started.elapsed() + pause < TICK_RETRY_FOR =>
            {
                tracing::warn!(schedule, %error, "tick waits for PostgreSQL");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            other => break other.inspect_err(|_| tick_counted(schedule, "error"))?,
        }
    };
    tick_counted(
        schedule,
        if written.is_some() {
            "enqueued"
        } else {
            "duplicate"
        },
    );
    match written {
        Some(job) => {
            producer.dispatch(std::slice::from_ref(&job)).await;
            tracing::debug!(schedule, tick = tick_timestamp, job.id = %job.id, "tick enqueued");
            Ok(true)
        }
        None => {
            tracing::debug!(
                schedule,
                tick = tick_timestamp,
                "tick already enqueued by another replica"
            );
            Ok(false)
        }
    }
}

/// Counts a tick in `marquee_scheduler_ticks_total{schedule, outcome}`:
/// `enqueued` by this replica, `duplicate` (another replica had), `error`.
pub(crate) fn tick_counted(schedule: &str, outcome: &'static str) {
    metrics::counter!("marquee_scheduler_ticks_total", "schedule" => schedule.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// `scheduler.heartbeat_cron`: a noop job through the whole pipeline, so
/// a stalled worker or relay shows up as heartbeat jobs not succeeding.
pub async fn heartbeat(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    enqueue_for_tick(
        &deps.pool,
        &deps.producer,
        "heartbeat",
        tick.get_timestamp(),
        &Noop::default(),
    )
    .await?;
    Ok(())
}

/// `scheduler.subscriptions_cron`: enqueues the digest of every newsletter
/// period that has started and has none yet (dedupe key per period).
pub async fn subscriptions(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    let at = chrono::DateTime::from_timestamp(tick.get_timestamp() as i64, 0)
        .ok_or("tick time out of range")?;
    let enqueued = marquee_core::subscriptions::enqueue_digests(&deps.pool, &deps.producer, at)
        .await
        .inspect_err(|_| tick_counted("subscriptions", "error"))?;
    tick_counted(
        "subscriptions",
        if enqueued > 0 {
            "enqueued"
        } else {
            "duplicate"
        },
    );
    if enqueued > 0 {
        tracing::info!(enqueued, %at, "newsletter digests enqueued");
    }
    Ok(())
}

/// `scheduler.hold_sweep_cron`: releases expired holds (a job, so a
/// worker does it; the dedupe key makes it once per tick).
pub async fn hold_sweep(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    enqueue_for_tick(
        &deps.pool,
        &deps.producer,
        "hold_sweep",
        tick.get_timestamp(),
        &marquee_core::booking::holds::ExpireHolds {},
    )
    .await?;
    Ok(())
}

/// `scheduler.prune_cron`: deletes finished jobs' data from Redis.
pub async fn prune_queues(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    enqueue_for_tick(
        &deps.pool,
        &deps.producer,
        "prune",
        tick.get_timestamp(),
        &PruneQueues {},
    )
    .await?;
    Ok(())
}

/// `scheduler.refund_sweep_cron`: re-drives refunds and event cancellations
/// whose jobs died (a job, so a worker does it; once per tick).
pub async fn refund_sweep(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    enqueue_for_tick(
        &deps.pool,
        &deps.producer,
        "refund_sweep",
        tick.get_timestamp(),
        &marquee_core::booking::redrive::RedriveRefunds {},
    )
    .await?;
    Ok(())
}

/// `scheduler.stats_fold_cron`: folds closed analytics slots (a job, so a
/// worker does it; once per tick).
pub async fn stats_fold(tick: Tick, deps: Data<TickDeps>) -> Result<(), BoxDynError> {
    enqueue_for_tick(
        &deps.pool,
        &deps.producer,
        "stats_fold",
        tick.get_timestamp(),
        &marquee_core::insights::FoldEventStats {},
    )
    .await?;
    Ok(())
}
