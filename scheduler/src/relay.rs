//! The outbox relay loop.

use std::time::Duration;

use marquee_core::Settings;
use marquee_core::jobs::{Producer, relay_once, repush_stale};
use sqlx::PgPool;
use tokio::sync::watch;

/// Rows pushed per pass at most; a backlog drains over consecutive passes.
const RELAY_BATCH: i64 = 1_000;

/// Relays undispatched outbox rows, and re-pushes jobs Redis may have lost,
/// every `relay_interval_ms` until stopped. Errors (PostgreSQL or Redis
/// down) are logged and retried next pass.
pub async fn run(
    pool: PgPool,
    producer: Producer,
    settings: Settings,
    mut stopped: watch::Receiver<bool>,
) {
    let jobs = &settings.jobs;
    let grace = Duration::from_millis(jobs.relay_grace_ms);
    let stale_after = Duration::from_secs(jobs.redispatch_after_seconds);
    let running_after = stale_after + Duration::from_secs(settings.worker.job_timeout_seconds);
    let mut every = tokio::time::interval(Duration::from_millis(jobs.relay_interval_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        loop {
            match relay_once(&pool, &producer, grace, RELAY_BATCH).await {
                Ok(n) if n as i64 == RELAY_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "relay pass failed");
                    break;
                }
            }
        }
        if let Err(error) =
            repush_stale(&pool, &producer, stale_after, running_after, RELAY_BATCH).await
        {
            tracing::warn!(error = format!("{error:#}"), "re-push pass failed");
        }
    }
}
