//! The outbox relay loop.

use std::time::Duration;

use marquee_core::Settings;
use marquee_core::jobs::{Producer, relay_once, repush_stale};
use sqlx::PgPool;
use tokio::sync::watch;

/// Rows pushed per pass at most; a backlog drains over consecutive passes.
const RELAY_BATCH: i64 = 1_000;

/// `marquee_relay_jobs_total{kind}`: jobs pushed, `undispatched` (the
/// producer had not) or `stale` (Redis may have lost them).
fn relayed(kind: &'static str, jobs: usize) {
    metrics::counter!("marquee_relay_jobs_total", "kind" => kind).increment(jobs as u64);
}

/// `marquee_relay_errors_total{kind}`: passes that failed.
fn failed(kind: &'static str) {
    metrics::counter!("marquee_relay_errors_total", "kind" => kind).increment(1);
}

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
    // A running row's worker is gone once it has been running for longer
    // than its claim may wait for a permit plus the job timeout.
    let running_after = stale_after
        + marquee_core::jobs::LONGEST_PERMIT_WAIT
        + Duration::from_secs(settings.worker.job_timeout_seconds);
    let mut every = tokio::time::interval(Duration::from_millis(jobs.relay_interval_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        loop {
            match relay_once(&pool, &producer, grace, RELAY_BATCH).await {
                Ok(n) => {
                    relayed("undispatched", n);
                    if (n as i64) < RELAY_BATCH {
                        break;
                    }
                }
                Err(error) => {
                    failed("undispatched");
                    tracing::warn!(error = format!("{error:#}"), "relay pass failed");
                    break;
                }
            }
        }
        match repush_stale(&pool, &producer, stale_after, running_after, RELAY_BATCH).await {
            Ok(n) => relayed("stale", n),
            Err(error) => {
                failed("stale");
                tracing::warn!(error = format!("{error:#}"), "re-push pass failed");
            }
        }
    }
}
