//! The outbox relay loop.

use std::time::Duration;

use marquee_core::config::JobSettings;
use marquee_core::jobs::{Producer, relay_once};
use sqlx::PgPool;
use tokio::sync::watch;

/// Rows pushed per pass at most; a backlog drains over consecutive passes.
const RELAY_BATCH: i64 = 1_000;

/// Relays undispatched outbox rows every `relay_interval_ms` until stopped.
/// Errors (PostgreSQL or Redis down) are logged and retried next pass.
pub async fn run(
    pool: PgPool,
    producer: Producer,
    jobs: JobSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let grace = Duration::from_millis(jobs.relay_grace_ms);
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
    }
}
