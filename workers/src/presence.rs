//! A worker process in the registry and in step with operators: it
//! registers, heartbeats (with its jobs in flight), and reads which queues
//! are paused. Both poll PostgreSQL, the source of truth, so a pause holds
//! across restarts and reaches workers started later; while PostgreSQL is
//! away the last known pauses stay in force.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use marquee_core::ops::{WorkerInfo, queues, workers};
use sqlx::PgPool;
use tokio::sync::watch;

/// Jobs running in this process, for the heartbeat.
#[derive(Debug, Default)]
pub struct InFlight(AtomicI64);

impl InFlight {
    /// A job started.
    pub fn started(&self, queue: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("marquee_worker_jobs_in_flight", "queue" => queue.to_owned())
            .increment(1.0);
    }

    /// A job ended.
    pub fn ended(&self, queue: &str) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("marquee_worker_jobs_in_flight", "queue" => queue.to_owned())
            .decrement(1.0);
    }

    /// Running now.
    pub fn now(&self) -> i32 {
        i32::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(i32::MAX)
    }
}

/// Registers, then heartbeats every `every` until the process ends; a
/// heartbeat says "live for `window`".
pub async fn heartbeat_forever(
    pool: PgPool,
    info: WorkerInfo,
    in_flight: Arc<InFlight>,
    every: Duration,
    window: Duration,
) {
    if let Err(error) = workers::register(&pool, &info, window).await {
        tracing::warn!(%error, "could not register the worker; the heartbeat will");
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(error) = workers::heartbeat(&pool, &info, in_flight.now(), window).await {
            tracing::warn!(%error, "worker heartbeat failed");
        }
    }
}

/// Publishes the set of paused queues, read every `every`. Returns after
/// the first read (or after `every` if PostgreSQL does not answer), so a
/// worker started while a queue is paused never takes a job from it.
pub async fn watch_pauses(pool: PgPool, every: Duration) -> watch::Receiver<BTreeSet<String>> {
    let first = tokio::time::timeout(
        every.max(Duration::from_secs(1)),
        queues::paused_names(&pool),
    )
    .await;
    let initial: BTreeSet<String> = match first {
        Ok(Ok(names)) => names.into_iter().collect(),
        _ => BTreeSet::new(),
    };
    if !initial.is_empty() {
        tracing::info!(paused = ?initial, "these queues are paused");
    }
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match queues::paused_names(&pool).await {
                Ok(names) => {
                    let names: BTreeSet<String> = names.into_iter().collect();
                    tx.send_if_modified(|current| {
                        let changed = *current != names;
                        if changed {
                            tracing::info!(paused = ?names, "paused queues changed");
                            *current = names;
                        }
                        changed
                    });
                }
                Err(error) => {
                    tracing::debug!(%error, "could not read paused queues; keeping the last known")
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}
